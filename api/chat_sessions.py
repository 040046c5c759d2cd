"""Operations on session workflows: create, send, snapshot, list. Maps Temporal errors to outcomes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from workflows.session import SA_STATUS, SA_TITLE, SA_USER, ChatSession, search_attributes
from workflows.shared import (
    QUERY_SNAPSHOT,
    SIGNAL_SEND,
    SessionStart,
    SessionState,
    Snapshot,
    UserMessage,
    workflow_id,
)


class SessionNotFound(Exception):
    pass


class SessionClosed(Exception):
    pass


@dataclass
class SessionSummary:
    session_id: str
    title: str
    status: str
    started_at: datetime | None


def is_session_id(value: str) -> bool:
    return len(value) == 32 and all(c in '0123456789abcdef' for c in value)


def new_session_id() -> str:
    # 122 random bits: session ids are not guessable.
    return uuid.uuid4().hex


async def create_session(
    client: Client, task_queue: str, user_id: str, session_id: str, first: UserMessage | None
) -> None:
    """Starts the session; with a first message it is signal-with-start, so nothing is lost between."""
    start = SessionStart(state=SessionState(session_id=session_id, user_id=user_id))
    await client.start_workflow(
        ChatSession.run,
        start,
        id=workflow_id(session_id),
        task_queue=task_queue,
        search_attributes=search_attributes(user_id, 'idle'),
        # A retried create with the same id lands on the same session, and the message id dedupes.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        start_signal=SIGNAL_SEND if first else None,
        start_signal_args=[first] if first else [],
    )


async def send_message(client: Client, session_id: str, message: UserMessage) -> None:
    handle = client.get_workflow_handle(workflow_id(session_id))
    try:
        await handle.signal(SIGNAL_SEND, message)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            await _raise_missing_or_closed(client, session_id)
        raise


async def snapshot(client: Client, session_id: str) -> Snapshot:
    handle = client.get_workflow_handle(workflow_id(session_id))
    try:
        return await handle.query(QUERY_SNAPSHOT, result_type=Snapshot)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SessionNotFound(session_id) from error
        raise


async def assert_owner(client: Client, session_id: str, user_id: str) -> None:
    """Raises SessionNotFound unless the session exists and belongs to the user (never says which)."""
    try:
        description = await client.get_workflow_handle(workflow_id(session_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SessionNotFound(session_id) from error
        raise
    if description.typed_search_attributes.get(SA_USER) != user_id:
        raise SessionNotFound(session_id)


async def list_sessions(client: Client, user_id: str, limit: int = 200) -> list[SessionSummary]:
    query = f'WorkflowType = "ChatSession" AND ChatUser = "{_quote(user_id)}"'
    sessions: list[SessionSummary] = []
    async for execution in client.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        running = execution.status == WorkflowExecutionStatus.RUNNING
        sessions.append(
            SessionSummary(
                session_id=execution.id.removeprefix('chat-'),
                title=attributes.get(SA_TITLE) or '',
                status=(attributes.get(SA_STATUS) or 'idle') if running else 'closed',
                started_at=execution.start_time,
            )
        )
    return sessions


async def _raise_missing_or_closed(client: Client, session_id: str) -> None:
    try:
        description = await client.get_workflow_handle(workflow_id(session_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SessionNotFound(session_id) from error
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise SessionClosed(session_id)


def _quote(value: str) -> str:
    return value.replace('\\', '\\\\').replace('"', '\\"')
