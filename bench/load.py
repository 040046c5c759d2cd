"""`python -m bench.load [--sessions 200] [--warmup-turns 20] [--soak-minutes 10] [--think-seconds 30]`: load and soak.

Many concurrent websocket sessions (one user each, so per-user limits never bind) chat through the
real API with the scripted model: send, wait for the whole reply, think, repeat. A warm-up first
chats every session past its first continue-as-new (a cached run holds its history in the worker
until then), so the soak measures the steady state, not sessions filling up. Reports throughput
(turns/s, tokens/s), time to first token, errors by kind, and each process's RSS (with children) and
CPU every minute with a least-squares RSS slope over the soak's second half.
Writes bench/results/load.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.chatter import Chatter, Tally, create_session
from bench.resources import Sampler, slope_mib_per_minute
from bench.stack import Stack
from bench.stats import summary

RESULTS = Path(__file__).parent / 'results'
SETUP_CONCURRENCY = 16
FINISH_GRACE_SECONDS = 60.0
GROWING_MIB_PER_MINUTE = 1.0
"""A slope above this over the soak's second half is reported as growth."""


def prompt(rng: random.Random) -> str:
    # The scripted model echoes it in word tokens, 5 ms apart: a ~14-token reply.
    city = rng.choice(['Lisbon', 'Oslo', 'Kyoto', 'Austin', 'Porto', 'Turin'])
    return f'what will the weather be like in {city} on day {rng.randint(1, 365)} of the year'


async def open_sessions(
    stack: Stack, count: int, users: int, tally: Tally
) -> tuple[list[Chatter], list[float]]:
    """Creates the sessions (POST /sessions, no message) and opens their websockets, a few at a time."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    created: list[float] = []

    async def one(index: int, http: httpx.AsyncClient) -> Chatter:
        token = stack.token(f'load-{index % users:05d}')
        async with gate:
            started = time.monotonic()
            session_id = await create_session(http, token)
            created.append(time.monotonic() - started)
            chatter = Chatter(stack.api_url, token, session_id, tally)
            await chatter.connect()
            return chatter

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
        chatters = await asyncio.gather(*(one(i, http) for i in range(count)))
    return list(chatters), created


async def user_loop(chatter: Chatter, rng: random.Random, think: float, deadline: float) -> None:
    await asyncio.sleep(rng.uniform(0, think))  # spread the first messages over one think time
    while time.monotonic() < deadline:
        await chatter.chat(prompt(rng))
        pause = rng.uniform(0.5, 1.5) * think
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))


WARMUP_CONCURRENCY = 10
"""Sessions warming up at once: enough to keep the worker busy, few enough that none times out."""


async def warm_up(chatters: list[Chatter], turns: int, seed: int) -> dict[str, Any]:
    """Every session chats `turns` turns back to back, into a tally of its own."""
    tally = Tally()
    started = time.monotonic()
    real = [c.tally for c in chatters]
    gate = asyncio.Semaphore(WARMUP_CONCURRENCY)

    async def one(index: int, chatter: Chatter) -> None:
        rng = random.Random(f'{seed}-warm-{index}')
        async with gate:
            for _ in range(turns):
                await chatter.chat(prompt(rng))

    for chatter in chatters:
        chatter.tally = tally
    try:
        await asyncio.gather(*(one(i, c) for i, c in enumerate(chatters)))
    finally:
        for chatter, kept in zip(chatters, real, strict=True):
            chatter.tally = kept
    return {
        'turns_per_session': turns,
        'seconds': round(time.monotonic() - started, 1),
        'turns': len(tally.turns_done),
        'errors': dict(tally.errors),
    }


async def sample_every_minute(sampler: Sampler, stop: asyncio.Event) -> None:
    while True:
        try:
            await asyncio.wait_for(stop.wait(), 60)
            return
        except TimeoutError:
            entry = await asyncio.to_thread(sampler.sample)
            print(
                f'  minute {entry["minute"]}: RSS {entry["rss_mib"]}  CPU% {entry["cpu_percent"]}', flush=True
            )


def per_minute(tally: Tally, started: float, minutes: int) -> list[dict[str, Any]]:
    rows = []
    for minute in range(minutes):
        low, high = started + 60 * minute, started + 60 * (minute + 1)
        samples = [s for t, s in tally.first_token if low <= t < high]
        done = sum(1 for t in tally.turns_done if low <= t < high)
        rows.append({'minute': minute + 1, 'turns_per_s': round(done / 60, 2), **summary(samples or [0.0])})
    return rows


def memory_verdict(samples: list[dict[str, Any]]) -> dict[str, dict[str, float | bool]]:
    """Start, end, and the slope over the second half of the soak, per role."""
    verdict: dict[str, dict[str, float | bool]] = {}
    last = samples[-1]['minute']
    for role in samples[0]['rss_mib']:
        tail = [(s['minute'], s['rss_mib'][role]) for s in samples if s['minute'] >= last / 2]
        slope = slope_mib_per_minute(tail)
        verdict[role] = {
            'start_mib': samples[0]['rss_mib'][role],
            'end_mib': samples[-1]['rss_mib'][role],
            'slope_mib_per_min_second_half': slope,
            'growing': slope > GROWING_MIB_PER_MINUTE,
        }
    return verdict


async def soak(
    stack: Stack, sessions: int, users: int, minutes: float, think: float, seed: int, warmup_turns: int
) -> dict[str, Any]:
    tally = Tally()
    setup_started = time.monotonic()
    chatters, created = await open_sessions(stack, sessions, users, tally)
    setup_seconds = time.monotonic() - setup_started
    print(
        f'{sessions} sessions open in {setup_seconds:.1f} s; warming up {warmup_turns} turns each', flush=True
    )
    warmed = await warm_up(chatters, warmup_turns, seed)
    print(f'warm-up: {warmed}; soaking {minutes} min', flush=True)
    sampler = Sampler(stack)
    sampler.sample()
    started = time.monotonic()
    deadline = started + minutes * 60
    stop = asyncio.Event()
    sampling = asyncio.create_task(sample_every_minute(sampler, stop))
    rngs = [random.Random(f'{seed}-{i}') for i in range(sessions)]
    loops = [asyncio.create_task(user_loop(c, rngs[i], think, deadline)) for i, c in enumerate(chatters)]
    _, unfinished = await asyncio.wait(loops, timeout=minutes * 60 + FINISH_GRACE_SECONDS)
    for loop in unfinished:
        loop.cancel()
    if unfinished:
        tally.errors['turn still running at the end of the grace period'] += len(unfinished)
    stop.set()
    await sampling
    sampler.sample()
    await asyncio.gather(*(c.close() for c in chatters))
    elapsed = min(time.monotonic(), deadline) - started
    done = [t for t in tally.turns_done if t <= deadline]
    return {
        'settings': {
            'sessions': sessions,
            'users': users,
            'soak_minutes': minutes,
            'think_seconds': think,
            'seed': seed,
            'chat_workers': len(stack.workers.chat),
        },
        'setup': {'seconds': round(setup_seconds, 1), 'create_session': summary(created)},
        'warm_up': warmed,
        'throughput': {
            'turns': len(done),
            'turns_per_s': round(len(done) / elapsed, 2),
            'tokens_per_s': round(tally.tokens / (time.monotonic() - started), 1),
            'offered_turns_per_s_at_zero_latency': round(sessions / think, 1),
        },
        'first_token': summary([s for _, s in tally.first_token] or [0.0]),
        'errors': dict(tally.errors),
        'per_minute': per_minute(tally, started, int(minutes)),
        'memory': memory_verdict(sampler.samples),
        'samples': sampler.samples,
    }


def markdown(report: dict[str, Any]) -> str:
    s, t, f = report['settings'], report['throughput'], report['first_token']
    lines = [
        f'Load: {s["sessions"]} sessions, {s["users"]} users, think {s["think_seconds"]} s, '
        f'{s["soak_minutes"]} min, {s["chat_workers"]} chat worker(s)',
        '',
        f'- warm-up before the soak: {report["warm_up"]}',
        f'- throughput: {t["turns_per_s"]} turns/s, {t["tokens_per_s"]} tokens/s ({t["turns"]} turns)',
        f'- first token: p50 {f["p50_ms"]} ms, p95 {f["p95_ms"]} ms (n={f["n"]})',
        f'- errors: {report["errors"] or "none"}',
        '- machine (shared) CPU % of all cores / load average, per minute: '
        + ', '.join(
            f'{x["machine_cpu_percent_of_all_cores"]}/{x["load_average_1m"]}' for x in report['samples'][1:]
        ),
        '',
        '| minute | turns/s | p50 ms | p95 ms |',
        '| --- | --- | --- | --- |',
        *(
            f'| {r["minute"]} | {r["turns_per_s"]} | {r["p50_ms"]} | {r["p95_ms"]} |'
            for r in report['per_minute']
        ),
        '',
        '| process | RSS start MiB | RSS end MiB | slope MiB/min (2nd half) | growing | CPU % (mean) |',
        '| --- | --- | --- | --- | --- | --- |',
    ]
    cpu = report['samples'][1:]
    for role, m in report['memory'].items():
        mean_cpu = round(sum(x['cpu_percent'][role] for x in cpu) / max(len(cpu), 1), 1)
        lines.append(
            f'| {role} | {m["start_mib"]} | {m["end_mib"]} | {m["slope_mib_per_min_second_half"]} '
            f'| {m["growing"]} | {mean_cpu} |'
        )
    return '\n'.join(lines)


async def main(args: argparse.Namespace) -> None:
    stack = Stack().start()
    try:
        for _ in range(args.chat_workers - 1):
            stack.workers.start()
        report = await soak(
            stack,
            args.sessions,
            args.users or args.sessions,
            args.soak_minutes,
            args.think_seconds,
            args.seed,
            args.warmup_turns,
        )
    finally:
        stack.stop()
    report['meta'] = {'when': datetime.now(UTC).isoformat(), 'machine': platform.platform()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f'{args.output}.json').write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (RESULTS / f'{args.output}.md').write_text(text + '\n')
    print(text)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.load')
    parser.add_argument('--sessions', type=int, default=200)
    parser.add_argument('--users', type=int, default=0, help='distinct users (default: one per session)')
    parser.add_argument(
        '--warmup-turns', type=int, default=20, help='turns each session chats before the soak (0: none)'
    )
    parser.add_argument('--soak-minutes', type=float, default=10)
    parser.add_argument(
        '--think-seconds', type=float, default=30, help='mean pause between a reply and the next message'
    )
    parser.add_argument('--chat-workers', type=int, default=1)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--output', default='load', help='results file name under bench/results/')
    asyncio.run(main(parser.parse_args()))
