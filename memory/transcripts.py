"""The transcript archive: turns a long session no longer carries in its workflow state.

A session's workflow keeps its recent turns; older ones are written here in pages by an activity,
so the full conversation stays readable however long the session lives, while continue-as-new
inputs stay small. Stored in Qdrant beside the memories (the one durable store the product runs,
owned by the memory worker), as payload-only points: no vectors, id `uuid5(session, page)`, so a
retried write replaces its own page and adds nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from qdrant_client import AsyncQdrantClient, models
from temporalio import activity

from durable_chat.memory.operations import (
    ARCHIVE_TURNS,
    READ_TRANSCRIPT,
    ArchivePage,
    TranscriptChunk,
    TranscriptRequest,
)

COLLECTION = 'transcripts'
T = TypeVar('T')
_PAGE_NAMESPACE = uuid.UUID('6f1d3e2a-7c4b-4f8e-9a51-2b7d0c9e4a13')


def page_id(session_id: str, page: int) -> str:
    return str(uuid.uuid5(_PAGE_NAMESPACE, f'{session_id}/{page}'))


async def _direct(call: Coroutine[Any, Any, T]) -> T:
    return await call


class TranscriptStore:
    """`run` awaits each client call: pass `MemoryStore.run_qdrant` when sharing its local-mode client,
    which must not be used from two threads at once."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        collection: str = COLLECTION,
        run: Callable[..., Awaitable[Any]] = _direct,
    ) -> None:
        self.client = client
        self.collection = collection
        self._run = run

    async def ensure_collection(self) -> None:
        if not await self._run(self.client.collection_exists(self.collection)):
            await self._run(self.client.create_collection(self.collection, vectors_config={}))

    async def save(self, page: ArchivePage) -> None:
        payload = {
            'session_id': page.session_id,
            'user_id': page.user_id,
            'page': page.page,
            'turns': page.turns,
        }
        point = models.PointStruct(id=page_id(page.session_id, page.page), vector={}, payload=payload)
        await self._run(self.client.upsert(self.collection, points=[point]))

    async def chunk(self, request: TranscriptRequest) -> TranscriptChunk:
        """Archived turns from `first_page` on, in order, up to `max_bytes` of text (one page at least).

        Pages are read by id (`uuid5(session, page)`), and only those of the asking user count.
        """
        chunk = TranscriptChunk()
        size = 0
        page = request.first_page
        while True:
            records = await self._run(
                self.client.retrieve(self.collection, ids=[page_id(request.session_id, page)])
            )
            payload = records[0].payload if records else None
            if not payload or payload.get('user_id') != request.user_id:
                return chunk
            page_size = sum(
                len(str(t.get('user_text', ''))) + len(str(t.get('reply', ''))) for t in payload['turns']
            )
            if chunk.turns and size + page_size > request.max_bytes:
                chunk.next_page = page
                return chunk
            chunk.turns.extend(payload['turns'])
            size += page_size
            page += 1


class TranscriptActivities:
    def __init__(self, store: TranscriptStore) -> None:
        self.store = store

    def all(self) -> list[Any]:
        return [self.archive_turns, self.read_transcript]

    @activity.defn(name=ARCHIVE_TURNS)
    async def archive_turns(self, page: ArchivePage) -> None:
        await self.store.save(page)

    @activity.defn(name=READ_TRANSCRIPT)
    async def read_transcript(self, request: TranscriptRequest) -> TranscriptChunk:
        return await self.store.chunk(request)
