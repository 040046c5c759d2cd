"""durable-chat: process entry points, settings and the embedded servers."""
