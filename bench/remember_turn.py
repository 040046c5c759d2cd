"""A "remember that ..." turn, message sent -> RUN_FINISHED at a websocket client (issue 13 item 4).

The scripted model calls `remember` (the store activity on the memory queue embeds the fact and
writes it to Qdrant), then streams its reply. That reply is paced (5 ms before each token), so the
second row is the pacing inside each turn: what the turn takes apart from it is the difference.
`python -m bench.timeline --whole-turn --prompt 'remember that my code {turn} is {turn}1'` splits
it by the session's Temporal history events.
"""

from __future__ import annotations

import time

import httpx

from bench.chatter import create_session
from bench.stack import Stack
from bench.stats import summary
from tests.chat_client import ChatClient
from tests.scripted import FAST_TOKEN_SECONDS
from workflows.offline_model import tokens

USER = 'bench-remember'


def fact(turn: int) -> str:
    return f'remember that my bike lock code {turn} is {turn * 13}'


async def remember_turns(stack: Stack, turns: int) -> tuple[list[float], list[float]]:
    """(sent -> finished, the reply's pacing) per turn, in seconds."""
    token = stack.token(USER)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        session_id = await create_session(http, token)
    client = await ChatClient(stack.api_url, session_id, token).connect()
    # Loads the session into the worker cache and gives the user a memory, so each turn recalls.
    await client.send('warm-up', fact(1))
    await client.wait_for(lambda: client.finished(1))
    samples: list[float] = []
    pacing: list[float] = []
    for turn in range(2, turns + 2):
        sent = time.monotonic()
        await client.send(f'm-{turn}', fact(turn))
        finished = await client.wait_for(lambda t=turn: client.finished(t))
        assert client.of_type('TOOL_CALL_RESULT', turn), 'the turn called no tool'
        samples.append(client.received_at[client.frames.index(finished)] - sent)
        pacing.append(len(tokens(finished['result'])) * FAST_TOKEN_SECONDS)
    await client.disconnect()
    return samples, pacing


async def run(stack: Stack, turns: int) -> dict[str, dict[str, float]]:
    samples, pacing = await remember_turns(stack, turns)
    return {
        'durable, existing session (scripted model)': summary(samples),
        "of which the scripted reply's pacing": summary(pacing),
    }
