from durable_chat.cli import run

run()
