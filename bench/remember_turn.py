"""A "remember that ..." turn, message sent -> RUN_FINISHED at a websocket client (issue 13 item 4).

The scripted model calls `remember` (the store activity on the memory queue embeds the fact and
writes it to Qdrant), then streams its reply, paced 5 ms a token: so turns run on the stack's chat
worker (the pacing inside them shown beside) and on a chat worker and API of their own (same
Temporal, Redis and memory worker) whose model is the same script unpaced (bench/unpaced.py).

Each message goes to an idle session (sent right after the reply, it would also wait for that
turn's upkeep), in two ways. "Once idle": at once, as on a busy server; the dev server reads new
tasks into its transfer queue a limited number of times a second (a bucket of 20 by default),
which back-to-back turns, like many sessions at once, keep empty. Also, a run that continues as
new within 1 s of its start has its first workflow task held until that second is over
(`history.workflowIdReuseMinimalInterval`): unpaced turns back to back reach that every few turns.
"1 s after idle": as a person typing on a quiet server, the bucket full again.
`python -m bench.timeline --whole-turn --prompt 'remember that my code {turn} is {turn}1'` splits
such a turn by the session's Temporal history events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from bench.chatter import create_session
from bench.stack import Stack
from bench.stats import summary
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import FAST_TOKEN_SECONDS
from durable_chat.testing.services import api, running, worker
from durable_chat.workflows.offline_model import tokens

USER = 'bench-remember'
PAUSE_SECONDS = 1.0


def fact(turn: int) -> str:
    return f'remember that my bike lock code {turn} is {turn * 13}'


async def idle(http: httpx.AsyncClient, session_id: str) -> None:
    """The previous turn's upkeep (archive, compaction, continue-as-new) is done."""
    while (await http.get(f'/sessions/{session_id}')).json()['status'] != 'idle':  # noqa: ASYNC110 - a query is the only way to see it
        await asyncio.sleep(0.01)


async def remember_turns(
    api_url: str, token: str, turns: int, pause: float = 0.0
) -> tuple[list[float], list[float]]:
    """(sent -> finished, the scripted reply's pacing) per turn, in seconds; each message sent
    `pause` seconds after the session went idle."""
    headers = {'Authorization': f'Bearer {token}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers) as http:
        session_id = await create_session(http, token)
        client = await ChatClient(api_url, session_id, token).connect()
        # Loads the session into the worker cache and gives the user a memory, so each turn recalls.
        await client.send('warm-up', fact(1))
        await client.wait_for(lambda: client.finished(1))
        samples: list[float] = []
        pacing: list[float] = []
        for turn in range(2, turns + 2):
            await idle(http, session_id)
            await asyncio.sleep(pause)
            sent = time.monotonic()
            await client.send(f'm-{turn}', fact(turn))
            finished = await client.wait_for(lambda t=turn: client.finished(t))
            assert client.of_type('TOOL_CALL_RESULT', turn), 'the turn called no tool'
            samples.append(client.received_at[client.frames.index(finished)] - sent)
            pacing.append(len(tokens(finished['result'])) * FAST_TOKEN_SECONDS)
    await client.disconnect()
    return samples, pacing


@contextmanager
def unpaced_api(stack: Stack) -> Iterator[str]:
    """An API and a chat worker on a chat task queue of their own, running bench/unpaced.py."""
    env = {
        **stack.env,
        'DURABLE_CHAT_MODEL': 'import:bench.unpaced:model',
        'DURABLE_CHAT_TASK_QUEUE': 'chat-unpaced',
    }
    chat, server = worker(env, 'chat', stack.folder), api(env, cwd=stack.folder)
    with running(chat, server):
        yield server.url


async def run(stack: Stack, turns: int) -> dict[str, dict[str, float]]:
    paced, pacing = await remember_turns(stack.api_url, stack.token(USER), turns)
    paused, _ = await remember_turns(stack.api_url, stack.token(f'{USER}-paused'), turns, PAUSE_SECONDS)
    with unpaced_api(stack) as api_url:
        unpaced, _ = await remember_turns(api_url, stack.token(f'{USER}-unpaced'), turns)
        unpaced_paused, _ = await remember_turns(
            api_url, stack.token(f'{USER}-unpaced-paused'), turns, PAUSE_SECONDS
        )
    return {
        'durable, scripted model, sent once idle': summary(paced),
        "of which the scripted reply's pacing": summary(pacing),
        'durable, scripted model, sent 1 s after idle': summary(paused),
        'durable, scripted model unpaced, sent once idle': summary(unpaced),
        'durable, scripted model unpaced, sent 1 s after idle': summary(unpaced_paused),
    }
