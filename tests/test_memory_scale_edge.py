"""The memory store on Qdrant Edge, the embedded default (memory/edge.py): the store's own tests
(tests/memory), run here on an Edge shard instead of local mode, then what only Edge has to prove:
persistence, the embedder record, the engine the settings pick, and that a bool filter works (the
engine's own `MatchValue(True)` never matches; edge.py stores a keyword beside each bool).
Real engine, real embedder, no mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic_ai import Embedder
from pydantic_ai.embeddings import TestEmbeddingModel
from qdrant_client import AsyncQdrantClient, models

from durable_chat.memory.activities import open_store
from durable_chat.memory.edge import AsyncQdrantEdge, edge_client
from durable_chat.memory.embedder import OnnxMiniLMEmbeddingModel
from durable_chat.memory.operations import ArchivePage, TranscriptRequest
from durable_chat.memory.store import EmbeddingMismatch, MemoryStore
from durable_chat.memory.transcripts import TranscriptStore
from durable_chat.settings import Settings

# The store's tests, collected again in this module: its `store` fixture (below) is Edge's.
from tests.memory.test_expiry import *  # noqa: F403
from tests.memory.test_recall_quality import *  # noqa: F403
from tests.memory.test_store import (  # noqa: F401
    test_a_fact_of_the_maximum_size_is_accepted,
    test_a_retried_remember_leaves_one_memory,
    test_a_retried_update_is_unchanged,
    test_an_id_kept_by_an_updated_memory_is_not_overwritten,
    test_bad_facts_are_refused,
    test_concurrent_identical_writes_leave_one_memory,
    test_forgotten_facts_are_never_recalled,
    test_list_is_oldest_first_and_recall_most_similar_first,
    test_memory_ids_must_be_uuids,
    test_other_bad_arguments,
    test_round_trip,
    test_tenant_isolation,
)
from tests.memory.test_update_rule import (  # noqa: F401
    test_a_contradiction_of_an_old_statement_supersedes_it,
    test_a_recent_contradiction_is_a_conflict_to_ask_about,
    test_a_slot_belongs_to_one_user,
    test_restated_or_contradicting_fact_updates_in_place,
    test_unrelated_fact_is_added,
)
from tests.memory.test_versions import *  # noqa: F403


@pytest.fixture(scope='session')
def embedder() -> Embedder:
    return Embedder(OnnxMiniLMEmbeddingModel())


@pytest.fixture
async def store(embedder: Embedder, tmp_path: Path) -> AsyncIterator[MemoryStore]:
    # As `open_store` opens the default engine: an Edge shard, calls on the store's own thread.
    memory_store = MemoryStore(edge_client(tmp_path / 'edge'), embedder, 'memories', offload=True)
    await memory_store.ensure_collection()
    yield memory_store
    await memory_store.close()


def test_the_default_engine_is_edge(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).qdrant_engine == 'edge'


async def test_open_store_opens_edge_under_the_data_dir(tmp_path: Path) -> None:
    store = await open_store(Settings(data_dir=tmp_path))
    try:
        assert isinstance(store.client._client, AsyncQdrantEdge)  # pyright: ignore[reportPrivateUsage]
        memory = (await store.remember('alice', 'I live in Paris')).memory
    finally:
        await store.close()
    assert (tmp_path / 'qdrant' / 'edge' / 'memories').is_dir()
    # Reopened (as the worker at its next start): the memory is there.
    store = await open_store(Settings(data_dir=tmp_path))
    try:
        assert await store.list('alice') == [memory]
        assert [m.text for m in await store.recall('alice', 'which city do I live in')] == ['I live in Paris']
    finally:
        await store.close()


async def test_local_mode_is_still_there_when_asked_for(tmp_path: Path) -> None:
    store = await open_store(Settings(data_dir=tmp_path, qdrant_engine='local'))
    try:
        assert not isinstance(store.client._client, AsyncQdrantEdge)  # pyright: ignore[reportPrivateUsage]
        assert (await store.remember('alice', 'I live in Paris')).action == 'added'
    finally:
        await store.close()
    assert (tmp_path / 'qdrant' / 'collection' / 'memories').is_dir()


async def test_one_process_owns_the_shard(embedder: Embedder, tmp_path: Path) -> None:
    first = MemoryStore(edge_client(tmp_path), embedder)
    await first.ensure_collection()
    try:
        with pytest.raises(Exception, match='WAL'):
            await MemoryStore(edge_client(tmp_path), embedder).ensure_collection()
    finally:
        await first.close()


async def test_another_embedder_on_the_shard_is_refused(embedder: Embedder, tmp_path: Path) -> None:
    first = MemoryStore(edge_client(tmp_path), embedder)
    await first.remember('alice', 'I live in Paris')
    await first.close()
    client = edge_client(tmp_path)
    try:
        other = Embedder(TestEmbeddingModel('text-embedding-other', provider_name='acme', dimensions=1024))
        with pytest.raises(EmbeddingMismatch, match="'acme:text-embedding-other' \\(1024 dimensions\\)"):
            await MemoryStore(client, other).ensure_collection()
        same_size = Embedder(TestEmbeddingModel('lookalike', provider_name='acme', dimensions=384))
        with pytest.raises(EmbeddingMismatch, match='acme:lookalike'):
            await MemoryStore(client, same_size).ensure_collection()
        points, _ = await client.scroll('memories', limit=10)
        assert [p.payload and p.payload['text'] for p in points] == ['I live in Paris']
    finally:
        await client.close()


async def test_an_empty_collection_without_record_is_adopted(embedder: Embedder, tmp_path: Path) -> None:
    client = edge_client(tmp_path)
    try:
        params = models.VectorParams(size=384, distance=models.Distance.COSINE)
        await client.create_collection('empty', vectors_config=params)
        await MemoryStore(client, embedder, 'empty').ensure_collection()
        info = await client.get_collection('empty')
        assert info.config.metadata is not None
        assert info.config.metadata['embedder'] == 'onnxruntime:all-MiniLM-L6-v2-onnx-int8'
        with pytest.raises(ValueError, match='already exists'):
            await client.create_collection('empty', vectors_config=params)
    finally:
        await client.close()


async def test_bool_payloads_filter_and_read_back_as_bools(tmp_path: Path) -> None:
    client = edge_client(tmp_path)
    try:
        await client.create_collection('c', models.VectorParams(size=2, distance=models.Distance.COSINE))
        await client.create_payload_index('c', 'flag', field_schema=models.PayloadSchemaType.BOOL)
        await client.upsert(
            'c',
            [
                models.PointStruct(id=1, vector=[1.0, 0.0], payload={'flag': True}),
                models.PointStruct(id=2, vector=[0.0, 1.0], payload={'flag': False}),
                models.PointStruct(id=3, vector=[1.0, 1.0], payload={}),
            ],
        )
        true = models.FieldCondition(key='flag', match=models.MatchValue(value=True))
        points, _ = await client.scroll('c', scroll_filter=models.Filter(must_not=[true]))
        assert sorted(p.id for p in points) == [2, 3]
        assert [p.payload for p in points if p.id == 2] == [{'flag': False}]
        hits = await client.query_points('c', query=[1.0, 0.0], query_filter=models.Filter(must=[true]))
        assert [(h.id, h.payload) for h in hits.points] == [(1, {'flag': True})]
        assert (await client.count('c', count_filter=models.Filter(must=[true]))).count == 1
    finally:
        await client.close()


async def test_transcripts_are_payload_only_points_on_edge(tmp_path: Path) -> None:
    client = edge_client(tmp_path)
    transcripts = TranscriptStore(client)
    try:
        await transcripts.ensure_collection()
        turns: list[dict[str, object]] = [{'user_text': 'hello', 'reply': 'hi there'}]
        await transcripts.save(ArchivePage('s1', 'alice', 1, turns))
        chunk = await transcripts.chunk(TranscriptRequest('s1', 'alice'))
        assert chunk.turns == turns
        assert (await transcripts.chunk(TranscriptRequest('s1', 'mallory'))).turns == []
    finally:
        await client.close()


async def test_what_the_store_reads_is_the_same_on_both_engines(embedder: Embedder, tmp_path: Path) -> None:
    """The same statements told to local mode and to Edge: the same memories, versions and recalls."""
    local_client = AsyncQdrantClient(path=str(tmp_path / 'local'), force_disable_check_same_thread=True)
    stores = [
        MemoryStore(local_client, embedder, offload=True),
        MemoryStore(edge_client(tmp_path / 'edge'), embedder, offload=True),
    ]
    said = [
        'I work at a bakery',
        'My sister Anna lives in Lisbon',
        'I quit the bakery, I work at the library now',
    ]
    seen: list[object] = []
    try:
        for store in stores:
            actions = [(await store.remember('alice', text)).action for text in said]
            memories = await store.list('alice')
            versions = [(await store.history('alice', m.id))[1] for m in memories]
            recalled = await store.recall('alice', 'where do I work', k=5, min_score=0.25)
            seen.append(
                (
                    actions,
                    [(m.id, m.text, m.version, m.change) for m in memories],
                    [[(v.id, v.text, v.version) for v in vs] for vs in versions],
                    [(m.id, round(m.score or 0.0, 4)) for m in recalled],
                )
            )
    finally:
        for store in stores:
            await store.close()
    assert seen[0] == seen[1]
    assert seen[0][0] == ['added', 'added', 'updated']  # pyright: ignore[reportIndexIssue]


async def test_local_mode_memories_are_imported_when_edge_first_opens(tmp_path: Path) -> None:
    """An install that kept its memories in local mode (the earlier default) finds them on Edge:
    current memories, their versions, the transcript archive; the local folder is left as it was."""
    local = await open_store(Settings(data_dir=tmp_path, qdrant_engine='local'))
    transcripts = TranscriptStore(local.client, run=local.run_qdrant)
    try:
        await transcripts.ensure_collection()
        await transcripts.save(ArchivePage('s1', 'alice', 1, [{'user_text': 'hello', 'reply': 'hi'}]))
        await local.remember('alice', 'I work at a bakery')
        await local.remember('alice', 'My sister Anna lives in Lisbon')
        updated = await local.remember('alice', 'I quit the bakery, I work at the library now')
        assert updated.action == 'updated'
        before = await local.list('alice')
        history = await local.history('alice', updated.memory.id)
    finally:
        await local.close()

    edge = await open_store(Settings(data_dir=tmp_path))
    try:
        assert isinstance(edge.client._client, AsyncQdrantEdge)  # pyright: ignore[reportPrivateUsage]
        assert await edge.list('alice') == before
        assert await edge.history('alice', updated.memory.id) == history
        recalled = await edge.recall('alice', 'where do I work now', k=1)
        assert [m.text for m in recalled] == ['I quit the bakery, I work at the library now']
        chunk = await TranscriptStore(edge.client, run=edge.run_qdrant).chunk(
            TranscriptRequest('s1', 'alice')
        )
        assert chunk.turns == [{'user_text': 'hello', 'reply': 'hi'}]
        # Undo works on imported versions: the bakery is back.
        assert (await edge.undo('alice', updated.memory.id)).undone == 'update'
        assert 'I work at a bakery' in [m.text for m in await edge.list('alice')]
    finally:
        await edge.close()
    # Imported once: the local folder is still there, untouched by what Edge did since.
    local = await open_store(Settings(data_dir=tmp_path, qdrant_engine='local'))
    try:
        assert await local.list('alice') == before
    finally:
        await local.close()
