"""A turn with one tool call (`remember`), message sent -> turn finished: durable vs plain `agent.run`.

Both paths run the same scripted model and the same tool work (embed the fact, write it to Qdrant
local mode); the durable one adds the workflow tasks, the model and memory activities, and the
local activity that puts the tool's result on the stream.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterable
from pathlib import Path

import httpx
from pydantic_ai import Agent, RunContext
from pydantic_ai.messages import AgentStreamEvent

from bench.chatter import create_session
from bench.stack import Stack
from bench.stats import summary
from durable_chat.memory.activities import open_store
from durable_chat.settings import Settings
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import model as scripted_model


def _fact(turn: int) -> str:
    return f'remember that my locker number {turn} is {turn * 7}'


async def _drain(_ctx: RunContext[str], events: AsyncIterable[AgentStreamEvent]) -> None:
    """Makes `agent.run` stream its model requests, as the durable path does."""
    async for _ in events:
        pass


async def plain_tool_turns(turns: int) -> list[float]:
    store = await open_store(Settings(data_dir=Path(tempfile.mkdtemp(prefix='bench-tool-'))))
    agent = Agent(scripted_model, deps_type=str)

    @agent.tool
    async def remember(ctx: RunContext[str], fact: str) -> str:
        result = await store.remember(ctx.deps, fact)
        return f'{result.action}: {result.memory.text}'

    samples: list[float] = []
    try:
        for turn in range(1, turns + 1):
            started = time.monotonic()
            await agent.run(_fact(turn), deps='bench-plain', event_stream_handler=_drain)
            samples.append(time.monotonic() - started)
    finally:
        await store.close()
    return samples


async def durable_tool_turns(stack: Stack, turns: int) -> list[float]:
    token = stack.token('bench-tools')
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        session_id = await create_session(http, token)
    client = await ChatClient(stack.api_url, session_id, token).connect()
    await client.send('warm-up', 'hello')
    await client.wait_for(lambda: client.finished(1))
    samples: list[float] = []
    for turn in range(2, turns + 2):
        started = time.monotonic()
        await client.send(f'm-{turn}', _fact(turn))
        await client.wait_for(lambda t=turn: client.finished(t))
        index = client.frames.index(client.finished(turn))
        assert client.of_type('TOOL_CALL_RESULT', turn), 'the turn called no tool'
        samples.append(client.received_at[index] - started)
    await client.disconnect()
    return samples


async def run(stack: Stack, turns: int) -> dict[str, dict[str, float]]:
    return {
        'plain agent.run, same tool work': summary(await plain_tool_turns(turns)),
        'durable, existing session': summary(await durable_tool_turns(stack, turns)),
    }
