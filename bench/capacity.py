"""`python -m bench.capacity [--steps 1000,2500,5000,10000] [--active 100] [--turns 5]`: what one chat
worker holds (issue 6, scenario 4).

(a) Idle sessions: created through the API (POST /sessions without a message: one workflow start,
one workflow task), 16 at once, up to each step (`--steps ...,100000` runs; at ~60-120 created/s on 2
cores that step alone takes over half an hour); the creation rate (POSTs answered), the rate through
the worker's first task (`ready/s`), and each process's RSS once the chat worker is quiet, with the
size of Temporal's database. Temporal's sticky
workflow cache (`max_cached_workflows`) bounds how many stay in memory; older ones are evicted and
replayed on their next message, which is measured last (message -> first token, oldest vs newest).
(b) Active sessions: that many sessions chatting at once, back to back: first-token latency, beside
the plain baseline at the same concurrency (that many `agent.run_stream` at once, back to back, the
same scripted model in-process, as bench.first_token's plain row) and their ratio at p50 and p95.
Writes bench/results/capacity.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic_ai import Agent
from temporalio.worker import Worker

from bench.chatter import Chatter, Tally, create_session
from bench.resources import cpu_seconds, rss_mib
from bench.stack import Stack
from bench.stats import summary
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import model as scripted_model
from durable_chat.workflows import worker as worker_module

RESULTS = Path(__file__).parent / 'results'
CREATE_CONCURRENCY = 16
CREATE_BATCH = 1000
QUIET_CPU_PERCENT = 5.0
PROBES = 5


def cache_setting() -> dict[str, Any]:
    """The chat worker's workflow cache size: set in workflows/worker.py, or temporalio's default."""
    if 'max_cached_workflows' in inspect.getsource(worker_module.chat_worker):
        return {'max_cached_workflows': 'set in workflows/worker.py (see chat_worker)'}
    default = inspect.signature(Worker.__init__).parameters['max_cached_workflows'].default
    return {'max_cached_workflows': default, 'source': 'temporalio default (chat_worker does not set it)'}


async def quiet(pid: int, deadline_s: float = 180) -> float:
    """Waits until the process (with children) uses under QUIET_CPU_PERCENT of a core for 2 s running."""
    started = time.monotonic()
    calm = 0
    while time.monotonic() - started < deadline_s and calm < 2:
        before = cpu_seconds(pid)
        await asyncio.sleep(1)
        calm = calm + 1 if 100 * (cpu_seconds(pid) - before) < QUIET_CPU_PERCENT else 0
    return time.monotonic() - started


async def create_many(stack: Stack, first: int, count: int, latencies: list[float]) -> list[tuple[str, str]]:
    """`count` sessions of distinct users, CREATE_CONCURRENCY at a time; returns (token, session id) in
    creation order. Batches of CREATE_BATCH keep a 100,000-session step from holding 100,000 tasks."""
    created: list[tuple[str, str]] = []
    for start in range(first, first + count, CREATE_BATCH):
        created += await _create_batch(stack, start, min(CREATE_BATCH, first + count - start), latencies)
    return created


async def _create_batch(
    stack: Stack, first: int, count: int, latencies: list[float]
) -> list[tuple[str, str]]:
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(index: int, http: httpx.AsyncClient) -> tuple[str, str]:
        token = stack.token(f'idle-{index:05d}')
        async with gate:
            started = time.monotonic()
            session_id = await create_session(http, token)
            latencies.append(time.monotonic() - started)
        return token, session_id

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120) as http:
        return list(await asyncio.gather(*(one(i, http) for i in range(first, first + count))))


async def message_to_first_token(stack: Stack, token: str, session_id: str) -> float:
    """POST a message, then open the websocket (as a returning page does): first token of turn 1."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120) as http:
        response = await http.post(
            f'/sessions/{session_id}/messages',
            json={'id': 'back-again', 'text': 'hello again after a long while'},
            headers={'Authorization': f'Bearer {token}'},
        )
        response.raise_for_status()
    client = await ChatClient(stack.api_url, session_id, token).connect()
    index = await client.wait_for(lambda: _tuple(client.first_delta_index(1)), timeout=120)
    latency = client.received_at[index[0]] - started
    await client.wait_for(lambda: client.finished(1), timeout=120)
    await client.disconnect()
    return latency


def _tuple(index: int | None) -> tuple[int] | None:
    return None if index is None else (index,)


def _database_mib(stack: Stack) -> float:
    """The dev server's SQLite database with its write-ahead log: where idle sessions live."""
    files = stack.temporal.folder.glob('temporal.db*')
    return round(sum(f.stat().st_size for f in files) / (1024 * 1024), 1)


async def idle_sessions(
    stack: Stack, steps: list[int], details: dict[str, Any]
) -> dict[str, dict[str, float]]:
    worker = stack.workers.chat[0].pid
    await quiet(worker)
    baseline = rss_mib(worker)
    rows: list[dict[str, Any]] = []
    sessions: list[tuple[str, str]] = []
    latencies: list[float] = []
    creating = 0.0
    for step in steps:
        started = time.monotonic()
        sessions += await create_many(stack, len(sessions), step - len(sessions), latencies)
        created_in = time.monotonic() - started
        creating += created_in
        # The worker may trail the creations by minutes at large steps (Temporal queues their tasks).
        settled_in = await quiet(worker, deadline_s=max(180.0, step / 20))
        row = {
            'sessions': step,
            'create_seconds': round(created_in, 1),
            'sessions_per_s': round((step - (rows[-1]['sessions'] if rows else 0)) / created_in, 1),
            'settle_seconds': round(settled_in, 1),
            # Through the worker's first task too (Temporal queues what the worker has not taken yet).
            'ready_per_s': round(
                (step - (rows[-1]['sessions'] if rows else 0)) / (created_in + settled_in), 1
            ),
            'chat_worker_rss_mib': rss_mib(worker),
            'api_rss_mib': rss_mib(stack.pids['api']),
            'temporal_rss_mib': rss_mib(stack.pids['temporal']),
            'temporal_db_mib': _database_mib(stack),
        }
        rows.append(row)
        print(f'  {row}', flush=True)
    cache = cache_setting()
    size = cache['max_cached_workflows']
    held = min(steps[-1], size) if isinstance(size, int) else steps[-1]
    details.update(
        cache,
        chat_worker_baseline_rss_mib=baseline,
        steps=rows,
        kib_per_cached_session=round(1024 * (rows[-1]['chat_worker_rss_mib'] - baseline) / max(held, 1), 1),
    )
    # The oldest sessions were evicted long ago (replayed on this message); the newest are cached.
    oldest = [await message_to_first_token(stack, *s) for s in sessions[:PROBES]]
    newest = [await message_to_first_token(stack, *s) for s in sessions[-PROBES:]]
    details['create_rate_per_s'] = round(len(sessions) / creating, 1)
    return {
        'create session (POST /sessions, no message)': summary(latencies),
        f'create sessions, {CREATE_CONCURRENCY} at once': {'sessions_per_s': details['create_rate_per_s']},
        f'oldest idle session of {len(sessions)}: message -> first token': summary(oldest),
        f'newest idle session of {len(sessions)}: message -> first token': summary(newest),
    }


async def active_sessions(
    stack: Stack, count: int, turns: int, details: dict[str, Any]
) -> dict[str, dict[str, float]]:
    tally = Tally()
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=120) as http:
        tokens = [stack.token(f'active-{i:04d}') for i in range(count)]
        ids = await asyncio.gather(*(create_session(http, t) for t in tokens))
    chatters = [Chatter(stack.api_url, t, s, tally) for t, s in zip(tokens, ids, strict=True)]
    await asyncio.gather(*(c.connect() for c in chatters))
    await asyncio.gather(*(c.chat('warm up the session') for c in chatters))  # the first turn is not counted
    tally.first_token.clear()
    tally.turns_done.clear()

    async def back_to_back(chatter: Chatter) -> None:
        for turn in range(turns):
            await chatter.chat(_question(turn))

    started = time.monotonic()
    await asyncio.gather(*(back_to_back(c) for c in chatters))
    details['active'] = {
        'sessions': count,
        'turns_per_s': round(len(tally.turns_done) / (time.monotonic() - started), 2),
        'errors': dict(tally.errors),
    }
    await asyncio.gather(*(c.close() for c in chatters))
    durable = summary([s for _, s in tally.first_token])
    plain = summary(await plain_concurrent(count, turns))
    return {
        f'{count} concurrent active sessions, back to back': durable,
        f'{count} concurrent plain run_stream, back to back': plain,
        f'{count} concurrent: durable / plain': {
            'p50_x': round(durable['p50_ms'] / plain['p50_ms'], 1),
            'p95_x': round(durable['p95_ms'] / plain['p95_ms'], 1),
        },
    }


def _question(turn: int) -> str:
    return f'question {turn} from a busy user about the state of things'


async def plain_concurrent(count: int, turns: int) -> list[float]:
    """The baseline at the same concurrency: `count` plain `agent.run_stream` loops at once, each
    turn read to its end, first-token time per turn (a warm-up turn each, not counted)."""
    agent = Agent(scripted_model)
    samples: list[float] = []

    async def one_turn(text: str, record: bool) -> None:
        started = time.monotonic()
        async with agent.run_stream(text) as result:
            async for _delta in result.stream_text(delta=True, debounce_by=None):
                if record:
                    samples.append(time.monotonic() - started)
                    record = False

    async def back_to_back() -> None:
        await one_turn('warm up the session', record=False)
        for turn in range(turns):
            await one_turn(_question(turn), record=True)

    await asyncio.gather(*(back_to_back() for _ in range(count)))
    return samples


async def run(
    stack: Stack,
    steps: list[int] | None = None,
    active: int = 100,
    turns: int = 5,
    details: dict[str, Any] | None = None,
) -> dict[str, dict[str, float]]:
    """Latency summaries (like bench.first_token); `details` receives the RSS table and cache setting."""
    details = {} if details is None else details
    results = await active_sessions(stack, active, turns, details)
    results.update(await idle_sessions(stack, steps or [1000, 2500, 5000, 10_000], details))
    return results


def steps_table(details: dict[str, Any]) -> str:
    """The idle-session steps: creation rate and each process's RSS once the worker is quiet."""
    lines = [
        f'cache: {details["max_cached_workflows"]} ({details.get("source", "")}); '
        f'~{details["kib_per_cached_session"]} KiB per cached session',
        '',
        '| sessions | create s | created/s | settle s | ready/s | chat worker MiB | API MiB | Temporal MiB '
        '| Temporal DB MiB |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    lines += [
        f'| {r["sessions"]} | {r["create_seconds"]} | {r["sessions_per_s"]} | {r["settle_seconds"]} '
        f'| {r.get("ready_per_s", "")} '
        f'| {r["chat_worker_rss_mib"]} | {r["api_rss_mib"]} | {r["temporal_rss_mib"]} '
        f'| {r.get("temporal_db_mib", "")} |'
        for r in details['steps']
    ]
    return '\n'.join(lines)


async def main(args: argparse.Namespace) -> None:
    steps = [int(s) for s in args.steps.split(',')]
    details: dict[str, Any] = {}
    stack = Stack().start()
    started = time.monotonic()
    try:
        results = await run(stack, steps, args.active, args.turns, details)
    finally:
        stack.stop()
    meta = {
        'when': datetime.now(UTC).isoformat(),
        'machine': platform.platform(),
        'seconds': round(time.monotonic() - started),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'capacity.json').write_text(
        json.dumps({'meta': meta, 'results': results, 'details': details}, indent=2)
    )
    lines = ['| path | n | p50 ms | p95 ms | mean ms |', '| --- | --- | --- | --- | --- |']
    lines += [
        f'| {p} | {s["n"]} | {s["p50_ms"]} | {s["p95_ms"]} | {s["mean_ms"]} |'
        for p, s in results.items()
        if 'n' in s
    ]
    active = details['active']
    lines += [
        '',
        f'creation: {details["create_rate_per_s"]} sessions/s, {CREATE_CONCURRENCY} POST /sessions at once',
        f'active: {active["sessions"]} sessions, {active["turns_per_s"]} turns/s, errors: {active["errors"] or "none"}',
        '',
        steps_table(details),
    ]
    text = '\n'.join(lines)
    (RESULTS / 'capacity.md').write_text(text + '\n')
    print(text)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.capacity')
    parser.add_argument('--steps', default='1000,2500,5000,10000', help='idle session counts to measure at')
    parser.add_argument('--active', type=int, default=100, help='concurrent active sessions')
    parser.add_argument(
        '--turns', type=int, default=5, help='turns per active session (after a warm-up turn)'
    )
    asyncio.run(main(parser.parse_args()))
