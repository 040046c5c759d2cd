"""`GET /memories?q=` through the real API, request -> response, beside the same search in-process.

The durable path: the API reaches the memory worker through Temporal (it never opens Qdrant), which
embeds the query and searches the user's memories. The plain path: `MemoryStore.recall` on a store
of its own holding the same memories (the embedding and the search, without API or Temporal).
The user's memories are told through chat turns first, as a user would.
"""

from __future__ import annotations

import tempfile
import time
from itertools import cycle
from pathlib import Path

import httpx

from bench.chatter import create_session
from bench.stack import Stack
from bench.stats import summary
from durable_chat.memory.activities import open_store
from durable_chat.settings import Settings
from durable_chat.testing.chat_client import ChatClient

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
    samples: list[float] = []
    headers = {'Authorization': f'Bearer {token}'}
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=headers) as http:
        queries = cycle(QUERIES)
        for _ in range(5):  # connections, the API's Temporal client and the embedder warm up
            (await http.get('/memories', params={'q': next(queries), 'k': K})).raise_for_status()
        for _ in range(requests):
            started = time.monotonic()
            response = await http.get('/memories', params={'q': next(queries), 'k': K})
            samples.append(time.monotonic() - started)
            response.raise_for_status()
            assert len(response.json()) == len(FACTS), response.text
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
