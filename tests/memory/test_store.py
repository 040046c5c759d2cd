"""The memory store against real Qdrant local mode and the real embedder: no mocks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic_ai import Embedder
from pydantic_ai.embeddings import TestEmbeddingModel
from qdrant_client import AsyncQdrantClient, models

from durable_chat.memory.rules import normalise
from durable_chat.memory.store import (
    MAX_FACT_CHARS,
    NAMESPACE,
    EmbeddingMismatch,
    InvalidMemory,
    InvalidMemoryId,
    MemoryStore,
    memory_point,
    new_memory_id,
)
from durable_chat.memory.types import Memory

A_FACTS = ['I live in Paris', 'I have a dog named Rex', 'My favourite colour is blue']


async def test_round_trip(store: MemoryStore) -> None:
    result = await store.remember('alice', 'I have a dog named Rex.')
    assert result.action == 'added'
    memory = result.memory
    assert memory.id == str(uuid.uuid5(NAMESPACE, f'alice\n{normalise("I have a dog named Rex.")}'))
    assert (memory.user_id, memory.text) == ('alice', 'I have a dog named Rex.')
    assert memory.created_at == memory.updated_at and memory.created_at.tzinfo is not None

    assert await store.get('alice', memory.id) == memory
    assert await store.list('alice') == [memory]
    recalled = await store.recall('alice', "What's my dog called?", k=3)
    assert [m.id for m in recalled] == [memory.id]
    assert recalled[0].score is not None and recalled[0].score > 0.5


async def test_list_is_oldest_first_and_recall_most_similar_first(store: MemoryStore) -> None:
    for text in A_FACTS:
        await store.remember('alice', text)
    assert [m.text for m in await store.list('alice')] == A_FACTS
    recalled = await store.recall('alice', 'which colour do I like best?', k=3)
    assert recalled[0].text == 'My favourite colour is blue'
    scores = [m.score for m in recalled]
    assert scores == sorted(scores, reverse=True)
    assert await store.recall('alice', 'which colour do I like best?', k=3, min_score=0.99) == []


async def test_a_retried_remember_leaves_one_memory(store: MemoryStore) -> None:
    first = await store.remember('alice', 'I have a dog named Rex')
    again = await store.remember('alice', 'I have a dog named Rex')
    assert again.action == 'unchanged'
    assert again.memory == first.memory
    # The same fact in another case, spacing or with a final stop is the same memory.
    assert (await store.remember('alice', '  i have a  DOG named rex. ')).action == 'unchanged'
    assert len(await store.list('alice')) == 1


async def test_a_retried_update_is_unchanged(store: MemoryStore) -> None:
    original = await store.remember('alice', 'I live in Paris')
    update = await store.remember('alice', 'I moved to Lyon')
    retry = await store.remember('alice', 'I moved to Lyon')
    assert (update.action, retry.action) == ('updated', 'unchanged')
    assert update.memory.id == retry.memory.id == original.memory.id
    assert [m.text for m in await store.list('alice')] == ['I moved to Lyon']


async def test_an_id_kept_by_an_updated_memory_is_not_overwritten(store: MemoryStore) -> None:
    # An update keeps the memory's first id, which was derived from its first text. Should that
    # first text come back as a separate fact, it gets the next free id instead of overwriting.
    taken = new_memory_id('alice', 'I play chess')
    now = datetime.now(UTC)
    kept = Memory(id=taken, user_id='alice', text='I collect stamps', created_at=now, updated_at=now)
    vector = list((await store.embedder.embed_documents(kept.text)).embeddings[0])
    await store.client.upsert(store.collection, [memory_point(kept, vector)])

    added = await store.remember('alice', 'I play chess')
    assert added.action == 'added'
    assert added.memory.id == new_memory_id('alice', 'I play chess', 1)
    assert sorted(m.text for m in await store.list('alice')) == ['I collect stamps', 'I play chess']
    assert (await store.remember('alice', 'I play chess')).action == 'unchanged'


async def test_concurrent_identical_writes_leave_one_memory(store: MemoryStore) -> None:
    results = await asyncio.gather(*(store.remember('alice', 'I play the cello') for _ in range(5)))
    assert sorted(r.action for r in results) == ['added'] + ['unchanged'] * 4
    assert len(await store.list('alice')) == 1


async def test_tenant_isolation(store: MemoryStore) -> None:
    a_ids = [(await store.remember('a', text)).memory.id for text in A_FACTS]
    b_memory = (await store.remember('b', 'I live in Paris')).memory
    assert b_memory.id not in a_ids  # the same fact is a separate memory per user

    # B never sees A's memories, whatever B asks for.
    for text in A_FACTS:
        assert [m.user_id for m in await store.recall('b', text, k=10)] == ['b']
    assert await store.list('b') == [b_memory]
    for a_id in a_ids:
        assert await store.get('b', a_id) is None
        assert await store.forget('b', a_id) is False
    assert [m.id for m in await store.list('a')] == a_ids

    # A per-user delete-all deletes that user's memories and nobody else's.
    assert await store.forget_all('b') == 1
    assert await store.list('b') == []
    assert [m.id for m in await store.list('a')] == a_ids
    assert await store.forget_all('nobody') == 0
    assert len(await store.list('a')) == 3


async def test_forgotten_facts_are_never_recalled(store: MemoryStore) -> None:
    dog = (await store.remember('alice', 'I have a dog named Rex')).memory
    await store.remember('alice', 'I live in Paris')
    assert await store.forget('alice', dog.id) is True
    assert await store.forget('alice', dog.id) is False
    assert await store.get('alice', dog.id) is None
    assert all(m.id != dog.id for m in await store.recall('alice', 'What is my dog called?', k=10))
    assert [m.text for m in await store.list('alice')] == ['I live in Paris']

    assert await store.forget_all('alice') == 1
    assert await store.recall('alice', 'Where do I live?', k=10) == []
    assert await store.list('alice') == []
    # Told again after forgetting, it is a new memory.
    assert (await store.remember('alice', 'I have a dog named Rex')).action == 'added'


async def test_memories_survive_reopening(embedder: Embedder, qdrant_path: Path) -> None:
    first = MemoryStore(AsyncQdrantClient(path=str(qdrant_path)), embedder)
    memory = (await first.remember('alice', 'I live in Paris')).memory
    await first.close()
    second = MemoryStore(AsyncQdrantClient(path=str(qdrant_path)), embedder)
    try:
        assert await second.list('alice') == [memory]
    finally:
        await second.close()


async def test_another_embedder_on_the_collection_is_refused(embedder: Embedder, qdrant_path: Path) -> None:
    first = MemoryStore(AsyncQdrantClient(path=str(qdrant_path)), embedder)
    await first.remember('alice', 'I live in Paris')
    await first.close()

    other = Embedder(TestEmbeddingModel('text-embedding-other', provider_name='acme', dimensions=1024))
    client = AsyncQdrantClient(path=str(qdrant_path))
    try:
        with pytest.raises(EmbeddingMismatch) as raised:
            await MemoryStore(client, other).ensure_collection()
        message = str(raised.value)
        assert "'onnxruntime:all-MiniLM-L6-v2-onnx-int8' with 384 dimensions" in message
        assert "'acme:text-embedding-other' (1024 dimensions)" in message

        # Same dimension, another model: still two vector spaces.
        same_size = Embedder(TestEmbeddingModel('lookalike', provider_name='acme', dimensions=384))
        with pytest.raises(EmbeddingMismatch, match='acme:lookalike'):
            await MemoryStore(client, same_size).ensure_collection()
        # Same name, other dimension (e.g. a `dimensions` setting changed).
        resized = Embedder(TestEmbeddingModel(dimensions=8))
        with pytest.raises(EmbeddingMismatch, match='8 dimensions'):
            await MemoryStore(
                client, resized, name='onnxruntime:all-MiniLM-L6-v2-onnx-int8'
            ).ensure_collection()
        # Nothing was written by the refused stores.
        points, _ = await client.scroll('memories', limit=10)
        assert [p.payload and p.payload['text'] for p in points] == ['I live in Paris']
    finally:
        await client.close()


async def test_a_collection_without_embedder_record(embedder: Embedder, qdrant_path: Path) -> None:
    client = AsyncQdrantClient(path=str(qdrant_path))
    try:
        params = models.VectorParams(size=384, distance=models.Distance.COSINE)
        # Empty: adopted, and the record is written.
        await client.create_collection('empty', vectors_config=params)
        await MemoryStore(client, embedder, 'empty').ensure_collection()
        info = await client.get_collection('empty')
        assert info.config.metadata is not None
        assert info.config.metadata['embedder'] == 'onnxruntime:all-MiniLM-L6-v2-onnx-int8'
        # Holding vectors of unknown origin: refused.
        await client.create_collection('unknown', vectors_config=params)
        await client.upsert('unknown', [models.PointStruct(id=1, vector=[1.0] * 384, payload={})])
        with pytest.raises(EmbeddingMismatch, match='no embedder record'):
            await MemoryStore(client, embedder, 'unknown').ensure_collection()
    finally:
        await client.close()


@pytest.mark.parametrize('text', ['', '   ', '\n\t', 'x' * (MAX_FACT_CHARS + 1)])
async def test_bad_facts_are_refused(store: MemoryStore, text: str) -> None:
    with pytest.raises(InvalidMemory) as raised:
        await store.remember('alice', text)
    assert isinstance(raised.value, ValueError)
    assert 'empty' in str(raised.value) or str(MAX_FACT_CHARS) in str(raised.value)
    assert await store.list('alice') == []


async def test_a_fact_of_the_maximum_size_is_accepted(store: MemoryStore) -> None:
    assert (await store.remember('alice', 'y' * MAX_FACT_CHARS)).action == 'added'


@pytest.mark.parametrize('memory_id', ['abc', '', '12345', 'not-a-uuid-at-all-0000000000000000'])
async def test_memory_ids_must_be_uuids(store: MemoryStore, memory_id: str) -> None:
    with pytest.raises(InvalidMemoryId, match='UUID'):
        await store.get('alice', memory_id)
    with pytest.raises(InvalidMemoryId, match='UUID'):
        await store.forget('alice', memory_id)


async def test_other_bad_arguments(store: MemoryStore) -> None:
    with pytest.raises(InvalidMemory, match='user_id'):
        await store.remember('  ', 'I live in Paris')
    with pytest.raises(InvalidMemory, match='user_id'):
        await store.forget_all('')
    for k in (0, 51, True):
        with pytest.raises(InvalidMemory, match='k must be'):
            await store.recall('alice', 'anything', k=k)
    assert await store.recall('alice', '   ', k=5) == []
