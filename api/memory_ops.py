"""Reaching memory from the API, which never opens Qdrant: activities on the memory task queue.

Reads (list, search, a transcript chunk) run as standalone activities, started by the client with
no workflow around them: a search took a workflow start, two workflow tasks and the activity
(~100 ms on the dev server); now it is the activity alone. A server without standalone
activities (before Temporal 1.32, or with `activity.enableStandalone` off) answers UNIMPLEMENTED:
the API then runs reads, like writes (forget), in the MemoryOperation workflow on the same queue.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from fastapi import HTTPException
from temporalio.client import ActivityFailureError, Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

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
    LIST_MEMORIES,
    MEMORY_HISTORY,
    RECALL_MEMORIES,
    HistoryRequest,
    HistoryResult,
    ListRequest,
    ListResult,
    RecallRequest,
    RecallResult,
)
from durable_chat.settings import Settings
from durable_chat.workflows.contract import Snapshot

log = logging.getLogger(__name__)

READ_ACTIVITY: dict[str, Any] = {
    # As the MemoryOperation workflow runs them (memory/workflows.py).
    'start_to_close_timeout': timedelta(seconds=30),
    'retry_policy': RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5),
}
_no_standalone: weakref.WeakSet[Client] = weakref.WeakSet()
"""Clients whose server refused a standalone activity: they use the workflow from then on."""


STANDALONE_KINDS = ('list', 'search', 'transcript', 'history', 'erase_user')
"""Operations that run as one standalone activity when the server has them (no workflow needed)."""


def standalone_reads(client: Client) -> bool:
    """Whether this client's server has run standalone memory reads (not refused them)."""
    return client not in _no_standalone


def refused_standalone(client: Client, error: RPCError) -> bool:
    """Whether `error` is the server refusing standalone activities; remembered for the client."""
    if error.status != RPCStatusCode.UNIMPLEMENTED:
        return False
    _no_standalone.add(client)
    log.info('the Temporal server has no standalone activities; memory reads run a workflow')
    return True


async def run_memory_operation(
    client: Client, settings: Settings, request: MemoryOperationRequest
) -> MemoryOperationResult:
    try:
        if request.kind in STANDALONE_KINDS and standalone_reads(client):
            try:
                return await _read(client, settings, request)
            except RPCError as error:
                if not refused_standalone(client, error):
                    raise
        return await client.execute_workflow(
            MEMORY_OPERATION_WORKFLOW,
            request,
            id=f'memory-op-{uuid.uuid4().hex}',
            task_queue=settings.memory_task_queue,
            result_type=MemoryOperationResult,
        )
    except (WorkflowFailureError, ActivityFailureError) as error:
        cause = error.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__
        if cause is not None and cause.type in ('InvalidMemory', 'InvalidMemoryId'):
            raise HTTPException(422, cause.message) from None
        raise


async def _read(client: Client, settings: Settings, request: MemoryOperationRequest) -> MemoryOperationResult:
    """The read as one standalone activity on the memory queue."""
    user = request.user_id
    if request.kind == 'search':
        found = await _activity(
            client,
            settings,
            RECALL_MEMORIES,
            RecallRequest(user, request.query, k=request.k, plain=True),
            RecallResult,
        )
        return MemoryOperationResult(memories=found.memories)
    if request.kind == 'list':
        listed = await _activity(client, settings, LIST_MEMORIES, ListRequest(user), ListResult)
        return MemoryOperationResult(memories=listed.memories)
    if request.kind == 'history':
        found = await _activity(
            client, settings, MEMORY_HISTORY, HistoryRequest(user, request.memory_id or ''), HistoryResult
        )
        return MemoryOperationResult(memories=[found.memory] if found.memory else [], versions=found.versions)
    if request.kind == 'erase_user':
        erased = await _activity(client, settings, ERASE_USER, UserPoints(user), UserPoints)
        return MemoryOperationResult(erased=erased)
    chunk = await _activity(
        client,
        settings,
        READ_TRANSCRIPT,
        TranscriptRequest(request.session_id, user, first_page=request.page),
        TranscriptChunk,
    )
    return MemoryOperationResult(turns=chunk.turns, next_page=chunk.next_page)


async def _activity(client: Client, settings: Settings, name: str, arg: Any, result_type: type) -> Any:
    return await client.execute_activity(
        name,
        arg,
        id=f'memory-read-{uuid.uuid4().hex}',
        task_queue=settings.memory_task_queue,
        result_type=result_type,
        **READ_ACTIVITY,
    )


async def whole_conversation(client: Client, settings: Settings, snapshot: Snapshot) -> list[dict[str, Any]]:
    """A session's turns: those archived out of the workflow (read page by page: each activity result
    stays under the payload limit), then the ones `snapshot` holds."""
    archived: list[dict[str, Any]] = []
    page: int | None = 1 if snapshot.archived_turns else None
    while page is not None:
        request = MemoryOperationRequest(
            'transcript', snapshot.user_id, session_id=snapshot.session_id, page=page
        )
        chunk = await run_memory_operation(client, settings, request)
        archived += chunk.turns
        page = chunk.next_page
    # The workflow may archive more while we read: the snapshot says where its own turns begin.
    archived = [t for t in archived if int(str(t['number'])) <= snapshot.archived_turns]
    return [*archived, *(asdict(t) for t in snapshot.turns)]
