"""Support for testing and benchmarking durable-chat against its real processes: starting them, a
websocket chat client, a scripted chat model and the labelled memory recall set.

Tests, the benchmarks and the chaos runs all start the product through this package.
"""
