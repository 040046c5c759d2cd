"""A chat worker SIGKILLed mid-stream: time until the retried attempt's first token.

Three ways: a standby worker already polling (measured from the kill); a lone worker started again
after the kill; the whole one-process `durable-chat up` (worker, API, Temporal dev server, Valkey)
killed and started again. The last two are measured from the moment the restarted process serves
(polls Temporal; for `up`, `/readyz` answers 200), the kill being seconds earlier.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.stack import Stack
from bench.stats import summary
from durable_chat.api.auth import issue_token
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process, free_port
from durable_chat.testing.scripted import SLOW_TOKEN_SECONDS
from durable_chat.testing.stack import HIGH_LIMITS, SCRIPTED_MODEL

DOWN_SECONDS = 1.0
"""How long a killed process stays down before it is started again (a supervisor's restart delay)."""


async def _session(api_url: str, token: str) -> str:
    async with httpx.AsyncClient(
        base_url=api_url, timeout=30, headers={'Authorization': f'Bearer {token}'}
    ) as http:
        return (await http.post('/sessions', json={})).json()['session_id']


REPLY = 'slow 400'
SHORT_REPLY = 'slow 50'
"""Restarted processes: a reply that ends 2 s after it starts again, to time the rest of the turn."""
SHORT_REPLY_SECONDS = 50 * SLOW_TOKEN_SECONDS


async def _streaming(api_url: str, token: str, text: str = REPLY) -> ChatClient:
    """A client whose turn 1 is streaming a reply (three tokens in)."""
    client = await ChatClient(api_url, await _session(api_url, token), token).connect()
    await client.send('m-1', text)
    await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 3)
    return client


async def one_crash(stack: Stack) -> float:
    # Only the doomed worker runs while the turn starts, so it is the one holding the model activity.
    for standby in stack.workers.chat[:-1]:
        standby.stop()
    stack.workers.chat[:-1] = []
    doomed = stack.workers.chat[0]
    client = await _streaming(stack.api_url, stack.token())
    stack.workers.start()  # the standby, polling before the crash

    killed_at = time.monotonic()
    doomed.kill()
    stack.workers.chat.remove(doomed)
    index = await client.wait_for(lambda: _first_retried_delta(client), timeout=60)
    await client.disconnect()
    return client.received_at[index] - killed_at


async def lone_worker_restart(stack: Stack) -> tuple[float, float]:
    """The only chat worker killed, then started again: (retried token, turn finished less the
    reply's own streaming) after it polls."""
    for extra in stack.workers.chat[1:]:
        extra.stop()
    doomed = stack.workers.ensure_one()
    stack.workers.chat[1:] = []
    client = await _streaming(stack.api_url, stack.token(), SHORT_REPLY)
    doomed.kill()
    stack.workers.chat.remove(doomed)
    await asyncio.sleep(DOWN_SECONDS)
    stack.workers.start()
    serving = time.monotonic()
    index = await client.wait_for(lambda: _first_retried_delta(client), timeout=60)
    finished = await client.wait_for(lambda: client.finished(1), timeout=60)
    await client.disconnect()
    return (
        client.received_at[index] - serving,
        client.received_at[client.frames.index(finished)] - serving - SHORT_REPLY_SECONDS,
    )


def _up(data_dir: Path, ports: dict[str, int]) -> Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith('DURABLE_CHAT_')}
    env.update(
        HIGH_LIMITS,
        DURABLE_CHAT_DATA_DIR=str(data_dir),
        DURABLE_CHAT_MODEL=SCRIPTED_MODEL,
        DURABLE_CHAT_SECRET_KEY='bench-secret',
        DURABLE_CHAT_PORT=str(ports['web']),
        DURABLE_CHAT_TEMPORAL_PORT=str(ports['temporal']),
        DURABLE_CHAT_TEMPORAL_UI_PORT=str(ports['ui']),
        DURABLE_CHAT_REDIS_PORT=str(ports['redis']),
    )
    return Process([sys.executable, '-m', 'durable_chat', 'up'], env=env, cwd=data_dir)


async def _serving(http: httpx.AsyncClient, timeout: float = 120) -> float:
    """When `/readyz` first answers 200 (the worker polls), as monotonic time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (await http.get('/readyz')).status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f'durable-chat up not ready after {timeout:.0f} s')
        await asyncio.sleep(0.05)


async def up_restarts(restarts: int) -> list[tuple[float, float]]:
    """`durable-chat up` SIGKILLed (its whole process group) mid-reply and started again, `restarts`
    times on one data dir: the retried token after it serves again."""
    data_dir = Path(tempfile.mkdtemp(prefix='bench-up-restart-'))
    ports = {name: free_port() for name in ('web', 'temporal', 'ui', 'redis')}
    base_url = f'http://127.0.0.1:{ports["web"]}'
    token = issue_token('bench-secret', 'bench-up')
    process = _up(data_dir, ports)
    samples: list[tuple[float, float]] = []
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            process.start()
            await _serving(http)
            for _ in range(restarts):
                client = await _streaming(base_url, token, SHORT_REPLY)
                after = client.last_event_id
                await client.disconnect()
                os.killpg(process.pid, signal.SIGKILL)
                assert process.popen is not None
                process.popen.wait()
                await asyncio.sleep(DOWN_SECONDS)
                process.launch()
                serving = await _serving(http)
                resumed = await ChatClient(base_url, client.session_id, token).connect(after=after)
                index = await resumed.wait_for(lambda c=resumed: _first_retried_delta(c), timeout=60)
                finished = await resumed.wait_for(lambda c=resumed: c.finished(1), timeout=60)
                await resumed.disconnect()
                samples.append(
                    (
                        resumed.received_at[index] - serving,
                        resumed.received_at[resumed.frames.index(finished)] - serving - SHORT_REPLY_SECONDS,
                    )
                )
    finally:
        if process.popen is not None and process.popen.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            process.popen.wait(30)
    return samples


def _first_retried_delta(client: ChatClient) -> int | None:
    for index, frame in enumerate(client.frames):
        if frame.get('type') == 'TEXT_MESSAGE_CONTENT' and frame.get('attempt', 1) > 1:
            return index
    return None


async def run(stack: Stack, crashes: int) -> dict[str, dict[str, float]]:
    standby = [await one_crash(stack) for _ in range(crashes)]
    lone = [await lone_worker_restart(stack) for _ in range(crashes)]
    up = await up_restarts(crashes)
    rest = f'turn finished (less its {SHORT_REPLY_SECONDS:.0f} s of tokens)'
    return {
        'worker SIGKILL -> first retried token': summary(standby),
        'lone worker SIGKILL, restarted -> first retried token after it polls': summary([s[0] for s in lone]),
        f'lone worker SIGKILL, restarted -> {rest} after it polls': summary([s[1] for s in lone]),
        '`up` SIGKILL, restarted -> first retried token after /readyz': summary([s[0] for s in up]),
        f'`up` SIGKILL, restarted -> {rest} after /readyz': summary([s[1] for s in up]),
    }
