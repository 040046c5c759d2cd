"""`python -m bench.memory`: long-term memory benchmark, Qdrant local mode and the offline embedder.

Measures embedding throughput (one text per call, and batches), then `recall` and `remember`
latency with 1k and 50k memories in one collection spread over 100 users (every call filtered by
one user, as in production), and recall@1/@5 of the labelled set in that same collection.
Writes bench/results/memory.json and prints a Markdown table.

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
from qdrant_client import AsyncQdrantClient

from bench.stats import summary
from durable_chat.memory.embedder import OnnxMiniLMEmbeddingModel
from durable_chat.memory.store import MemoryStore, memory_point, new_memory_id
from durable_chat.memory.types import Memory
from durable_chat.testing.recall_set import load_pairs, score

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


async def main(sizes: list[int], users: int, queries: int) -> dict[str, Any]:
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
        # Opened as `open_store` opens local mode: Qdrant calls on the store's own thread.
        client = AsyncQdrantClient(path=folder, force_disable_check_same_thread=True)
        store = MemoryStore(client, embedder, 'memories', offload=True)
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
    return results


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
    parser.add_argument('--output', default='memory.json', help='file name under bench/results')
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(',')]
    load_before = os.getloadavg()
    results = asyncio.run(main(sizes, args.users, args.queries))
    RESULTS.mkdir(exist_ok=True)
    meta = {
        'when': datetime.now(UTC).isoformat(),
        'machine': platform.platform(),
        'qdrant': 'local mode (on disk)',
        'users': args.users,
        'cpus': os.cpu_count(),
        # Other work on the machine skews every figure: the 1-minute load before and after.
        'load_average_1m': [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    (RESULTS / args.output).write_text(json.dumps({'meta': meta, 'results': results}, indent=2) + '\n')
    print(table(results))
