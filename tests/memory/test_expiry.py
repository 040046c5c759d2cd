"""Memory expiry against real Qdrant local mode and the real embedder: an expired memory is not
recalled, listed or judged against, and the purge deletes only expired points (with their versions).

An expired memory is written as a bulk import would (`memory_point`) with `expires_at` in the past:
the store itself refuses an expiry that has already passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from durable_chat.memory.store import InvalidMemory, MemoryStore, memory_point, new_memory_id
from durable_chat.memory.types import Memory


async def _write_expired(store: MemoryStore, user: str, text: str) -> Memory:
    said = datetime.now(UTC) - timedelta(days=8)
    memory = Memory(new_memory_id(user, text), user, text, said, said, expires_at=said + timedelta(days=7))
    vector = list((await store.embedder.embed_documents(text)).embeddings[0])
    await store.run_qdrant(store.client.upsert(store.collection, [memory_point(memory, vector)], wait=True))
    return memory


async def test_expired_memory_is_not_recalled_listed_or_found(store: MemoryStore) -> None:
    gone = await _write_expired(store, 'alice', 'I am staying at the Hilton in Rome')
    later = datetime.now(UTC) + timedelta(days=7)
    kept = (await store.remember('alice', 'I have a dog named Rex', expires_at=later)).memory
    forever = (await store.remember('alice', 'My favourite colour is blue')).memory

    assert kept.expires_at == later and forever.expires_at is None
    assert [m.id for m in await store.list('alice')] == [kept.id, forever.id]
    assert (await store.list('alice'))[0].expires_at == later
    assert await store.get('alice', gone.id) is None
    recalled = await store.recall('alice', 'which hotel am I staying at in Rome?', k=5)
    assert gone.id not in [m.id for m in recalled]
    assert not await store.forget('alice', gone.id)


async def test_user_with_only_expired_memories_has_none(store: MemoryStore) -> None:
    await _write_expired(store, 'bob', 'I am in Berlin this week')
    assert not await store.has_any('bob')
    assert await store.list('bob') == []


async def test_new_statement_is_not_judged_against_an_expired_memory(store: MemoryStore) -> None:
    await _write_expired(store, 'carol', 'I live in Paris')
    result = await store.remember('carol', 'I live in Lyon', decision='propose')
    assert (result.action, result.candidates) == ('added', [])
    # The same text again is a new memory, not `unchanged` against the expired one.
    again = await store.remember('carol', 'I live in Paris', decision='add')
    assert again.action == 'added'
    assert sorted(m.text for m in await store.list('carol')) == ['I live in Lyon', 'I live in Paris']


async def test_an_expiry_already_past_or_without_zone_is_refused(store: MemoryStore) -> None:
    with pytest.raises(InvalidMemory, match='already passed'):
        await store.remember('dan', 'I am at the gym', expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(InvalidMemory, match='time zone'):
        await store.remember('dan', 'I am at the gym', expires_at=datetime(2099, 1, 1))


async def test_each_version_keeps_its_own_expiry(store: MemoryStore) -> None:
    week = datetime.now(UTC) + timedelta(days=7)
    first = (await store.remember('erin', 'I work at the bakery', expires_at=week)).memory
    updated = await store.remember('erin', 'I work at the library', decision='supersede', memory_id=first.id)
    assert updated.memory.expires_at is None
    current, versions = await store.history('erin', first.id)
    assert current is not None and current.expires_at is None
    assert [v.expires_at for v in versions] == [week]


async def test_purge_deletes_only_expired_points_and_their_versions(store: MemoryStore) -> None:
    gone = await _write_expired(store, 'fay', 'I am in Oslo this week')
    other = await _write_expired(store, 'gus', 'I am in Madrid this week')
    kept = (
        await store.remember('fay', 'I have a cat', expires_at=datetime.now(UTC) + timedelta(days=1))
    ).memory
    forever = (await store.remember('fay', 'I work at the library')).memory
    # A memory whose current version expired after a change: its previous version goes with it.
    changing = (await store.remember('gus', 'I work at the bakery')).memory
    await store.remember('gus', 'I moved to the library', decision='supersede', memory_id=changing.id)
    [point] = await store.client.retrieve(store.collection, [changing.id], with_vectors=True)
    past = datetime.now(UTC) - timedelta(minutes=1)
    payload = dict(point.payload or {}) | {'expires_at': past.isoformat()}
    await store.run_qdrant(store.client.set_payload(store.collection, payload, [changing.id], wait=True))

    before = await store.client.count(store.collection, exact=True)
    assert await store.purge_expired() == 4  # two expired memories, one expired memory and its version
    assert (await store.client.count(store.collection, exact=True)).count == before.count - 4
    assert [m.id for m in await store.list('fay')] == [kept.id, forever.id]
    assert await store.list('gus') == []
    for user, memory_id in (('fay', gone.id), ('gus', other.id), ('gus', changing.id)):
        assert await store.history(user, memory_id) == (None, [])
        assert not await store.client.retrieve(store.collection, [memory_id])
    assert await store.purge_expired() == 0
