"""History that does not grow with the conversation: Temporal history bytes written per turn at turn
10, 100 and 1,000 of one session, and the chat worker's memory per chatting session, with the
payload store off (every payload inline, as before the claim check) and on.

Each setting gets a stack of its own (the store is a setting every process must share). A turn's
bytes are those all the session's runs wrote over the ten turns up to the checkpoint, divided by ten,
so a continue-as-new (its carried state, the new run's first events) is counted where it happens.
`python -m bench.history_size [--turns 1000] [--sessions 20] [--session-turns 30]` (0 skips a part).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from temporalio.client import Client

from bench.stack import BENCH_SETTINGS
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.stack import Stack
from durable_chat.workflows.contract import workflow_id

SETTINGS = {
    'payloads inline (store off)': {'DURABLE_CHAT_PAYLOAD_STORE': 'off'},
    'claim check (store on)': {},
}
CHECKPOINTS = (10, 100, 1000)
WINDOW = 10
KIB = 1024


async def run(turns: int = 1000, sessions: int = 20, session_turns: int = 30) -> dict[str, dict[str, float]]:
    """Both settings, one after the other: {setting: figures}."""
    results: dict[str, dict[str, float]] = {}
    for name, settings in SETTINGS.items():
        folder = Path(tempfile.mkdtemp(prefix='durable-chat-history-size-'))
        stack = Stack(folder, secret='bench-secret', settings={**BENCH_SETTINGS, **settings}).start(apis=[{}])
        try:
            # Memory first, on a fresh worker: a long session before it leaves freed memory behind
            # that the sessions measured would reuse.
            figures = await memory_per_session(stack, sessions, session_turns) if sessions else {}
            figures |= await history_per_turn(stack, turns) if turns else {}
        finally:
            stack.stop()
        results[name] = figures
        print(name, json.dumps(figures), flush=True)
    return results


async def history_per_turn(stack: Stack, turns: int) -> dict[str, float]:
    """One session of `turns` turns of ~2 KB replies (`long`), one at a time."""
    token = stack.token('history')
    api_url = stack.apis[0].url
    temporal = await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)
    checkpoints = [c for c in CHECKPOINTS if c <= turns]
    marks = {c - WINDOW for c in checkpoints} | set(checkpoints)
    written: dict[int, int] = {0: 0}
    stored: dict[int, int] = {0: 0}
    async with httpx.AsyncClient(
        base_url=api_url, timeout=60, headers={'Authorization': f'Bearer {token}'}
    ) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(api_url, session_id, token).connect()
        started = time.monotonic()
        for turn in range(1, turns + 1):
            await client.send(f'm-{turn}', f'long t{turn}')
            await client.wait_for(lambda t=turn: client.finished(t), timeout=120)
            if turn in marks:
                await _idle(http, session_id)
                written[turn] = await _history_bytes(temporal, session_id)
                stored[turn] = _dir_bytes(stack.folder / 'payloads')
        elapsed = time.monotonic() - started
        await client.disconnect()
    runs = len([e async for e in temporal.list_workflows(f"WorkflowId = '{workflow_id(session_id)}'")])
    figures: dict[str, float] = {}
    for c in checkpoints:
        figures[f'history B/turn @{c}'] = round((written[c] - written[c - WINDOW]) / WINDOW)
    for c in checkpoints:
        figures[f'store B/turn @{c}'] = round((stored[c] - stored[c - WINDOW]) / WINDOW)
    figures[f'runs in {turns} turns'] = runs
    figures['turns/s'] = round(turns / elapsed, 1)
    return figures


async def _idle(http: httpx.AsyncClient, session_id: str) -> None:
    """Until the session idles: the turn's upkeep (archive, compaction, continue-as-new) is done."""
    for _ in range(3000):  # a query has no push: ask again, for up to a minute
        if (await http.get(f'/sessions/{session_id}')).json()['status'] == 'idle':
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f'session {session_id} never went idle')


async def _history_bytes(temporal: Client, session_id: str) -> int:
    """What every run of the session has written to Temporal's history so far."""
    total = 0
    async for execution in temporal.list_workflows(f"WorkflowId = '{workflow_id(session_id)}'"):
        described = await temporal.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
        total += described.raw_description.workflow_execution_info.history_size_bytes
    return total


def _dir_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob('*') if path.is_file()) if folder.exists() else 0


async def memory_per_session(stack: Stack, sessions: int, session_turns: int) -> dict[str, float]:
    """The chat worker's RSS growth per session once `sessions` sessions have each chatted
    `session_turns` turns and stay cached, after a warm-up session (imports, first-use caches)."""
    token = stack.token('memory')
    api_url = stack.apis[0].url
    worker = psutil.Process(stack.workers.chat[0].pid)
    async with httpx.AsyncClient(
        base_url=api_url, timeout=60, headers={'Authorization': f'Bearer {token}'}
    ) as http:

        async def chat(count: int, turns: int) -> list[ChatClient]:
            ids = [(await http.post('/sessions', json={})).json()['session_id'] for _ in range(count)]
            clients = [await ChatClient(api_url, session_id, token).connect() for session_id in ids]
            for turn in range(1, turns + 1):  # every session's turn at once, then the next
                for client in clients:
                    await client.send(f'm-{turn}', f'long s{turn}')
                for client in clients:
                    await client.wait_for(lambda c=client, t=turn: c.finished(t), timeout=120)
            for client in clients:
                await client.disconnect()
            return clients

        await chat(2, session_turns)
        before = worker.memory_info().rss
        await chat(sessions, session_turns)
        after = worker.memory_info().rss
    return {
        f'worker RSS KiB/session ({session_turns} turns)': round((after - before) / sessions / KIB),
        'worker RSS MiB': round(after / KIB / KIB, 1),
    }


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.history_size')
    parser.add_argument('--turns', type=int, default=1000)
    parser.add_argument('--sessions', type=int, default=20)
    parser.add_argument('--session-turns', type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    print(json.dumps(asyncio.run(run(args.turns, args.sessions, args.session_turns)), indent=2))
