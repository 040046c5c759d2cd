"""Long-term memory of each user: facts in one Qdrant collection, recalled by meaning.

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

Embedder record. The collection metadata holds `{'embedder': 'system:model', 'dimension': n}`:
Qdrant's place for application data about a collection ("inference model info" is its documented
use), kept outside the points so no search, list or delete can stumble on it or remove it. The
vector size of the collection is checked as well. Opening a collection recorded for another
embedder (name or dimension) raises `EmbeddingMismatch`: vectors of two models would not be
comparable, and mixing them would make recall silently return garbage.

Update rule (`remember`), deterministic and evaluated per user, in order:
 1. Same normalised text as a stored memory (case, spacing, final stop ignored): `unchanged`.
 2. The fact sets a slot (`memory.rules.slot_of`: where I live, my name, my job, my employer, my
    favourite X, my age, birthday, partner's name, diet, ...) and a stored memory holds that slot:
    that memory is `updated` in place, whatever the similarity ("I moved to Lyon" replaces "I live
    in Paris"; "My favourite colour is green" replaces "my favorite color is blue").
 3. Otherwise the nearest stored memory is `updated` when it is a restatement: cosine similarity
    at least `UPDATE_SIMILARITY`, no conflicting slot (both set and different), and the same
    anchors (`memory.rules.anchors`: numbers, names, the people or pets it is about), so "a dog
    named Rex" never replaces "a dog named Max" and "my wife is named Anna" never replaces "my
    sister is named Anna" however close their vectors are.
 4. Otherwise the fact is `added`.
An update keeps the id and `created_at`, replaces the text and vector, and bumps `updated_at`.
The threshold is high on purpose. Measured with this embedder: restatements score 0.86-0.98
("I play the guitar" / "I play guitar" 0.97; "I enjoy reading science fiction" / "I like to read
sci-fi books" 0.86, under the threshold, so kept as a near-duplicate); distinct facts that name no entity reach 0.83 ("I like hiking in the
mountains" / "I like skiing in the mountains"), and with different entities 0.975 ("a meeting
with my boss on Friday" / "... on Thursday", which the anchors keep apart). A missed restatement
costs one near-duplicate; a false match would destroy a fact.
Known limits: a fact that packs several attributes into one sentence is one memory, and a later
slot update replaces all of it (the agent should remember one fact at a time); a changed number
outside a slot ("My son Leo is 9" -> "... is 10") is added, not updated, because the anchors
differ; slots are English-only. Writes of one user are serialised within a process; two processes
writing the same user's slot at the same instant could both add (on a server), never lose a fact.

Local mode (the embedded default) scans every point in Python for each filtered call: fine for
thousands of memories, 0.5-0.7 s per recall at 50k (bench/memory.py); beyond ~10k use a server.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import uuid
import warnings
import weakref
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_ai import Embedder
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from durable_chat.memory.embedder import embedder_name
from durable_chat.memory.rules import anchors, normalise, slot_of
from durable_chat.memory.types import Memory, StoreAction, StoreResult

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
    'UPDATE_SIMILARITY',
]

NAMESPACE = uuid.UUID('5b0b6c1e-3f5e-4d2b-9a47-6d2c1f0e8a13')
"""Persisted: part of every memory id. Never change it."""

MAX_FACT_CHARS = 2_000
"""A fact is a sentence or two; anything longer is a document, not a memory."""
MAX_USER_ID_CHARS = 256
MAX_RECALL_K = 50
UPDATE_SIMILARITY = 0.9
"""Cosine similarity from which the nearest memory is a restatement (rule 3 above)."""
NEIGHBOURS = 5
"""How many of the nearest memories rule 3 looks at."""
SCHEMA_VERSION = 1

_PAGE = 256

T = TypeVar('T')


class InvalidMemory(ValueError):
    """A fact, user id or argument that the store refuses; the message says why."""


class InvalidMemoryId(InvalidMemory):
    """A memory id that is not a UUID string."""


class EmbeddingMismatch(RuntimeError):
    """The collection was built with another embedder; using this one would mix vector spaces."""

    def __init__(
        self,
        collection: str,
        recorded_name: str | None,
        recorded_dimension: int | None,
        name: str,
        dimension: int,
    ) -> None:
        self.recorded_name = recorded_name
        self.recorded_dimension = recorded_dimension
        self.name = name
        self.dimension = dimension
        recorded = (
            f'embedder {recorded_name!r} with {recorded_dimension} dimensions'
            if recorded_name is not None
            else f'no embedder record ({recorded_dimension} dimensions)'
        )
        super().__init__(
            f'Qdrant collection {collection!r} holds vectors of {recorded}, but this process embeds '
            f'with {name!r} ({dimension} dimensions). Set DURABLE_CHAT_EMBEDDING_MODEL back to the '
            'recorded embedder, or point DURABLE_CHAT_MEMORY_COLLECTION at a new collection '
            '(re-embedding old memories is a migration, not something done silently).'
        )


class MemoryStore:
    """Facts per user over an `AsyncQdrantClient` (local mode on disk, or a server)."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        embedder: Embedder,
        collection: str = 'memories',
        *,
        name: str | None = None,
        offload: bool = False,
    ) -> None:
        """`offload=True` runs every Qdrant call on a thread of its own: for local mode, whose
        `async` methods compute in the caller's thread (a filtered search scans every point in
        Python: ~10 ms at 1k points, ~0.5 s at 50k) and would otherwise stall the event loop that
        also streams tokens and heartbeats activities. Open such a client with
        `force_disable_check_same_thread=True` (its SQLite file is then used from that thread).
        Measured at 1k points: the longest stall of a recall drops from ~100 ms to ~30 ms; what is
        left is the scan holding the GIL.
        """
        self.client = client
        self._thread = _LoopThread() if offload else None
        self.embedder = embedder
        self.collection = collection
        self.embedder_name = name or embedder_name(embedder)
        self.dimension: int | None = None
        self._ready = asyncio.Lock()
        self._user_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def ensure_collection(self) -> None:
        """Creates the collection for this embedder, or checks that an existing one was made with it."""
        async with self._ready:
            if self.dimension is not None:
                return
            probe = await self.embedder.embed_documents('dimension probe')
            dimension = len(probe.embeddings[0])
            if not await self.run_qdrant(self.client.collection_exists(self.collection)):
                await self._create(dimension)
            await self._check(dimension)
            await self._create_indexes()
            self.dimension = dimension

    async def _create(self, dimension: int) -> None:
        try:
            await self.run_qdrant(
                self.client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
                    hnsw_config=models.HnswConfigDiff(m=0, payload_m=16),
                    metadata=self._record(dimension),
                )
            )
        except (ValueError, UnexpectedResponse):
            # Another process created it between our check and our create: _check judges it.
            if not await self.run_qdrant(self.client.collection_exists(self.collection)):
                raise

    def _record(self, dimension: int) -> dict[str, Any]:
        return {'embedder': self.embedder_name, 'dimension': dimension, 'schema': SCHEMA_VERSION}

    async def _check(self, dimension: int) -> None:
        info = await self.run_qdrant(self.client.get_collection(self.collection))
        vectors = info.config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else None
        metadata = info.config.metadata or {}
        recorded_name = metadata.get('embedder')
        recorded_dimension = metadata.get('dimension', size)
        if recorded_name is None and size == dimension and not await self._count(None):
            # An empty collection without a record (made by hand, or by a server that dropped the
            # metadata): nothing can be mixed yet, so adopt it and write the record.
            await self.run_qdrant(
                self.client.update_collection(self.collection, metadata=self._record(dimension))
            )
            return
        if recorded_name != self.embedder_name or recorded_dimension != dimension or size != dimension:
            raise EmbeddingMismatch(
                self.collection, recorded_name, recorded_dimension, self.embedder_name, dimension
            )

    async def _create_indexes(self) -> None:
        # Local mode ignores payload indexes and warns once; a server needs them for filtering
        # and for the per-user graphs (`payload_m`). Creating an existing index is a no-op.
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Payload indexes have no effect in the local Qdrant')
            await self.run_qdrant(
                self.client.create_payload_index(
                    self.collection,
                    'user_id',
                    field_schema=models.KeywordIndexParams(
                        type=models.KeywordIndexType.KEYWORD, is_tenant=True
                    ),
                )
            )
            for key in ('text_key', 'slot'):
                await self.run_qdrant(
                    self.client.create_payload_index(
                        self.collection, key, field_schema=models.PayloadSchemaType.KEYWORD
                    )
                )

    async def _ensure(self) -> None:
        if self.dimension is None:
            await self.ensure_collection()

    async def remember(self, user_id: str, text: str) -> StoreResult:
        """Stores a fact about the user: added, updated in place, or unchanged (see the module rule)."""
        user_id = _check_user(user_id)
        text = _check_fact(text)
        await self._ensure()
        key, slot = _text_key(text), slot_of(text)
        async with self._user_lock(user_id):
            same, target = await self._same_or_slot(user_id, key, slot)
            if same is not None:
                return StoreResult(memory=same, action='unchanged')
            vector = list((await self.embedder.embed_documents(text)).embeddings[0])
            if target is None and (restated := await self._restated(user_id, vector, slot, text)):
                target, slot = restated[0], slot or restated[1]
            now = datetime.now(UTC)
            action: StoreAction
            if target is not None:
                memory, action = target, 'updated'
                memory.text, memory.updated_at = text, now
            else:
                memory_id = await self._free_id(user_id, text)
                memory = Memory(id=memory_id, user_id=user_id, text=text, created_at=now, updated_at=now)
                action = 'added'
            await self.run_qdrant(
                self.client.upsert(self.collection, points=[memory_point(memory, vector, slot)], wait=True)
            )
            return StoreResult(memory=memory, action=action)

    async def _same_or_slot(
        self, user_id: str, key: str, slot: str | None
    ) -> tuple[Memory | None, Memory | None]:
        """The user's memory with this exact text (rule 1) and the one holding this slot (rule 2),
        in one filtered read: in local mode each filter is a scan of the whole collection."""
        wanted: list[models.Condition] = [_match('text_key', key)]
        if slot:
            wanted.append(_match('slot', slot))
        points, _ = await self.run_qdrant(
            self.client.scroll(
                self.collection,
                scroll_filter=models.Filter(must=[_match('user_id', user_id)], should=wanted),
                limit=4,
                with_payload=True,
            )
        )
        same = holder = None
        for point in points:
            payload = point.payload or {}
            if payload.get('text_key') == key:
                same = same or _memory(point.id, payload)
            elif slot and payload.get('slot') == slot:
                holder = holder or _memory(point.id, payload)
        return same, holder

    async def _restated(
        self, user_id: str, vector: list[float], slot: str | None, text: str
    ) -> tuple[Memory, str | None] | None:
        """The nearest memory this fact restates (rule 3), with its slot."""
        hits = await self.run_qdrant(
            self.client.query_points(
                self.collection,
                query=vector,
                query_filter=_user_filter(user_id),
                limit=NEIGHBOURS,
                score_threshold=UPDATE_SIMILARITY,
                with_payload=True,
            )
        )
        wanted = anchors(text)
        for hit in hits.points:
            payload = hit.payload or {}
            other_slot = payload.get('slot')
            if slot and other_slot and other_slot != slot:
                continue
            if anchors(payload['text']) != wanted:
                continue
            return _memory(hit.id, payload), other_slot
        return None

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
        """The user's k memories most similar to `query`, most similar first, each with its score."""
        user_id = _check_user(user_id)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_RECALL_K:
            raise InvalidMemory(f'k must be an integer from 1 to {MAX_RECALL_K}, not {k!r}')
        if not isinstance(query, str):
            raise InvalidMemory(f'a recall query must be a string, not {type(query).__name__}')
        if not query.strip():
            return []
        await self._ensure()
        # The embedder reads at most 256 tokens; a long message is cut here rather than tokenised whole.
        vector = list((await self.embedder.embed_query(query[: 4 * MAX_FACT_CHARS])).embeddings[0])
        hits = await self.run_qdrant(
            self.client.query_points(
                self.collection,
                query=vector,
                query_filter=_user_filter(user_id),
                limit=k,
                score_threshold=min_score,
                with_payload=True,
            )
        )
        return [_memory(hit.id, hit.payload or {}, score=hit.score) for hit in hits.points]

    async def has_any(self, user_id: str) -> bool:
        user_id = _check_user(user_id)
        await self._ensure()
        points, _ = await self.run_qdrant(
            self.client.scroll(self.collection, scroll_filter=_user_filter(user_id), limit=1)
        )
        return bool(points)

    async def list(self, user_id: str) -> list[Memory]:
        """Every memory of the user, oldest first."""
        user_id = _check_user(user_id)
        await self._ensure()
        memories: list[Memory] = []
        offset: PointId | None = None
        while True:
            points, offset = await self.run_qdrant(
                self.client.scroll(
                    self.collection,
                    scroll_filter=_user_filter(user_id),
                    limit=_PAGE,
                    offset=offset,
                    with_payload=True,
                )
            )
            memories.extend(_memory(p.id, p.payload or {}) for p in points)
            if offset is None:
                break
        memories.sort(key=lambda m: (m.created_at, m.id))
        return memories

    async def get(self, user_id: str, memory_id: str) -> Memory | None:
        """The user's memory with this id; None if it does not exist or belongs to someone else."""
        user_id = _check_user(user_id)
        memory_id = _check_id(memory_id)
        await self._ensure()
        return await self._first(user_id, models.HasIdCondition(has_id=[memory_id]))

    async def forget(self, user_id: str, memory_id: str) -> bool:
        """Deletes the user's memory; False if there was none (already forgotten, or another user's)."""
        user_id = _check_user(user_id)
        memory_id = _check_id(memory_id)
        await self._ensure()
        selector = _user_filter(user_id, memory_id)
        async with self._user_lock(user_id):
            if not await self._count(selector):
                return False
            await self.run_qdrant(
                self.client.delete(self.collection, points_selector=models.FilterSelector(filter=selector))
            )
            return True

    async def forget_all(self, user_id: str) -> int:
        """Deletes every memory of this user, and only of this user; returns how many."""
        user_id = _check_user(user_id)
        await self._ensure()
        selector = _user_filter(user_id)
        async with self._user_lock(user_id):
            count = await self._count(selector)
            if count:
                await self.run_qdrant(
                    self.client.delete(
                        self.collection, points_selector=models.FilterSelector(filter=selector)
                    )
                )
            return count

    async def close(self) -> None:
        try:
            await self.run_qdrant(self.client.close())
        finally:
            if self._thread is not None:
                self._thread.stop()

    async def run_qdrant(self, call: Coroutine[Any, Any, T]) -> T:
        """Awaits a call of `self.client`, on the offload thread if there is one.

        Other code sharing this client (e.g. another collection in the same local folder) should
        call through here too: local mode is not meant to be used from two threads at once.
        """
        if self._thread is None:
            return await call
        return await self._thread.run(call)

    async def _first(self, user_id: str, condition: models.Condition) -> Memory | None:
        points, _ = await self.run_qdrant(
            self.client.scroll(
                self.collection,
                scroll_filter=models.Filter(must=[_match('user_id', user_id), condition]),
                limit=1,
                with_payload=True,
            )
        )
        return _memory(points[0].id, points[0].payload or {}) if points else None

    async def _count(self, selector: models.Filter | None) -> int:
        return (
            await self.run_qdrant(self.client.count(self.collection, count_filter=selector, exact=True))
        ).count

    def _user_lock(self, user_id: str) -> asyncio.Lock:
        """Serialises one user's writes in this process, so two turns can't both add the same slot."""
        lock = self._user_locks.get(user_id)
        if lock is None:
            lock = self._user_locks[user_id] = asyncio.Lock()
        return lock


def memory_point(memory: Memory, vector: list[float], slot: str | None = None) -> models.PointStruct:
    """The Qdrant point of a memory, for `remember` and for bulk imports that skip the update rule."""
    payload: dict[str, Any] = {
        'user_id': memory.user_id,
        'text': memory.text,
        'text_key': _text_key(memory.text),
        'created_at': memory.created_at.isoformat(),
        'updated_at': memory.updated_at.isoformat(),
    }
    if slot := slot or slot_of(memory.text):
        payload['slot'] = slot
    return models.PointStruct(id=memory.id, vector=vector, payload=payload)


def new_memory_id(user_id: str, text: str, attempt: int = 0) -> str:
    """The id a fact gets when it is first added: the same for every retry and every worker.

    `attempt` > 0 only when an updated memory kept the first id for another text (`_free_id`);
    a normalised text holds no newline, so the suffix can't collide with another fact's id.
    """
    name = f'{user_id}\n{normalise(text)}'
    return str(uuid.uuid5(NAMESPACE, f'{name}\n{attempt}' if attempt else name))


class _LoopThread:
    """An event loop on a daemon thread of its own, running the coroutines handed to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name='qdrant-local', daemon=True)
        self.thread.start()

    async def run(self, call: Coroutine[Any, Any, T]) -> T:
        # Cancelling the awaiting task cancels the call on the thread too.
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, self.loop))

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


def _check_user(user_id: str) -> str:
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidMemory('user_id must be a non-empty string')
    if len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidMemory(f'user_id is longer than {MAX_USER_ID_CHARS} characters')
    return user_id


def _check_fact(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidMemory(f'a fact must be a string, not {type(text).__name__}')
    text = text.strip()
    if not text:
        raise InvalidMemory('a fact to remember must not be empty or only whitespace')
    if len(text) > MAX_FACT_CHARS:
        raise InvalidMemory(
            f'a fact to remember is at most {MAX_FACT_CHARS} characters; this one has {len(text)}'
        )
    return text


def _check_id(memory_id: str) -> str:
    try:
        return str(uuid.UUID(memory_id))
    except (TypeError, ValueError, AttributeError):
        raise InvalidMemoryId(f'memory id must be a UUID string, not {memory_id!r}') from None


def _text_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode()).hexdigest()[:32]


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _user_filter(user_id: str, memory_id: str | None = None) -> models.Filter:
    must: list[models.Condition] = [_match('user_id', user_id)]
    if memory_id is not None:
        must.append(models.HasIdCondition(has_id=[memory_id]))
    return models.Filter(must=must)


def _memory(point_id: models.ExtendedPointId, payload: dict[str, Any], score: float | None = None) -> Memory:
    return Memory(
        id=str(point_id),
        user_id=payload['user_id'],
        text=payload['text'],
        created_at=datetime.fromisoformat(payload['created_at']),
        updated_at=datetime.fromisoformat(payload['updated_at']),
        score=score,
    )
