"""`python -m bench.memory`: long-term memory benchmark, the embedded Qdrant and the offline embedder.

The store is opened as the product opens it (`memory.collection.open_client`; `--engine local` for
Qdrant local mode instead of Edge, the default). Measures embedding throughput (one text per call,
and batches), then `recall` and `remember` latency with 1k and 50k memories in one collection
spread over 100 users (every call filtered by one user, as in production), and recall@1/@5 of the
labelled set in that same collection. Then the natural set (tests/memory_data/natural.json), told
in order: plain top-k search over every statement (the baseline) beside durable-chat's store (the
offline rules: supersession, the relevance gate of the instructions), and recall latency with
1,000 memories for one user, in the store and through the real stack (`bench.memory_search`:
`GET /memories?q=` and the `recall_memories` activity before a turn). `bench.memory_scale`
measures both engines at 10k and 100k memories.
Writes bench/results/memory.json and prints Markdown tables.

The synthetic memories are bulk-loaded with real embeddings (generating 50k takes a few minutes);
the measured `remember` calls go through the whole update rule.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_ai import Embedder

from bench import memory_search
from bench.stats import summary
from durable_chat.memory.collection import open_client
from durable_chat.memory.embedder import OnnxMiniLMEmbeddingModel
from durable_chat.memory.store import MemoryStore, memory_point, new_memory_id
from durable_chat.memory.types import Memory
from durable_chat.settings import Settings
from durable_chat.testing.recall_set import (
    INSTRUCTIONS_MIN_SCORE,
    NaturalScore,
    load_natural,
    load_pairs,
    score,
    score_natural,
)

RESULTS = Path(__file__).parent / 'results'
LOAD_BATCH = 256

_NAMES = (
    'Anna Ben Clara David Emma Felix Grace Hugo Iris Jonas Kira Liam Maya Noah Olga Paul Quinn Rosa '
    'Sam Tara Umar Vera Will Xena Yusuf Zoe'
).split()
_PEOPLE = 'sister brother cousin friend neighbour colleague aunt uncle niece nephew'.split()
_PLACES = (
    'Lisbon Oslo Madrid Kyoto Denver Austin Leeds Porto Gdansk Turin Lyon Ghent Bergen Tallinn Quebec '
    'Perth Hobart Cork Malmo Basel'
).split()
_THINGS = (
    'jazz records|vintage cameras|board games|hiking boots|oil paintings|house plants|mechanical keyboards|'
    'comic books|road bikes|chess sets|fountain pens|sourdough bread|green tea|running shoes|sci-fi novels|'
    'old maps|vinyl players|film cameras|bonsai trees|kites'
).split('|')
_TIMES = 'on Mondays|on Tuesdays|every weekend|in the evenings|before work|twice a month|every summer'.split(
    '|'
)
_TEMPLATES = (
    'My {person} {name} lives in {place}.',
    'My {person} {name} collects {thing}.',
    'I visited {place} with my {person} {name} last year.',
    'I buy {thing} {time} at a shop in {place}.',
    'My {person} {name} gave me {thing} for my birthday.',
    'I meet my {person} {name} {time} to talk about {thing}.',
    'I want to visit {place} {time} with {name}.',
    "I keep my {thing} at my {person} {name}'s place in {place}.",
)


def synthetic_facts(count: int, seed: int = 7) -> list[str]:
    """`count` distinct, plausible facts about other people and things (none sets a rule slot)."""
    rng = random.Random(seed)
    facts: dict[str, None] = {}
    while len(facts) < count:
        text = rng.choice(_TEMPLATES).format(
            person=rng.choice(_PEOPLE),
            name=rng.choice(_NAMES),
            place=rng.choice(_PLACES),
            thing=rng.choice(_THINGS),
            time=rng.choice(_TIMES),
        )
        facts[text] = None
    return list(facts)


async def embedding_throughput(embedder: Embedder, texts: list[str]) -> dict[str, float]:
    await embedder.embed_documents(texts[:8])  # warm the session
    singles = texts[:300]
    start = time.perf_counter()
    for text in singles:
        await embedder.embed_query(text)
    single = len(singles) / (time.perf_counter() - start)
    start = time.perf_counter()
    await embedder.embed_documents(texts)
    batch = len(texts) / (time.perf_counter() - start)
    return {
        'single_texts_per_s': round(single, 1),
        'batch_texts_per_s': round(batch, 1),
        'batch_n': len(texts),
    }


async def bulk_load(store: MemoryStore, facts: list[str], users: int, offset: int) -> float:
    """Adds `facts` round-robin over `users` users, straight to Qdrant; returns seconds spent embedding."""
    embedding = 0.0
    for start in range(0, len(facts), LOAD_BATCH):
        chunk = facts[start : start + LOAD_BATCH]
        began = time.perf_counter()
        vectors = (await store.embedder.embed_documents(chunk)).embeddings
        embedding += time.perf_counter() - began
        now = datetime.now(UTC)
        points = []
        for i, (text, vector) in enumerate(zip(chunk, vectors, strict=True)):
            user = f'user-{(offset + start + i) % users:03d}'
            memory = Memory(new_memory_id(user, text), user, text, now, now)
            points.append(memory_point(memory, list(vector)))
        await store.run_qdrant(store.client.upsert(store.collection, points, wait=True))
    return embedding


class LoopWatch:
    """The longest the event loop went without running a 1 ms sleeper: what other work would feel."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            last = now

    def __enter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def latencies(store: MemoryStore, user: str, questions: list[str], facts: list[str]) -> dict[str, Any]:
    with LoopWatch() as watch:
        result = await _latencies(store, user, questions, facts)
    result['max_event_loop_stall_ms'] = round(watch.max_gap * 1000, 1)
    return result


async def _latencies(store: MemoryStore, user: str, questions: list[str], facts: list[str]) -> dict[str, Any]:
    recall: list[float] = []
    for question in questions:
        began = time.perf_counter()
        await store.recall(user, question, k=5)
        recall.append(time.perf_counter() - began)
    remember: list[float] = []
    actions: dict[str, int] = {}
    for fact in facts:
        began = time.perf_counter()
        result = await store.remember(user, fact)
        remember.append(time.perf_counter() - began)
        actions[result.action] = actions.get(result.action, 0) + 1
    embed: list[float] = []
    for question in questions:
        began = time.perf_counter()
        await store.embedder.embed_query(question)
        embed.append(time.perf_counter() - began)
    return {
        'recall_k5': summary(recall),
        'remember': summary(remember),
        'embed_one_query': summary(embed),
        'remember_actions': actions,
    }


ENGINE: dict[str, Any] = {'qdrant_engine': 'edge'}
"""The embedded engine every store of the run opens (`--engine`)."""


async def open_bench_store(folder: str, embedder: Embedder, collection: str) -> MemoryStore:
    client, offload = await open_client(Settings(data_dir=Path(folder), **ENGINE))
    return MemoryStore(client, embedder, collection, offload=offload)


async def main(
    sizes: list[int], users: int, queries: int, api_requests: int = 100, api_turns: int = 40
) -> dict[str, Any]:
    embedder = Embedder(OnnxMiniLMEmbeddingModel())
    largest = max(sizes)
    facts = synthetic_facts(largest + 2 * queries)
    load, extra = facts[:largest], facts[largest:]
    pairs = load_pairs()
    questions = [p.question for p in pairs]
    questions = (questions * (queries // len(questions) + 1))[:queries]

    results: dict[str, Any] = {
        'embedding': await embedding_throughput(embedder, facts[:2048]),
        'scales': {},
    }
    with tempfile.TemporaryDirectory(prefix='bench-memory-') as folder:
        store = await open_bench_store(folder, embedder, 'memories')
        try:
            await store.ensure_collection()
            loaded = 0
            for size in sorted(sizes):
                began = time.perf_counter()
                embedding = await bulk_load(store, load[loaded:size], users, loaded)
                load_s = time.perf_counter() - began
                loaded = size
                user = f'user-{size % users:03d}'
                new_facts = extra[:queries] if size == min(sizes) else extra[queries : 2 * queries]
                scale = await latencies(store, user, questions, new_facts)
                scale['load_s'] = round(load_s, 1)
                scale['load_embedding_s'] = round(embedding, 1)
                scale['memories'] = (await store.run_qdrant(store.client.count(store.collection))).count
                scale['memories_of_queried_user'] = len(await store.list(user))
                results['scales'][str(size)] = scale
                print(f'{size} memories loaded in {load_s:.0f} s', flush=True)

            # The labelled set for one more user, in the full collection: other users' memories
            # must not get in the way (every search is filtered by user).
            for pair in pairs:
                await store.remember('labelled', pair.fact)
            quality = await score(store, 'labelled', pairs)
            results['recall_quality'] = {
                'pairs': quality.pairs,
                'recall_at_1': round(quality.recall_at_1, 3),
                'recall_at_5': round(quality.recall_at_5, 3),
                'collection_size': (await store.run_qdrant(store.client.count(store.collection))).count,
            }
        finally:
            await store.close()
    results['natural'] = await natural(embedder, queries)
    if api_requests:
        results['api_1000_per_user'] = await memory_search.at_thousand(api_requests, api_turns)
    return results


async def natural(embedder: Embedder, queries: int) -> dict[str, Any]:
    """The natural set: the baseline (every statement a point, plain top-k) and the product's store."""
    data = load_natural()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix='bench-natural-') as folder:
        baseline = await open_bench_store(folder, embedder, 'baseline')
        try:
            await baseline.ensure_collection()
            vectors = (await embedder.embed_documents([s.text for s in data.statements])).embeddings
            now = datetime.now(UTC)
            points = [
                memory_point(Memory(new_memory_id(s.user, s.text), s.user, s.text, now, now), list(v))
                for s, v in zip(data.statements, vectors, strict=True)
            ]
            await baseline.run_qdrant(baseline.client.upsert('baseline', points, wait=True))
            out['baseline'] = _natural_figures(await score_natural(baseline, data, plain_gate=True))
        finally:
            await baseline.close()
    with tempfile.TemporaryDirectory(prefix='bench-natural-') as folder:
        store = await open_bench_store(folder, embedder, 'memories')
        try:
            await store.ensure_collection()
            actions: dict[str, int] = {}
            replies: dict[str, int] = {}
            for turn, statement in enumerate(data.statements, 1):
                result = await store.remember(statement.user, statement.text, session_id='bench', turn=turn)
                actions[result.action] = actions.get(result.action, 0) + 1
                if statement.replaces:
                    replies[result.action] = replies.get(result.action, 0) + 1
            figures = _natural_figures(await score_natural(store, data))
            figures['actions'] = actions
            figures['replacement_actions'] = replies
            kept = 0
            for statement in data.statements:
                if statement.replaces:
                    old = data.text(statement.replaces)
                    for memory in await store.list(statement.user):
                        _, versions = await store.history(statement.user, memory.id)
                        kept += any(v.text == old and v.valid_until for v in versions)
            figures['old_kept_as_version'] = kept
            out['durable_chat'] = figures
            out['latency_1000_per_user'] = await _per_user_latency(store, data, queries)
        finally:
            await store.close()
    return out


def _natural_figures(result: NaturalScore) -> dict[str, Any]:
    return {
        'answerable': result.answerable,
        'recall_at_1': round(result.recall_at_1, 3),
        'recall_at_5': round(result.recall_at_5, 3),
        'replaced_handled': f'{result.replaced_handled}/{result.replaced}',
        'false_recalls': f'{result.false_recalls}/{result.unanswerable}',
        'answers_instructed': round(result.answers_instructed, 3),
        'leaks': result.leaks,
        'misses_at_1': result.misses_at_1,
    }


async def _per_user_latency(store: MemoryStore, data: Any, queries: int) -> dict[str, Any]:
    """Recall with 1,000 memories for one user: as the API searches (top 10) and as a session
    recalls before a turn (top 5 above the floor)."""
    await bulk_load(store, synthetic_facts(1000, seed=11), 1, 0)  # all for user-000
    questions = [q.text for q in data.questions]
    questions = (questions * (queries // len(questions) + 1))[:queries]
    api: list[float] = []
    turn: list[float] = []
    for question in questions:
        began = time.perf_counter()
        await store.recall('user-000', question, k=10)
        api.append(time.perf_counter() - began)
        began = time.perf_counter()
        await store.recall('user-000', question, k=5, min_score=INSTRUCTIONS_MIN_SCORE)
        turn.append(time.perf_counter() - began)
    return {
        'memories_of_user': len(await store.list('user-000')),
        'search_k10': summary(api),
        'recall_before_turn': summary(turn),
    }


def natural_table(n: dict[str, Any], api: dict[str, Any] | None = None) -> str:
    b, d = n['baseline'], n['durable_chat']
    rows = [
        ('recall@1 (answerable questions)', 'recall_at_1'),
        ('recall@5', 'recall_at_5'),
        ('replaced statements: new ranks above old, or old gone', 'replaced_handled'),
        ('questions about nothing said: a memory into the instructions', 'false_recalls'),
        ('answerable questions: the answer into the instructions', 'answers_instructed'),
        ("another user's memories returned", 'leaks'),
    ]
    lines = [
        f'Natural set ({d["answerable"]} answerable questions, tests/memory_data/natural.json)',
        '',
        '| figure | plain top-k over every statement | durable-chat |',
        '| --- | --- | --- |',
        *(f'| {label} | {b[key]} | {d[key]} |' for label, key in rows),
        '',
        f'remember actions: {d["actions"]}; of the replacements: {d["replacement_actions"]}; '
        f'old statements kept as a previous version: {d["old_kept_as_version"]}',
    ]
    lines += ['', *latency_table(n['latency_1000_per_user'], api)]
    return '\n'.join(lines)


TARGETS_MS = {'search': 50, 'turn': 30}
"""p50 targets at 1,000 memories per user: `GET /memories?q=`, and the recall before a turn."""


def latency_table(store: dict[str, Any], api: dict[str, Any] | None) -> list[str]:
    """Store-level latencies at 1,000 memories for the user, beside the same through the real stack."""
    rows = [
        ('search, top 10: store `recall`', store['search_k10'], 'search'),
        ('recall before a turn: store `recall`', store['recall_before_turn'], 'turn'),
    ]
    if api is not None:
        rows += [
            ('search: `GET /memories?q=` through the API', api['GET /memories?q= (API, top 10)'], 'search'),
            (
                'recall before a turn: `recall_memories` scheduled -> completed',
                api['recall_memories before a turn, scheduled -> completed'],
                'turn',
            ),
            (
                '  of which on the memory worker (started -> completed)',
                api['recall_memories on the memory worker, started -> completed'],
                '',
            ),
        ]
    lines = [
        f'| with {store["memories_of_user"]} memories for the user | n | p50 ms | p95 ms | p50 target |',
        '| --- | --- | --- | --- | --- |',
    ]
    for label, s, target in rows:
        goal = f'< {TARGETS_MS[target]} ms' if target else ''
        lines.append(f'| {label} | {s["n"]} | {s["p50_ms"]} | {s["p95_ms"]} | {goal} |')
    if api is not None:
        lines += [
            '',
            f'turns that took the recall the API prepared: {api["turns that took the recall the API prepared"]}',
        ]
    return lines


def table(results: dict[str, Any]) -> str:
    e = results['embedding']
    q = results['recall_quality']
    lines = [
        '| measure | n | p50 ms | p95 ms | mean ms |',
        '| --- | --- | --- | --- | --- |',
    ]
    for size, scale in results['scales'].items():
        for name in ('recall_k5', 'remember', 'embed_one_query'):
            s = scale[name]
            lines.append(
                f'| {name} @ {size} memories | {s["n"]} | {s["p50_ms"]} | {s["p95_ms"]} | {s["mean_ms"]} |'
            )
        stall = scale['max_event_loop_stall_ms']
        lines.append(f'| longest event-loop stall @ {size} memories (max) | | | | {stall} |')
    lines += [
        '',
        '| embedding throughput | texts/s |',
        '| --- | --- |',
        f'| one text per call | {e["single_texts_per_s"]} |',
        f'| batch of {e["batch_n"]} | {e["batch_texts_per_s"]} |',
        '',
        f'Labelled set ({q["pairs"]} pairs, in a collection of {q["collection_size"]}): '
        f'recall@1 {q["recall_at_1"]}, recall@5 {q["recall_at_5"]}',
    ]
    return '\n'.join(lines)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.memory')
    parser.add_argument('--sizes', default='1000,50000', help='collection sizes, comma separated')
    parser.add_argument('--users', type=int, default=100)
    parser.add_argument('--queries', type=int, default=200, help='recall and remember calls per size')
    parser.add_argument('--engine', choices=('edge', 'local'), default='edge', help='the embedded Qdrant')
    parser.add_argument(
        '--api-requests', type=int, default=100, help='GET /memories?q= on the real stack (0: no stack)'
    )
    parser.add_argument('--api-turns', type=int, default=40, help='turns whose recall is timed on the stack')
    parser.add_argument('--output', default='memory.json', help='file name under bench/results')
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(',')]
    ENGINE['qdrant_engine'] = args.engine
    load_before = os.getloadavg()
    results = asyncio.run(main(sizes, args.users, args.queries, args.api_requests, args.api_turns))
    RESULTS.mkdir(exist_ok=True)
    meta = {
        'when': datetime.now(UTC).isoformat(),
        'machine': platform.platform(),
        'qdrant': f'{args.engine} (on disk; the stack: the default engine)',
        'users': args.users,
        'cpus': os.cpu_count(),
        # Other work on the machine skews every figure: the 1-minute load before and after.
        'load_average_1m': [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    (RESULTS / args.output).write_text(json.dumps({'meta': meta, 'results': results}, indent=2) + '\n')
    print(table(results))
    print()
    print(natural_table(results['natural'], results.get('api_1000_per_user')))
