"""A user's data, all of it: exported as one archive (`GET /me/export`), or erased (`DELETE /me`).

Where a user's data lives: the session workflows (Temporal, each run's visibility record carries
ChatUser), the transcript archive and the memories (Qdrant, reached through the memory worker's
activities), and Redis (each session's event stream and its sets, tool-call records, and the user's
limit and memory-hint keys). Erasing goes through each; every step deletes what is left, so a
retried erase finishes the job.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.api import chat_sessions
from durable_chat.api.chat_sessions import SessionClosed, SessionNotFound, SessionUnreadable
from durable_chat.api.limits import websockets_key
from durable_chat.api.memory_ops import run_memory_operation, whole_conversation
from durable_chat.api.schemas import MemoryHistory
from durable_chat.memory.operations import MemoryOperationRequest, UserPoints
from durable_chat.settings import Settings
from durable_chat.workflows.contract import (
    CHECK_IN_DUE,
    SA_USER,
    WORKFLOW_NAME,
    CheckIn,
    Reminder,
    is_session_id,
    session_id_of,
)

log = logging.getLogger(__name__)


class ExportedSession(BaseModel):
    session_id: str
    title: str
    status: str
    created_at: datetime | None
    last_activity: datetime | None
    readable: bool = True
    """False when the session did not answer (its turns, reminders and check-ins are then empty)."""
    turns: list[dict[str, Any]] = []
    """The whole conversation: archived turns first, then those the workflow holds."""
    reminders: list[Reminder] = []
    check_ins: list[CheckIn] = []


class UserExport(BaseModel):
    user_id: str
    exported_at: datetime
    sessions: list[ExportedSession]
    memories: list[MemoryHistory]


class UserErased(BaseModel):
    user_id: str
    sessions: int
    """Sessions whose workflows were deleted from Temporal."""
    workflow_runs: int
    """Their runs (a session that continued as new has several), each with its visibility record."""
    memories: int
    """Memory points deleted: current memories and their past versions."""
    transcript_pages: int
    redis_keys: int


async def export_user(client: Client, settings: Settings, user_id: str) -> UserExport:
    sessions: list[ExportedSession] = []
    for summary in await chat_sessions.list_sessions(client, user_id=user_id, limit=10_000):
        exported = ExportedSession(
            session_id=summary.session_id,
            title=summary.title,
            status=summary.status,
            created_at=summary.started_at,
            last_activity=summary.last_activity,
        )
        try:
            snapshot = await chat_sessions.snapshot(client, summary.session_id)
            exported.turns = await whole_conversation(client, settings, snapshot)
            exported.reminders, exported.check_ins = snapshot.reminders, snapshot.check_ins
        except (SessionNotFound, SessionUnreadable, RPCError) as error:
            log.warning('export of %s: session %s unreadable: %s', user_id, summary.session_id, error)
            exported.readable = False
        sessions.append(exported)
    memories: list[MemoryHistory] = []
    listed = await run_memory_operation(client, settings, MemoryOperationRequest('list', user_id))
    for memory in listed.memories:
        request = MemoryOperationRequest('history', user_id, memory_id=memory.id)
        found = await run_memory_operation(client, settings, request)
        if found.memories:  # else it was forgotten meanwhile
            memories.append(MemoryHistory(memory=found.memories[0], versions=found.versions))
    return UserExport(
        user_id=user_id,
        exported_at=datetime.now().astimezone(),
        sessions=sessions,
        memories=memories,
    )


async def _close_sessions(client: Client, user_id: str) -> tuple[set[str], list[WorkflowExecution]]:
    """Closes the user's running sessions. Returns the session ids, and the runs to delete: every
    run that carries the user, and the check-in runs of their sessions."""
    query = f'{SA_USER.name} = "{chat_sessions.quote(user_id)}"'
    runs = [execution async for execution in client.list_workflows(query)]
    sessions = {
        session_id_of(run.id)
        for run in runs
        if run.workflow_type == WORKFLOW_NAME and is_session_id(session_id_of(run.id))
    }
    for run in runs:
        if run.workflow_type == WORKFLOW_NAME and run.status == WorkflowExecutionStatus.RUNNING:
            try:  # a clean close: the workflow ends its turn and sends SESSION_CLOSED
                await chat_sessions.close(client, session_id_of(run.id))
            except (SessionClosed, SessionNotFound):
                pass
            except TimeoutError:
                log.warning('session %s did not close in time: its deletion terminates it', run.id)
    # A check-in's schedule goes when its session closes; the runs it started name the session.
    for session_id in sessions:
        started = f'WorkflowType = "{CHECK_IN_DUE}" AND WorkflowId STARTS_WITH "checkin-{session_id}-"'
        runs += [execution async for execution in client.list_workflows(started)]
    return sessions, runs


async def _delete_runs(client: Client, runs: list[WorkflowExecution]) -> int:
    deleted = 0
    for run in runs:
        request = DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=ExecutionRef(workflow_id=run.id, run_id=run.run_id),
        )
        try:
            # Temporal deletes in the background; visibility drops the run shortly after.
            await client.workflow_service.delete_workflow_execution(request)
            deleted += 1
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
    return deleted


async def _erase_keys(redis: aioredis.Redis, user_id: str, sessions: set[str]) -> int:
    patterns = [f'limit:{{{user_id}}}:*', f'memory:{{{user_id}}}:*']
    for session_id in sessions:
        # The stream, its stopped-turns set and published-turn sets; tool-call records by session.
        patterns += [
            f'session:{{{session_id}}}:*',
            f'tool-result:{session_id}:*',
            f'tool-undone:{session_id}:*',
        ]
    keys = {websockets_key(user_id)}
    for pattern in patterns:
        keys.update([key async for key in redis.scan_iter(match=pattern, count=1000)])
    deleted = 0
    for key in keys:  # one by one: a cluster's keys live in different slots
        deleted += int(await redis.delete(key))
    return deleted


async def erase_user(client: Client, redis: aioredis.Redis, settings: Settings, user_id: str) -> UserErased:
    sessions, runs = await _close_sessions(client, user_id)
    # The sessions' keys go before their runs, whose listing is what names them to a retried erase.
    keys = await _erase_keys(redis, user_id, sessions)
    deleted_runs = await _delete_runs(client, runs)
    erased = await run_memory_operation(client, settings, MemoryOperationRequest('erase_user', user_id))
    points = erased.erased or UserPoints(user_id)
    keys += await _erase_keys(redis, user_id, sessions)  # again: what a dying run still wrote
    log.info('erased user %s: %d sessions, %d runs, %d keys', user_id, len(sessions), deleted_runs, keys)
    return UserErased(
        user_id=user_id,
        sessions=len(sessions),
        workflow_runs=deleted_runs,
        memories=points.memories,
        transcript_pages=points.transcript_pages,
        redis_keys=keys,
    )
