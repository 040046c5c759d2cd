"""Temporal activities over the memory store, run by the process that owns Qdrant.

The store is process-wide (one embedder session, one Qdrant client; local mode locks its folder
to one process, docs/architecture.md, "Processes"), so the activities are bound methods of a `MemoryActivities` holder:

    store = await open_store(settings)
    Worker(client, task_queue=settings.memory_task_queue, activities=MemoryActivities(store).all())

The workflow calls them by name with the dataclasses of `memory.types`. Activity names are
persisted in workflow histories: never rename one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from durable_chat.memory.collection import open_client
from durable_chat.memory.embedder import build_embedder
from durable_chat.memory.store import InvalidMemory, MemoryStore
from durable_chat.memory.types import (
    FORGET_MEMORY,
    LIST_MEMORIES,
    MEMORY_HISTORY,
    PURGE_EXPIRED_MEMORIES,
    RECALL_MEMORIES,
    STORE_MEMORY,
    UNDO_MEMORY_CHANGE,
    ForgetRequest,
    ForgetResult,
    HistoryRequest,
    HistoryResult,
    ListRequest,
    ListResult,
    PurgeResult,
    RecallRequest,
    RecallResult,
    StoreRequest,
    StoreResult,
    UndoRequest,
    UndoResult,
)
from durable_chat.settings import Settings


async def open_store(settings: Settings) -> MemoryStore:
    """The embedder and Qdrant client that settings name, with the collection created or checked.

    Raises `EmbeddingMismatch` at startup if the collection was built with another embedder.
    """
    client, offload = await open_client(settings)
    store = MemoryStore(client, build_embedder(settings), settings.memory_collection, offload=offload)
    try:
        await store.ensure_collection()
    except BaseException:
        await store.close()
        raise
    return store


def _invalid(error: InvalidMemory) -> ApplicationError:
    # Bad input fails the same way on every attempt: retrying it would only spin.
    return ApplicationError(str(error), type=type(error).__name__, non_retryable=True)


MARK_CHANGED_SECONDS = 1.0
"""How long a store waits to mark the user's memories changed before leaving it to the session."""


class MemoryActivities:
    """Holds the process's store; its bound methods are the activities.

    `mark_changed(user_id)`: what a store that asks for it runs once the point is written (the
    worker passes the memory-hint bump; without one, the session bumps it itself).
    """

    def __init__(
        self, store: MemoryStore, mark_changed: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        self.store = store
        self.mark_changed = mark_changed

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.recall_memories,
            self.store_memory,
            self.forget_memory,
            self.list_memories,
            self.memory_history,
            self.undo_memory_change,
            self.purge_expired_memories,
        ]

    @activity.defn(name=RECALL_MEMORIES)
    async def recall_memories(self, request: RecallRequest) -> RecallResult:
        try:
            memories = await self.store.recall(
                request.user_id, request.query, request.k, min_score=request.min_score
            )
            # Lets the session skip recall for a user with nothing to recall (workflows/memory_hints.py).
            has_any = bool(memories) or await self.store.has_any(request.user_id)
        except InvalidMemory as error:
            raise _invalid(error) from error
        if not request.plain:
            # A session keeps only the texts: each carries the day it was said, for the instructions.
            for memory in memories:
                memory.text = f'{memory.updated_at.date().isoformat()}\t{memory.text}'
        return RecallResult(memories=memories, user_has_memories=has_any)

    @activity.defn(name=STORE_MEMORY)
    async def store_memory(self, request: StoreRequest) -> StoreResult:
        """Idempotent: a retried attempt finds the fact already stored and reports `unchanged`."""
        try:
            expires_at = _expiry(request.expires_at)
            result = await self.store.remember(
                request.user_id,
                request.text,
                session_id=request.session_id,
                turn=request.turn,
                decision=request.decision,
                memory_id=request.memory_id,
                expires_at=expires_at,
            )
        except InvalidMemory as error:
            raise _invalid(error) from error
        if request.mark_changed and self.mark_changed is not None:
            try:
                await asyncio.wait_for(self.mark_changed(request.user_id), MARK_CHANGED_SECONDS)
                result.marked_changed = True
            except Exception:  # the fact is stored: the session marks the change itself
                activity.logger.warning('memory change not marked for a stored fact', exc_info=True)
        return result

    @activity.defn(name=FORGET_MEMORY)
    async def forget_memory(self, request: ForgetRequest) -> ForgetResult:
        """Forgets one memory by id, or all of the user's with `forget_all=True`; never both, never neither."""
        try:
            if request.forget_all:
                if request.memory_id is not None:
                    raise InvalidMemory('give either a memory_id or forget_all=True, not both')
                return ForgetResult(deleted=await self.store.forget_all(request.user_id))
            if request.memory_id is None:
                raise InvalidMemory('a memory_id is required (or forget_all=True to forget everything)')
            deleted = await self.store.forget(request.user_id, request.memory_id)
        except InvalidMemory as error:
            raise _invalid(error) from error
        return ForgetResult(deleted=int(deleted))

    @activity.defn(name=LIST_MEMORIES)
    async def list_memories(self, request: ListRequest) -> ListResult:
        try:
            return ListResult(memories=await self.store.list(request.user_id))
        except InvalidMemory as error:
            raise _invalid(error) from error

    @activity.defn(name=MEMORY_HISTORY)
    async def memory_history(self, request: HistoryRequest) -> HistoryResult:
        try:
            current, versions = await self.store.history(request.user_id, request.memory_id)
        except InvalidMemory as error:
            raise _invalid(error) from error
        return HistoryResult(memory=current, versions=versions)

    @activity.defn(name=UNDO_MEMORY_CHANGE)
    async def undo_memory_change(self, request: UndoRequest) -> UndoResult:
        """Undoes the memory's last change if it is still at `request.version` (so a retry of an
        undo that happened does nothing more)."""
        try:
            result = await self.store.undo(request.user_id, request.memory_id, version=request.version)
        except InvalidMemory as error:
            raise _invalid(error) from error
        if result.undone and self.mark_changed is not None:
            try:
                await asyncio.wait_for(self.mark_changed(request.user_id), MARK_CHANGED_SECONDS)
            except Exception:
                activity.logger.warning('memory change not marked after an undo', exc_info=True)
        return result

    @activity.defn(name=PURGE_EXPIRED_MEMORIES)
    async def purge_expired_memories(self) -> PurgeResult:
        """Deletes the memories past their `expires_at` (idempotent: a retry finds fewer)."""
        return PurgeResult(deleted=await self.store.purge_expired())


def _expiry(expires_at: str | None) -> datetime | None:
    if expires_at is None:
        return None
    try:
        when = datetime.fromisoformat(expires_at)
    except ValueError:
        raise InvalidMemory(f'expires_at must be an ISO date or time, not {expires_at!r}') from None
    # A time without a zone is UTC, as the tool asks for.
    return when if when.tzinfo else when.replace(tzinfo=UTC)
