"""MemoryOperation: how the API writes memory (forget) without opening Qdrant itself.

The embedded Qdrant belongs to one process, the memory worker. The API runs this short workflow on
the memory task queue, which calls the memory activities there; with a Qdrant server the same path
works for any number of memory workers. Reads and a user's erase are standalone activities
(api/memory_ops.py, api/erase.py), and run here only on a server without them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from durable_chat.memory.operations import (
        ERASE_USER,
        MEMORY_OPERATION_WORKFLOW,
        READ_TRANSCRIPT,
        MemoryOperationRequest,
        MemoryOperationResult,
        TranscriptChunk,
        TranscriptRequest,
        UserPoints,
    )
    from durable_chat.memory.types import (
        FORGET_MEMORY,
        LIST_MEMORIES,
        MEMORY_HISTORY,
        RECALL_MEMORIES,
        UNDO_MEMORY_CHANGE,
        ForgetRequest,
        ForgetResult,
        HistoryRequest,
        HistoryResult,
        ListRequest,
        ListResult,
        RecallRequest,
        RecallResult,
        UndoRequest,
        UndoResult,
    )

_ACTIVITY = {
    'start_to_close_timeout': timedelta(seconds=30),
    'retry_policy': RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5),
}


@workflow.defn(name=MEMORY_OPERATION_WORKFLOW)
class MemoryOperation:
    @workflow.run
    async def run(self, request: MemoryOperationRequest) -> MemoryOperationResult:
        user = request.user_id
        match request.kind:
            case 'list':
                listed = await workflow.execute_activity(
                    LIST_MEMORIES, ListRequest(user), result_type=ListResult, **_ACTIVITY
                )
                return MemoryOperationResult(memories=listed.memories)
            case 'search':
                found = await workflow.execute_activity(
                    RECALL_MEMORIES,
                    RecallRequest(user, request.query, k=request.k, plain=True),
                    result_type=RecallResult,
                    **_ACTIVITY,
                )
                return MemoryOperationResult(memories=found.memories)
            case 'transcript':
                chunk = await workflow.execute_activity(
                    READ_TRANSCRIPT,
                    TranscriptRequest(request.session_id, user, first_page=request.page),
                    result_type=TranscriptChunk,
                    **_ACTIVITY,
                )
                return MemoryOperationResult(turns=chunk.turns, next_page=chunk.next_page)
            case 'history':
                found = await self._history(request)
                return MemoryOperationResult(
                    memories=[found.memory] if found.memory else [], versions=found.versions
                )
            case 'undo':
                # The version the user saw: a retried undo finds it gone and changes nothing more.
                seen = await self._history(request)
                if seen.memory is None:
                    return MemoryOperationResult()
                undo = UndoRequest(user, request.memory_id or '', version=seen.memory.version)
                done = await workflow.execute_activity(
                    UNDO_MEMORY_CHANGE, undo, result_type=UndoResult, **_ACTIVITY
                )
                return MemoryOperationResult(
                    memories=[done.memory] if done.memory else [], undone=done.undone
                )
            case 'forget' | 'forget_all':
                forget = ForgetRequest(
                    user, memory_id=request.memory_id, forget_all=request.kind == 'forget_all'
                )
                done = await workflow.execute_activity(
                    FORGET_MEMORY, forget, result_type=ForgetResult, **_ACTIVITY
                )
                return MemoryOperationResult(deleted=done.deleted)
            case 'erase_user':
                erased = await workflow.execute_activity(
                    ERASE_USER, UserPoints(user), result_type=UserPoints, **_ACTIVITY
                )
                return MemoryOperationResult(erased=erased)

    async def _history(self, request: MemoryOperationRequest) -> HistoryResult:
        return await workflow.execute_activity(
            MEMORY_HISTORY,
            HistoryRequest(request.user_id, request.memory_id or ''),
            result_type=HistoryResult,
            **_ACTIVITY,
        )
