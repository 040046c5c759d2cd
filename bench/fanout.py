"""Tokens per second for one session through Redis and the websocket vs plain `run_stream`.

The scripted model yields `burst N` tokens with no delay, so the model is not the limit: the event
stream handler (AG-UI translation, one guarded XADD per event), Redis, the API's XREAD loop and
the websocket are.
"""

from __future__ import annotations

import time

import httpx
from pydantic_ai import Agent

from bench.chatter import create_session
from bench.stack import Stack
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import model as scripted_model


async def plain_tokens_per_second(tokens: int) -> float:
    agent = Agent(scripted_model)
    count, started = 0, time.monotonic()
    async with agent.run_stream(f'burst {tokens}') as result:
        async for _delta in result.stream_text(delta=True, debounce_by=None):
            count += 1
    return count / (time.monotonic() - started)


async def durable_tokens_per_second(stack: Stack, tokens: int, runs: int) -> list[float]:
    """Deltas received at a websocket client per second, first delta to last, for each run."""
    token = stack.token('bench-fanout')
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        session_id = await create_session(http, token)
    client = await ChatClient(stack.api_url, session_id, token).connect()
    rates: list[float] = []
    for turn in range(1, runs + 1):
        await client.send(f'm-{turn}', f'burst {tokens}')
        await client.wait_for(lambda t=turn: client.finished(t), timeout=120)
        times = [
            at
            for frame, at in zip(client.frames, client.received_at, strict=True)
            if frame.get('type') == 'TEXT_MESSAGE_CONTENT' and frame.get('turn') == turn
        ]
        assert len(times) == tokens, f'{len(times)} of {tokens} tokens arrived'
        rates.append((len(times) - 1) / (times[-1] - times[0]))
    await client.disconnect()
    return rates


async def run(stack: Stack, tokens: int = 5000, runs: int = 3) -> dict[str, dict[str, float]]:
    plain = [await plain_tokens_per_second(tokens) for _ in range(runs)]
    durable = await durable_tokens_per_second(stack, tokens, runs)
    return {
        'plain run_stream (in-process)': _rates(plain),
        'durable, Redis + websocket': _rates(durable),
    }


def _rates(rates: list[float]) -> dict[str, float]:
    ordered = sorted(rates)
    return {
        'n': len(rates),
        'median_tokens_per_s': round(ordered[len(ordered) // 2]),
        'min': round(ordered[0]),
    }
