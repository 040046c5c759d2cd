"""Erasing a user from Qdrant: every memory point (current and past versions) and every transcript
archive page whose payload names the user. Run by the memory worker, which owns the store.

Deletes go by a `user_id` filter, so a retried attempt deletes what is left and reports 0 for the
rest. `count_user_points` lets a caller (and the erase tests) check that nothing of a user remains.
"""

from __future__ import annotations

from typing import Any

from qdrant_client import models
from temporalio import activity

from durable_chat.memory.operations import COUNT_USER_POINTS, ERASE_USER, UserPoints
from durable_chat.memory.store import MemoryStore
from durable_chat.memory.transcripts import TranscriptStore


def _of(user_id: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key='user_id', match=models.MatchValue(value=user_id))])


class EraseActivities:
    def __init__(self, store: MemoryStore, transcripts: TranscriptStore) -> None:
        self.store = store
        self.transcripts = transcripts

    def all(self) -> list[Any]:
        return [self.erase_user, self.count_user_points]

    async def _count(self, collection: str, user_id: str) -> int:
        counted = await self.store.run_qdrant(
            self.store.client.count(collection, count_filter=_of(user_id), exact=True)
        )
        return counted.count

    @activity.defn(name=COUNT_USER_POINTS)
    async def count_user_points(self, request: UserPoints) -> UserPoints:
        user = request.user_id
        return UserPoints(
            user,
            memories=await self._count(self.store.collection, user),
            transcript_pages=await self._count(self.transcripts.collection, user),
        )

    @activity.defn(name=ERASE_USER)
    async def erase_user(self, request: UserPoints) -> UserPoints:
        """Deletes the user's points; answers how many there were."""
        found = await self.count_user_points(request)
        for collection in (self.store.collection, self.transcripts.collection):
            selector = models.FilterSelector(filter=_of(request.user_id))
            await self.store.run_qdrant(
                self.store.client.delete(collection, points_selector=selector, wait=True)
            )
        return found
