"""`python -m bench.memory_scale`: the memory store at 10,000 and 100,000 memories, per Qdrant engine.

The store is opened as the product opens it (`memory.collection.open_client`): Qdrant local mode
(`QdrantClient(path=...)`, which scans every point in Python for each filtered call) and the
embedded Qdrant Edge shard (the default: payload indexes, so a user's search touches that user's
points only). The collection holds what a deployment holds: the natural set's six users told their
statements through the store's rules (tests/memory_data/natural.json), one user under test with
1,000 memories, and the rest spread over other users, 100 each. Per size:
 - the search as `GET /memories?q=` runs it (`recall`, top 10) and the recall before a turn (top 5
   above the floor), for the user with 1,000 memories: p50 / p95;
 - `remember` of new statements by that user, through the whole update rule: p50 / p95;
 - recall@1 / @5 of the natural set's questions (its users' statements among all the others).

Other users' memories reuse the real embeddings of a pool of distinct texts (embedding 100k
texts would take ~10 minutes here; every search is filtered by user, so they only have to be there).
Writes bench/results/memory-scale.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_ai import Embedder

from bench.memory import synthetic_facts
from bench.stats import summary
from durable_chat.memory.collection import open_client
from durable_chat.memory.embedder import OnnxMiniLMEmbeddingModel
from durable_chat.memory.store import MemoryStore, memory_point, new_memory_id
from durable_chat.memory.types import Memory
from durable_chat.settings import Settings
from durable_chat.testing.recall_set import INSTRUCTIONS_MIN_SCORE, NaturalSet, load_natural, score_natural

RESULTS = Path(__file__).parent / 'results'
USER = 'user-under-test'
USER_MEMORIES = 1_000
PER_OTHER_USER = 100
POOL = 4_000
BATCH = 512


async def load_others(store: MemoryStore, pool: list[tuple[str, list[float]]], first: int, last: int) -> None:
    """Points `first`..`last` (exclusive) of the other users, 100 per user, straight to Qdrant."""
    now = datetime.now(UTC)
    for start in range(first, last, BATCH):
        points = []
        for n in range(start, min(start + BATCH, last)):
            user = f'other-{n // PER_OTHER_USER:05d}'
            text, vector = pool[n % len(pool)]
            memory = Memory(new_memory_id(user, text), user, text, now, now)
            points.append(memory_point(memory, vector))
        await store.run_qdrant(store.client.upsert(store.collection, points, wait=True))


async def load_user(store: MemoryStore, facts: list[str]) -> None:
    """The user under test's memories, with their own embeddings, straight to Qdrant."""
    now = datetime.now(UTC)
    for start in range(0, len(facts), BATCH):
        chunk = facts[start : start + BATCH]
        vectors = (await store.embedder.embed_documents(chunk)).embeddings
        points = [
            memory_point(Memory(new_memory_id(USER, text), USER, text, now, now), list(vector))
            for text, vector in zip(chunk, vectors, strict=True)
        ]
        await store.run_qdrant(store.client.upsert(store.collection, points, wait=True))


async def measure(
    store: MemoryStore, data: NaturalSet, questions: list[str], new_facts: list[str]
) -> dict[str, Any]:
    search: list[float] = []
    turn: list[float] = []
    for question in questions:
        began = time.perf_counter()
        await store.recall(USER, question, k=10)
        search.append(time.perf_counter() - began)
        began = time.perf_counter()
        await store.recall(USER, question, k=5, min_score=INSTRUCTIONS_MIN_SCORE)
        turn.append(time.perf_counter() - began)
    remember: list[float] = []
    for fact in new_facts:
        began = time.perf_counter()
        await store.remember(USER, fact)
        remember.append(time.perf_counter() - began)
    quality = await score_natural(store, data)
    return {
        'search_k10': summary(search),
        'recall_before_turn': summary(turn),
        'remember': summary(remember),
        'recall_at_1': round(quality.recall_at_1, 3),
        'recall_at_5': round(quality.recall_at_5, 3),
        'false_recalls': f'{quality.false_recalls}/{quality.unanswerable}',
        'leaks': quality.leaks,
        'memories': (await store.run_qdrant(store.client.count(store.collection))).count,
    }


async def run_engine(
    engine: str, embedder: Embedder, sizes: list[int], pool: list[tuple[str, list[float]]], queries: int
) -> dict[str, Any]:
    data = load_natural()
    questions = [q.text for q in data.questions]
    questions = (questions * (queries // len(questions) + 1))[:queries]
    fillers = synthetic_facts(USER_MEMORIES + queries * len(sizes), seed=11)
    user_facts, extra = fillers[:USER_MEMORIES], fillers[USER_MEMORIES:]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix=f'bench-scale-{engine}-') as folder:
        client, offload = await open_client(
            Settings(data_dir=Path(folder), qdrant_engine='edge' if engine == 'edge' else 'local')
        )
        store = MemoryStore(client, embedder, 'memories', offload=offload)
        try:
            await store.ensure_collection()
            for turn, statement in enumerate(data.statements, 1):
                await store.remember(statement.user, statement.text, session_id='bench', turn=turn)
            await load_user(store, user_facts)
            loaded = (await store.run_qdrant(store.client.count(store.collection))).count
            others = 0
            for i, size in enumerate(sorted(sizes)):
                began = time.perf_counter()
                await load_others(store, pool, others, others + size - loaded)
                others += size - loaded
                load_s = time.perf_counter() - began
                figures = await measure(store, data, questions, extra[i * queries : (i + 1) * queries])
                figures['load_others_s'] = round(load_s, 1)
                loaded = figures['memories']
                out[str(size)] = figures
                print(f'{engine} @ {size}: {json.dumps(figures)}', flush=True)
        finally:
            await store.close()
    return out


async def main(engines: list[str], sizes: list[int], queries: int) -> dict[str, Any]:
    embedder = Embedder(OnnxMiniLMEmbeddingModel())
    texts = synthetic_facts(POOL, seed=23)
    vectors = (await embedder.embed_documents(texts)).embeddings
    pool = [(text, list(vector)) for text, vector in zip(texts, vectors, strict=True)]
    return {engine: await run_engine(engine, embedder, sizes, pool, queries) for engine in engines}


def table(results: dict[str, Any]) -> str:
    lines = [
        '| engine | memories | search (top 10) p50 / p95 ms | recall before a turn p50 / p95 ms '
        '| remember p50 / p95 ms | recall@1 | recall@5 |',
        '| --- | --- | --- | --- | --- | --- | --- |',
    ]
    for engine, sizes in results.items():
        for size, f in sizes.items():
            cells = [
                f'{f[name]["p50_ms"]} / {f[name]["p95_ms"]}'
                for name in ('search_k10', 'recall_before_turn', 'remember')
            ]
            lines.append(
                f'| {engine} | {int(size):,} | '
                + ' | '.join(cells)
                + f' | {f["recall_at_1"]} | {f["recall_at_5"]} |'
            )
    return '\n'.join(lines)


def meta(engines: list[str], load_before: tuple[float, float, float]) -> dict[str, Any]:
    return {
        'when': datetime.now(UTC).isoformat(),
        'machine': platform.platform(),
        'cpus': os.cpu_count(),
        'engines': engines,
        # Other work on the machine skews every figure: the 1-minute load before and after.
        'load_average_1m': [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.memory_scale')
    parser.add_argument('--engines', default='local,edge', help='Qdrant engines, comma separated')
    parser.add_argument('--sizes', default='10000,100000', help='collection sizes, comma separated')
    parser.add_argument('--queries', type=int, default=40, help='searches and remembers per size')
    parser.add_argument('--output', default='memory-scale.json', help='file name under bench/results')
    args = parser.parse_args()
    engines = args.engines.split(',')
    load_before = os.getloadavg()
    results = asyncio.run(main(engines, [int(s) for s in args.sizes.split(',')], args.queries))
    RESULTS.mkdir(exist_ok=True)
    document = {'meta': meta(engines, load_before), 'results': results}
    (RESULTS / args.output).write_text(json.dumps(document, indent=2) + '\n')
    print(table(results))
