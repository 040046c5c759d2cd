"""Long-term memory: the embedder, the Qdrant store and its Temporal activities.

Kept free of imports: the workflow imports `memory.types` through the sandbox, and that must not
pull onnxruntime or qdrant-client in with it.
"""
