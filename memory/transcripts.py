"""The transcript archive: turns a long session no longer carries in its workflow state.

A session's workflow keeps its recent turns; older ones are written here in pages by an activity,
so the full conversation stays readable however long the session lives, while continue-as-new
inputs stay small. Stored in Qdrant beside the memories (the one durable store the product runs,
owned by the memory worker), as payload-only points: no vectors, id `uuid5(session, page)`, so a
retried write replaces its own page and adds nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from qdrant_client import AsyncQdrantClient, models
from temporalio import activity

from memory.operations import ARCHIVE_TURNS, READ_TRANSCRIPT, ArchivePage, TranscriptRequest

COLLECTION = 'transcripts'
_PAGE_NAMESPACE = uuid.UUID('6f1d3e2a-7c4b-4f8e-9a51-2b7d0c9e4a13')


def page_id(session_id: str, page: int) -> str:
    return str(uuid.uuid5(_PAGE_NAMESPACE, f'{session_id}/{page}'))


class TranscriptStore:
    def __init__(self, client: AsyncQdrantClient, collection: str = COLLECTION) -> None:
        self.client = client
        self.collection = collection

    async def ensure_collection(self) -> None:
        if not await self.client.collection_exists(self.collection):
            await self.client.create_collection(self.collection, vectors_config={})
            await self.client.create_payload_index(
                self.collection, 'session_id', models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD)
            )

    async def save(self, page: ArchivePage) -> None:
        payload = {
            'session_id': page.session_id,
            'user_id': page.user_id,
            'page': page.page,
            'turns': page.turns,
        }
        point = models.PointStruct(id=page_id(page.session_id, page.page), vector={}, payload=payload)
        await self.client.upsert(self.collection, points=[point])

    async def turns(self, session_id: str, user_id: str) -> list[dict[str, Any]]:
        """Every archived turn of the session, in order (only if it is that user's session)."""
        selector = models.Filter(
            must=[
                models.FieldCondition(key='session_id', match=models.MatchValue(value=session_id)),
                models.FieldCondition(key='user_id', match=models.MatchValue(value=user_id)),
            ]
        )
        pages: list[dict[str, Any]] = []
        offset = None
        while True:
            records, offset = await self.client.scroll(
                self.collection, scroll_filter=selector, limit=64, offset=offset, with_payload=True
            )
            pages.extend(r.payload or {} for r in records)
            if offset is None:
                break
        pages.sort(key=lambda p: p['page'])
        return [turn for p in pages for turn in p['turns']]


class TranscriptActivities:
    def __init__(self, store: TranscriptStore) -> None:
        self.store = store

    def all(self) -> list[Any]:
        return [self.archive_turns, self.read_transcript]

    @activity.defn(name=ARCHIVE_TURNS)
    async def archive_turns(self, page: ArchivePage) -> None:
        await self.store.save(page)

    @activity.defn(name=READ_TRANSCRIPT)
    async def read_transcript(self, request: TranscriptRequest) -> list[dict[str, Any]]:
        return await self.store.turns(request.session_id, request.user_id)
