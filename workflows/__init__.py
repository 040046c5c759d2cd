"""The ChatSession workflow, the agent and its activities, and the worker that runs them."""
