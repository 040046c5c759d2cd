"""The Qdrant collection behind memory: created or checked for one embedder, called on a thread.

Embedder record. The collection metadata holds `{'embedder': 'system:model', 'dimension': n}`:
Qdrant's place for application data about a collection ("inference model info" is its documented
use), kept outside the points so no search, list or delete can stumble on it or remove it. The
vector size of the collection is checked as well. Opening a collection recorded for another
embedder (name or dimension) raises `EmbeddingMismatch`: vectors of two models would not be
comparable, and mixing them would make recall silently return garbage.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic_ai import Embedder
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from durable_chat.memory.edge import edge_client, import_local_mode
from durable_chat.memory.embedder import embedder_name
from durable_chat.settings import Settings

SCHEMA_VERSION = 1
log = logging.getLogger(__name__)
T = TypeVar('T')


async def open_client(settings: Settings) -> tuple[AsyncQdrantClient, bool]:
    """The Qdrant client that settings name, and whether its calls must run on a thread of their
    own (`QdrantCollection(offload=...)`): a server at `qdrant_url`, else the embedded engine under
    `data_dir` (`qdrant_engine`: Qdrant Edge, or local mode). The first time Edge opens a data dir
    that holds local-mode collections, it imports them (`memory.edge.import_local_mode`).
    """
    if settings.qdrant_url:
        return AsyncQdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key), False
    if settings.qdrant_engine == 'edge':
        root = settings.qdrant_edge_path
        if not root.exists() and (settings.qdrant_path / 'collection').is_dir():
            names = await import_local_mode(settings.qdrant_path, root)
            log.warning('imported the local-mode collections %s into Qdrant Edge at %s', names, root)
        return edge_client(root), True
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    # Local mode computes inside its async methods: run it on the store's own thread.
    return AsyncQdrantClient(path=str(settings.qdrant_path), force_disable_check_same_thread=True), True


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


class QdrantCollection:
    """One collection over an `AsyncQdrantClient` (Qdrant Edge or local mode on disk, or a server)."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        embedder: Embedder,
        collection: str = 'memories',
        *,
        name: str | None = None,
        offload: bool = False,
    ) -> None:
        """`offload=True` runs every Qdrant call on a thread of its own: for the embedded engines,
        whose `async` methods compute in the caller's thread and would otherwise stall the event
        loop that also streams tokens and heartbeats activities (local mode's filtered search scans
        every point in Python: ~10 ms at 1k points, ~0.5 s at 50k; Edge's calls are short, but a
        long scroll or delete is not). Open a local-mode client with
        `force_disable_check_same_thread=True` (its SQLite file is then used from that thread).
        Measured at 1k points in local mode: the longest stall of a recall drops from ~100 ms to
        ~30 ms; what is left is the scan holding the GIL.
        """
        self.client = client
        self._thread = _LoopThread() if offload else None
        self.embedder = embedder
        self.collection = collection
        self.embedder_name = name or embedder_name(embedder)
        self.dimension: int | None = None
        self._ready = asyncio.Lock()

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

    async def _ensure(self) -> None:
        if self.dimension is None:
            await self.ensure_collection()

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
            for key in ('text_key', 'slot', 'memory_id'):
                await self.run_qdrant(
                    self.client.create_payload_index(
                        self.collection, key, field_schema=models.PayloadSchemaType.KEYWORD
                    )
                )
            await self.run_qdrant(
                self.client.create_payload_index(
                    self.collection, 'previous', field_schema=models.PayloadSchemaType.BOOL
                )
            )

    async def _count(self, selector: models.Filter | None) -> int:
        return (
            await self.run_qdrant(self.client.count(self.collection, count_filter=selector, exact=True))
        ).count

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
