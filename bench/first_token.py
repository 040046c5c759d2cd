"""Message sent -> first token: the durable path at a websocket client vs plain `agent.run_stream`."""

from __future__ import annotations

import time
import uuid

import httpx
from pydantic_ai import Agent

from bench.chatter import create_session
from bench.stats import summary
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import model as scripted_model

PROMPT = 'how fast is the first token'


async def plain_first_token(turns: int) -> list[float]:
    """The baseline: the same scripted model, no durability, in-process, no debounce."""
    agent = Agent(scripted_model)
    samples: list[float] = []
    for _ in range(turns):
        started = time.monotonic()
        async with agent.run_stream(PROMPT) as result:
            async for _delta in result.stream_text(delta=True, debounce_by=None):
                samples.append(time.monotonic() - started)
                break
    return samples


async def durable_first_token_existing(
    api_url: str, token: str, turns: int, remember: str | None = None
) -> list[float]:
    """`remember`: a fact the user tells first, so every timed turn recalls memories before the model runs."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        session_id = await create_session(http, token)
    client = await ChatClient(api_url, session_id, token).connect()
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))
    # The first turn loads the workflow into the worker cache.
    await client.send('warm-up', f'remember that {remember}' if remember else PROMPT)
    await client.wait_for(lambda: client.finished(1))
    samples: list[float] = []
    for turn in range(2, turns + 2):
        seen = len(client.frames)
        started = time.monotonic()
        await client.send(f'm-{turn}', PROMPT)
        index = await client.wait_for(lambda t=turn, s=seen: client.first_delta_index(t, s))
        samples.append(client.received_at[index] - started)
        await client.wait_for(lambda t=turn: client.finished(t))
    await client.disconnect()
    return samples


async def durable_first_token_new(api_url: str, token: str, sessions: int) -> list[float]:
    """Signal-with-start of a new session with its first message, then the first token."""
    samples: list[float] = []
    async with httpx.AsyncClient(
        base_url=api_url, timeout=30, headers={'Authorization': f'Bearer {token}'}
    ) as http:
        for _ in range(sessions):
            session_id = uuid.uuid4().hex
            started = time.monotonic()
            await http.post(
                '/sessions', json={'session_id': session_id, 'message': {'id': 'm', 'text': PROMPT}}
            )
            client = await ChatClient(api_url, session_id, token).connect()
            index = await client.wait_for(lambda c=client: c.first_delta_index(1))
            samples.append(client.received_at[index] - started)
            await client.wait_for(lambda c=client: c.finished(1))
            await client.disconnect()
    return samples


async def run(
    api_url: str, token: str, recalling_token: str, turns: int, floor: int = 20
) -> dict[str, dict[str, float]]:
    """`recalling_token`: a user of its own, who will have a memory to recall before each turn;
    the scenarios after the first take a quarter of `turns`, at least `floor`."""
    plain = summary(await plain_first_token(turns))
    existing = summary(await durable_first_token_existing(api_url, token, turns))
    recalling = await durable_first_token_existing(
        api_url, recalling_token, max(turns // 4, floor), remember='my favourite colour is green'
    )
    new = summary(await durable_first_token_new(api_url, token, max(turns // 4, floor)))
    return {
        'plain run_stream': plain,
        'durable, existing session': existing,
        'durable, existing session, user with memories (recall first)': summary(recalling),
        'durable, new session (signal-with-start)': new,
    }
