"""Long-term memory of each user: facts in one Qdrant collection, recalled by meaning, versioned.

Tenancy. One collection for every user; each point's payload `user_id` is a keyword index marked
as the tenant key, and every read, search, count and delete carries a `user_id` filter, so one
user's memories are invisible to every call made for another, including `forget_all` (the one
call without it tests whether a new memory's id is free, and returns nothing). On a server
the collection is built for that (Qdrant's payload-based multitenancy: `m=0` turns off the global
HNSW graph, `payload_m=16` builds one per user), which also means a search without the user filter
would be a full scan: there is none.

Ids. A new memory's id is `uuid5(NAMESPACE, f'{user_id}\\n{normalised text}')`: two workers racing
to write the same fact write the same point. A retried `remember` finds the fact by its `text_key`
(a hash of the normalised text) and reports `unchanged`, also after an update kept an older id.

Versions and provenance (`memory.points`). Each version records the session and turn it was said
in. A statement that restates, corrects or replaces a memory becomes that memory's new current
version (same id, `created_at` kept); the replaced text stays as a previous version with
`valid_until`, never recalled, shown by `history`, and `undo` makes it current again.

What a new statement does (`remember`, `decision`):
 - the same normalised text as a current memory: `unchanged`;
 - `rules` (the offline assistant): `memory.rules.decide` over the nearest current memories and
   the one holding the same slot: a restatement (cosine >= 0.9, same entities) or a statement that
   says it changed ('I quit the bakery, I'm at the library now', a plan that happened) updates;
   a contradiction with no sign of change of something said in the last day is a `conflict` (nothing
   written: ask the user); otherwise `added`;
 - `propose` (a real model): when some current memory is about the same thing, nothing is written
   and those come back as `candidates`; the model calls again with its decision;
 - `add`, `update` / `supersede` (with the memory's id), `ignore`: that decision, enforced.
Known limits: slots and change words are English; a statement that packs several facts into one
sentence is one memory, and a later change of one of them replaces all of it (kept as a version).

Expiry. A memory may expire (`expires_at`, kept per version): from then on it is neither recalled,
listed, nor judged against by a new statement, and `purge_expired` (run by a Temporal Schedule,
`memory.expiry`) deletes it with its versions. The purge is the one delete made across users:
it selects points by their own `expires_at` only.

Engines (`memory.collection.open_client`). The embedded default is Qdrant Edge (`memory.edge`):
its `user_id` index hands each call the user's points only, so a recall costs what that user holds
(bench/memory_scale.py: 4-20 ms p50 with 1,000 memories of the user, at 10k or 100k in all, most
of it the embedding). Local mode (`DURABLE_CHAT_QDRANT_ENGINE=local`) scans every point in Python
for each filtered call: 0.1-0.2 s per recall at 10k, 1.1-1.4 s at 100k. Both allow one process; a Qdrant
server (`DURABLE_CHAT_QDRANT_URL`) allows many memory workers.
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic_ai import Embedder
from qdrant_client import AsyncQdrantClient, models

from durable_chat.memory.collection import EmbeddingMismatch, QdrantCollection
from durable_chat.memory.points import (
    MAX_FACT_CHARS,
    MAX_RECALL_K,
    NAMESPACE,
    InvalidMemory,
    InvalidMemoryId,
    check_fact,
    check_id,
    check_user,
    current_filter,
    dense,
    expired,
    match,
    memory_filter,
    memory_point,
    new_memory_id,
    text_key,
    to_memory,
    version_id,
    version_point,
    versions_filter,
)
from durable_chat.memory.retrieval import relevant
from durable_chat.memory.rules import SHARED_WORD_SIMILARITY, Candidate, decide, same_subject, slot_of
from durable_chat.memory.types import ChangeKind, Memory, StoreResult, UndoResult

if TYPE_CHECKING:
    from qdrant_client.conversions.common_types import PointId

__all__ = [
    'EmbeddingMismatch',
    'InvalidMemory',
    'InvalidMemoryId',
    'MAX_FACT_CHARS',
    'MAX_RECALL_K',
    'Memory',
    'MemoryStore',
    'NAMESPACE',
    'memory_point',
    'new_memory_id',
    'StoreResult',
]

NEIGHBOURS = 5
"""How many of the nearest memories a new statement is judged against."""
_PAGE = 256


class MemoryStore(QdrantCollection):
    """Facts per user, with their versions (see the module docstring)."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        embedder: Embedder,
        collection: str = 'memories',
        *,
        name: str | None = None,
        offload: bool = False,
    ) -> None:
        super().__init__(client, embedder, collection, name=name, offload=offload)
        self._user_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def remember(
        self,
        user_id: str,
        text: str,
        *,
        session_id: str = '',
        turn: int = 0,
        decision: str = 'rules',
        memory_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> StoreResult:
        """Stores a statement about the user as `decision` says (see the module docstring); with
        `expires_at` (timezone-aware), the stored version expires then."""
        user_id, text = check_user(user_id), check_fact(text)
        if decision not in ('rules', 'propose', 'add', 'update', 'supersede', 'ignore'):
            raise InvalidMemory(f'unknown decision {decision!r}')
        if expires_at is not None and expires_at.tzinfo is None:
            raise InvalidMemory('expires_at needs a time zone (UTC)')
        await self._ensure()
        now = datetime.now(UTC)
        if expires_at is not None and expires_at <= now:
            raise InvalidMemory(f'expires_at {expires_at.isoformat()} has already passed')
        said = Memory('', user_id, text, now, now, session_id=session_id, turn=turn, expires_at=expires_at)
        slot = slot_of(text)
        async with self._user_lock(user_id):
            if same := await self._first(user_id, match('text_key', text_key(text))):
                return StoreResult(memory=same, action='unchanged')
            if decision == 'ignore':
                return StoreResult(memory=said, action='ignored')
            vector = list((await self.embedder.embed_documents(text)).embeddings[0])
            if decision in ('update', 'supersede'):
                if memory_id is None or (target := await self._current(user_id, memory_id)) is None:
                    raise InvalidMemory(f'{decision} needs the id of a current memory, not {memory_id!r}')
                change: ChangeKind = 'superseded' if decision == 'supersede' else 'corrected'
                return await self._new_version(target, said, vector, slot, change)
            if decision == 'add':
                return await self._add(said, vector, slot)
            near = await self._near(user_id, vector, slot)
            candidates = [
                Candidate(m.text, m_slot, m.score or 0.0, (now - m.updated_at).total_seconds())
                for m, m_slot in near
            ]
            if decision == 'propose':
                related = [
                    m for (m, _), c in zip(near, candidates, strict=True) if same_subject(text, slot, c)
                ]
                if related:
                    return StoreResult(memory=said, action='proposed', candidates=related)
                return await self._add(said, vector, slot)
            verdict, index = decide(text, slot, candidates)
            if verdict == 'add' or index is None:
                return await self._add(said, vector, slot)
            target = near[index][0]
            if verdict == 'conflict':
                return StoreResult(memory=said, action='conflict', candidates=[target])
            kind: ChangeKind = 'restated' if verdict == 'restated' else 'superseded'
            return await self._new_version(target, said, vector, slot or near[index][1], kind)

    async def _add(self, said: Memory, vector: list[float], slot: str | None) -> StoreResult:
        said.id = await self._free_id(said.user_id, said.text)
        await self.run_qdrant(
            self.client.upsert(self.collection, points=[memory_point(said, vector, slot)], wait=True)
        )
        return StoreResult(memory=said, action='added')

    async def _new_version(
        self, target: Memory, said: Memory, vector: list[float], slot: str | None, change: ChangeKind
    ) -> StoreResult:
        """`said` becomes the current version of `target`, which is kept as a previous version."""
        [old] = await self.run_qdrant(self.client.retrieve(self.collection, [target.id], with_vectors=True))
        target.score = None
        new = Memory(
            id=target.id,
            user_id=target.user_id,
            text=said.text,
            created_at=target.created_at,
            updated_at=said.updated_at,
            session_id=said.session_id,
            turn=said.turn,
            version=target.version + 1,
            change=change,
            expires_at=said.expires_at,
        )
        points = [
            version_point(target, dense(old.vector), valid_until=said.updated_at),
            memory_point(new, vector, slot if change != 'corrected' else slot_of(new.text)),
        ]
        # One upsert: the previous version and the new current text land together.
        await self.run_qdrant(self.client.upsert(self.collection, points=points, wait=True))
        target.valid_until = said.updated_at
        return StoreResult(memory=new, action='updated', previous=target)

    async def _near(
        self, user_id: str, vector: list[float], slot: str | None
    ) -> list[tuple[Memory, str | None]]:
        """The current memories nearest the statement, and the one holding its slot however far."""
        hits = await self.run_qdrant(
            self.client.query_points(
                self.collection,
                query=vector,
                query_filter=current_filter(user_id),
                limit=NEIGHBOURS,
                score_threshold=SHARED_WORD_SIMILARITY,
                with_payload=True,
            )
        )
        found = [
            (to_memory(h.id, h.payload or {}, h.score), (h.payload or {}).get('slot')) for h in hits.points
        ]
        if slot and not any(s == slot for _, s in found):
            holder = await self.run_qdrant(
                self.client.query_points(
                    self.collection,
                    query=vector,
                    query_filter=current_filter(user_id, match('slot', slot)),
                    limit=1,
                    with_payload=True,
                )
            )
            found = [(to_memory(h.id, h.payload or {}, h.score), slot) for h in holder.points] + found
        return found

    async def _free_id(self, user_id: str, text: str) -> str:
        """`uuid5(user, text)`, unless an updated memory already took it for another text.

        A lookup by id rather than a filtered count: it is O(1) in local mode, and it only tests
        whether a point exists (whoever owns it), so it can't leak a memory.
        """
        for attempt in range(100):
            candidate = new_memory_id(user_id, text, attempt)
            if not await self.run_qdrant(
                self.client.retrieve(self.collection, [candidate], with_payload=False)
            ):
                return candidate
        # Not reachable in practice: it takes 100 memories each updated away from the same first text.
        raise RuntimeError(f'no free memory id for user {user_id!r} after 100 tries')

    async def recall(
        self, user_id: str, query: str, k: int = 5, *, min_score: float | None = None
    ) -> list[Memory]:
        """The user's k current memories most similar to `query`, most similar first, each with
        its cosine; with `min_score`, only those relevant enough (`memory.retrieval.relevant`)."""
        user_id = check_user(user_id)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_RECALL_K:
            raise InvalidMemory(f'k must be an integer from 1 to {MAX_RECALL_K}, not {k!r}')
        if not isinstance(query, str):
            raise InvalidMemory(f'a recall query must be a string, not {type(query).__name__}')
        if not query.strip():
            return []
        await self._ensure()
        # The embedder reads at most 256 tokens; a long message is cut here rather than tokenised whole.
        query = query[: 4 * MAX_FACT_CHARS]
        vector = list((await self.embedder.embed_query(query)).embeddings[0])
        hits = await self.run_qdrant(
            self.client.query_points(
                self.collection,
                query=vector,
                query_filter=current_filter(user_id),
                limit=k,
                score_threshold=min_score,
                with_payload=True,
            )
        )
        memories = [to_memory(hit.id, hit.payload or {}, score=hit.score) for hit in hits.points]
        if min_score is not None:
            memories = [m for m in memories if relevant(query, m.text, m.score or 0.0, min_score)]
        return memories

    async def has_any(self, user_id: str) -> bool:
        user_id = check_user(user_id)
        await self._ensure()
        points, _ = await self.run_qdrant(
            self.client.scroll(self.collection, scroll_filter=current_filter(user_id), limit=1)
        )
        return bool(points)

    async def list(self, user_id: str) -> list[Memory]:
        """Every current memory of the user, oldest first."""
        user_id = check_user(user_id)
        await self._ensure()
        memories = await self._scroll(current_filter(user_id))
        memories.sort(key=lambda m: (m.created_at, m.id))
        return memories

    async def _scroll(self, selector: models.Filter) -> list[Memory]:
        memories: list[Memory] = []
        offset: PointId | None = None
        while True:
            points, offset = await self.run_qdrant(
                self.client.scroll(
                    self.collection, scroll_filter=selector, limit=_PAGE, offset=offset, with_payload=True
                )
            )
            memories.extend(to_memory(p.id, p.payload or {}) for p in points)
            if offset is None:
                return memories

    async def get(self, user_id: str, memory_id: str) -> Memory | None:
        """The user's current memory with this id; None if there is none or it is someone else's."""
        user_id, memory_id = check_user(user_id), check_id(memory_id)
        await self._ensure()
        return await self._current(user_id, memory_id)

    async def _current(self, user_id: str, memory_id: str) -> Memory | None:
        return await self._first(user_id, models.HasIdCondition(has_id=[check_id(memory_id)]))

    async def history(self, user_id: str, memory_id: str) -> tuple[Memory | None, list[Memory]]:
        """The current version and the previous ones, newest first."""
        user_id, memory_id = check_user(user_id), check_id(memory_id)
        await self._ensure()
        current = await self._current(user_id, memory_id)
        if current is None:
            return None, []
        versions = await self._scroll(versions_filter(user_id, memory_id))
        return current, sorted(versions, key=lambda m: -m.version)

    async def undo(self, user_id: str, memory_id: str, *, version: int = 0) -> UndoResult:
        """Undoes the memory's last change: its previous version is current again (the newer text
        is dropped), or, for a memory never changed, the memory is forgotten. With `version`, only
        while that is still the current version: a retried undo changes nothing more."""
        user_id, memory_id = check_user(user_id), check_id(memory_id)
        await self._ensure()
        async with self._user_lock(user_id):
            current = await self._current(user_id, memory_id)
            if current is None:
                return UndoResult()
            if version and current.version != version:
                return UndoResult(memory=current)
            versions = await self._scroll(versions_filter(user_id, memory_id))
            if not versions:
                await self._delete(memory_filter(user_id, memory_id))
                return UndoResult(undone='add')
            last = max(versions, key=lambda m: m.version)
            [point] = await self.run_qdrant(
                self.client.retrieve(
                    self.collection, [version_id(memory_id, last.version)], with_vectors=True
                )
            )
            last.valid_until = None
            await self.run_qdrant(
                self.client.upsert(
                    self.collection,
                    points=[memory_point(last, dense(point.vector))],
                    wait=True,
                )
            )
            await self.run_qdrant(self.client.delete(self.collection, points_selector=[point.id], wait=True))
            return UndoResult(undone='update', memory=last)

    async def forget(self, user_id: str, memory_id: str) -> bool:
        """Deletes the user's memory and its versions; False if there was none (already
        forgotten, or another user's)."""
        user_id, memory_id = check_user(user_id), check_id(memory_id)
        await self._ensure()
        async with self._user_lock(user_id):
            if await self._current(user_id, memory_id) is None:
                return False
            await self._delete(memory_filter(user_id, memory_id))
            return True

    async def forget_all(self, user_id: str) -> int:
        """Deletes every memory (and version) of this user, and only of this user; returns how many memories."""
        user_id = check_user(user_id)
        await self._ensure()
        async with self._user_lock(user_id):
            count = await self._count(current_filter(user_id))
            if await self._count(models.Filter(must=[match('user_id', user_id)])):
                await self._delete(models.Filter(must=[match('user_id', user_id)]))
            return count

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Deletes every point past its `expires_at`, and the versions of each expired memory
        (whoever's: a maintenance call); returns how many points it deleted."""
        await self._ensure()
        gone = await self._scroll_points(models.Filter(must=[expired(now)]))
        if not gone:
            return 0
        ids: list[PointId] = [p.id for p in gone]
        memories = [str(p.id) for p in gone if not (p.payload or {}).get('previous')]
        if memories:
            versions = models.Filter(
                must=[models.FieldCondition(key='memory_id', match=models.MatchAny(any=memories))]
            )
            ids += [p.id for p in await self._scroll_points(versions)]
        ids = list(dict.fromkeys(ids))
        await self.run_qdrant(self.client.delete(self.collection, points_selector=ids, wait=True))
        return len(ids)

    async def _scroll_points(self, selector: models.Filter) -> list[models.Record]:
        records: list[models.Record] = []
        offset: PointId | None = None
        while True:
            points, offset = await self.run_qdrant(
                self.client.scroll(
                    self.collection, scroll_filter=selector, limit=_PAGE, offset=offset, with_payload=True
                )
            )
            records.extend(points)
            if offset is None:
                return records

    async def _create_indexes(self) -> None:
        await super()._create_indexes()
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Payload indexes have no effect in the local Qdrant')
            await self.run_qdrant(
                self.client.create_payload_index(
                    self.collection, 'expires_at', field_schema=models.PayloadSchemaType.DATETIME
                )
            )

    async def _delete(self, selector: models.Filter) -> None:
        await self.run_qdrant(
            self.client.delete(
                self.collection, points_selector=models.FilterSelector(filter=selector), wait=True
            )
        )

    async def _first(self, user_id: str, condition: models.Condition) -> Memory | None:
        points, _ = await self.run_qdrant(
            self.client.scroll(
                self.collection, scroll_filter=current_filter(user_id, condition), limit=1, with_payload=True
            )
        )
        return to_memory(points[0].id, points[0].payload or {}) if points else None

    def _user_lock(self, user_id: str) -> asyncio.Lock:
        """Serialises one user's writes in this process, so two turns can't both add the same slot."""
        lock = self._user_locks.get(user_id)
        if lock is None:
            lock = self._user_locks[user_id] = asyncio.Lock()
        return lock
