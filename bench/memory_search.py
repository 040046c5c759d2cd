"""`GET /memories?q=` through the real API, request -> response, beside the same search in-process.

The durable path: the API reaches the memory worker through Temporal (it never opens Qdrant), which
embeds the query and searches the user's memories. The plain path: `MemoryStore.recall` on a store
of its own holding the same memories (the embedding and the search, without API or Temporal).
The user's memories are told through chat turns first, as a user would.

`at_thousand` (run by `python -m bench.memory`): a stack of its own whose store holds 1,000
memories of one user (loaded into its data dir before it starts): `GET /memories?q=` as above, and
the recall before each of that user's turns, read from the session's history: the
`recall_memories` activity from scheduled to completed (what the turn waits for), and its part on
the memory worker (started to completed).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin

from bench import memory as memory_bench
from bench.chatter import create_session
from bench.stack import Stack
from bench.stats import summary
from durable_chat.memory.activities import open_store
from durable_chat.memory.store import memory_point, new_memory_id
from durable_chat.memory.types import RECALL_MEMORIES, Memory
from durable_chat.settings import Settings
from durable_chat.temporal import connect
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.recall_set import load_natural

FACTS = (
    'my sister Anna lives in Lisbon',
    'I play the cello on Tuesdays',
    'my favourite food is ramen',
    'I work as a nurse',
    'my dog is named Rex',
    'I am allergic to peanuts',
    'my son Leo plays chess',
    'I drink green tea every morning',
    'my car is a blue hatchback',
    'I grew up in Oslo',
)
QUERIES = ('what music do I play', 'where does my family live', 'food I should avoid', 'my pets', 'my job')
USER = 'bench-search'
K = 10


async def tell_facts(stack: Stack, token: str) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        session_id = await create_session(http, token)
    client = await ChatClient(stack.api_url, session_id, token).connect()
    for turn, fact in enumerate(FACTS, start=1):
        await client.send(f'fact-{turn}', f'remember that {fact}')
        await client.wait_for(lambda t=turn: client.finished(t))
    await client.disconnect()


async def durable_searches(stack: Stack, requests: int) -> list[float]:
    token = stack.token(USER)
    await tell_facts(stack, token)
    headers = {'Authorization': f'Bearer {token}'}
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=headers) as http:
        return await timed_searches(http, cycle(QUERIES), requests, found=len(FACTS))


async def timed_searches(
    http: httpx.AsyncClient, queries: Iterator[str], requests: int, found: int
) -> list[float]:
    """`requests` timed `GET /memories?q=` (after five to warm up), each answering `found` memories."""
    for _ in range(5):  # connections, the API's Temporal client and the embedder warm up
        (await http.get('/memories', params={'q': next(queries), 'k': K})).raise_for_status()
    samples: list[float] = []
    for _ in range(requests):
        started = time.monotonic()
        response = await http.get('/memories', params={'q': next(queries), 'k': K})
        samples.append(time.monotonic() - started)
        response.raise_for_status()
        assert len(response.json()) == found, response.text
    return samples


async def plain_searches(requests: int) -> list[float]:
    store = await open_store(Settings(data_dir=Path(tempfile.mkdtemp(prefix='bench-search-'))))
    samples: list[float] = []
    try:
        for fact in FACTS:
            await store.remember(USER, fact)
        queries = cycle(QUERIES)
        for _ in range(5):
            await store.recall(USER, next(queries), K)
        for _ in range(requests):
            started = time.monotonic()
            found = await store.recall(USER, next(queries), K)
            samples.append(time.monotonic() - started)
            assert len(found) == len(FACTS)
    finally:
        await store.close()
    return samples


async def run(stack: Stack, requests: int) -> dict[str, dict[str, float]]:
    return {
        'plain MemoryStore.recall, same memories': summary(await plain_searches(requests)),
        'durable, GET /memories?q= through the API': summary(await durable_searches(stack, requests)),
    }


THOUSAND_USER = 'bench-thousand'


async def preload(data_dir: Path, count: int) -> None:
    """`count` memories of THOUSAND_USER in the store under `data_dir`, before the stack opens it."""
    store = await open_store(Settings(data_dir=data_dir))
    try:
        facts = memory_bench.synthetic_facts(count, seed=11)
        now = datetime.now(UTC)
        for start in range(0, count, 256):
            chunk = facts[start : start + 256]
            vectors = (await store.embedder.embed_documents(chunk)).embeddings
            points = [
                memory_point(Memory(new_memory_id(THOUSAND_USER, t), THOUSAND_USER, t, now, now), list(v))
                for t, v in zip(chunk, vectors, strict=True)
            ]
            await store.run_qdrant(store.client.upsert(store.collection, points, wait=True))
    finally:
        await store.close()


async def at_thousand(requests: int, turns: int, memories: int = 1000) -> dict[str, Any]:
    stack = Stack()
    await preload(stack.folder, memories)
    stack.start()
    try:
        token = stack.token(THOUSAND_USER)
        questions = cycle([q.text for q in load_natural().questions])
        headers = {'Authorization': f'Bearer {token}'}
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=headers) as http:
            search = await timed_searches(http, questions, requests, found=K)
            session_id = await create_session(http, token)
        client = await ChatClient(stack.api_url, session_id, token).connect()
        for turn in range(1, turns + 2):  # the first turn warms the session up
            await client.send(f'q-{turn}', next(questions))
            await client.wait_for(lambda t=turn: client.finished(t))
        await client.disconnect()
        round_trip, running, prepared = await recall_activity_times(stack, f'chat-{session_id}')
    finally:
        stack.stop()
    return {
        'memories_of_user': memories,
        'GET /memories?q= (API, top 10)': summary(search),
        # A turn that takes the recall the API prepared (workflows/prepared_recall.py) runs none.
        'recall_memories before a turn, scheduled -> completed': _summary(round_trip[1:]),
        'recall_memories on the memory worker, started -> completed': _summary(running[1:]),
        'turns that took the recall the API prepared': prepared,
    }


def _summary(samples: list[float]) -> dict[str, float]:
    return summary(samples) if samples else {'n': 0, 'p50_ms': float('nan'), 'p95_ms': float('nan')}


async def recall_activity_times(stack: Stack, workflow_id: str) -> tuple[list[float], list[float], int]:
    """Each `recall_memories` of the session's runs: (scheduled -> completed, started -> completed),
    and how many prepared recalls its turns took instead (local activities)."""
    settings = Settings(
        temporal_address=stack.env['DURABLE_CHAT_TEMPORAL_ADDRESS'],
        data_dir=Path(stack.env['DURABLE_CHAT_DATA_DIR']),
    )
    temporal = await connect(settings, plugins=[PydanticAIPlugin()])
    round_trip: list[float] = []
    running: list[float] = []
    prepared = 0
    async for execution in temporal.list_workflows(f'WorkflowId = "{workflow_id}"'):
        handle = temporal.get_workflow_handle(workflow_id, run_id=execution.run_id)
        scheduled: dict[int, float] = {}
        started: dict[int, float] = {}
        for event in (await handle.fetch_history()).events:
            at = event.event_time.ToDatetime(tzinfo=UTC).timestamp()
            if event.HasField('activity_task_scheduled_event_attributes'):
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                if name.split('__')[-1] == RECALL_MEMORIES:
                    scheduled[event.event_id] = at
            elif event.HasField('marker_recorded_event_attributes'):
                data = event.marker_recorded_event_attributes.details.get('data')
                prepared += bool(data and data.payloads and b'"prepared_recall"' in data.payloads[0].data)
            elif event.HasField('activity_task_started_event_attributes'):
                started[event.activity_task_started_event_attributes.scheduled_event_id] = at
            elif event.HasField('activity_task_completed_event_attributes'):
                key = event.activity_task_completed_event_attributes.scheduled_event_id
                if key in scheduled:
                    round_trip.append(at - scheduled[key])
                    running.append(at - started[key])
    return round_trip, running, prepared
