"""Operations on session workflows: create, send, snapshot, list. Maps Temporal errors to outcomes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.api.auth import Principal
from durable_chat.settings import Settings
from durable_chat.workflows.contract import (
    QUERY_SNAPSHOT,
    SA_AGENT,
    SA_MODEL,
    SA_STATUS,
    SA_TITLE,
    SA_USER,
    SIGNAL_SEND,
    UPDATE_ANSWER_APPROVAL,
    UPDATE_INTERRUPT,
    UPDATE_SET_MODEL,
    WORKFLOW_NAME,
    Approval,
    ApprovalAnswer,
    InterruptRequest,
    InterruptResult,
    NewSession,
    SessionLimits,
    SessionOptions,
    SetModel,
    Snapshot,
    UserMessage,
    is_session_id,
    search_attributes,
    session_id_of,
    workflow_id,
)

_T = TypeVar('_T')


class SessionNotFound(Exception):
    pass


class SessionClosed(Exception):
    pass


class NotTheOwner(Exception):
    """An operator tried what only the session's own user may do (send messages)."""


class Refused(Exception):
    """The workflow refused a request (an update's validator said why)."""


class SessionOwners:
    """Who owns which session: owners never change, so a bounded memo saves a describe per call."""

    def __init__(self, client: Client, capacity: int = 10_000) -> None:
        self._client = client
        self._owners: dict[str, str] = {}
        self._capacity = capacity

    async def owner(self, session_id: str) -> str:
        if (owner := self._owners.get(session_id)) is not None:
            return owner
        description = await _describe(self._client, session_id)
        owner = description.typed_search_attributes.get(SA_USER) or ''
        if len(self._owners) >= self._capacity:
            self._owners.pop(next(iter(self._owners)))
        self._owners[session_id] = owner
        return owner

    async def authorize(self, session_id: str, principal: Principal, *, owner_only: bool = False) -> None:
        """Raises SessionNotFound unless the caller owns the session or is an operator (never says which).

        With `owner_only`, an operator gets NotTheOwner: operators watch and act, only users speak.
        """
        if not is_session_id(session_id):
            raise SessionNotFound(session_id)
        owner = await self.owner(session_id)
        if owner == principal.username:
            return
        if not principal.is_operator:
            raise SessionNotFound(session_id)
        if owner_only:
            raise NotTheOwner(session_id)


@dataclass
class SessionSummary:
    session_id: str
    user_id: str
    title: str
    status: str
    started_at: datetime | None
    agent: str = ''
    model: str = ''


async def create_session(
    client: Client,
    settings: Settings,
    user_id: str,
    session_id: str,
    first: UserMessage | None,
    agent: str,
    model: str,
) -> None:
    """Starts the session; with a first message it is signal-with-start, so nothing is lost between."""
    options = SessionOptions(
        session_id=session_id,
        user_id=user_id,
        memory_task_queue=settings.memory_task_queue,
        recall_k=settings.recall_k,
        limits=SessionLimits(
            history_budget_bytes=settings.session_history_budget_bytes,
            keep_turns=settings.session_keep_turns,
            max_run_events=settings.session_max_run_events,
            max_run_bytes=settings.session_max_run_bytes,
            max_run_growth_bytes=settings.session_max_run_growth_bytes,
            turn_seconds=settings.session_turn_seconds,
        ),
        agent=agent,
        model=model,
    )
    await client.start_workflow(
        WORKFLOW_NAME,
        NewSession(state=options),
        id=workflow_id(session_id),
        task_queue=settings.task_queue,
        search_attributes=search_attributes(user_id, 'idle', agent=agent, model=model),
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


async def list_sessions(
    client: Client, user_id: str | None = None, status: str | None = None, limit: int = 200
) -> list[SessionSummary]:
    """One row per session, from its current run: visibility lists every run, and a run that
    continued as new is neither the session's state nor a closed session."""
    query = f'WorkflowType = "{WORKFLOW_NAME}" AND ExecutionStatus != "ContinuedAsNew"'
    if user_id is not None:
        query += f' AND {SA_USER.name} = "{_quote(user_id)}"'
    if status == 'closed':
        query += ' AND ExecutionStatus != "Running"'
    elif status is not None:
        query += f' AND ExecutionStatus = "Running" AND {SA_STATUS.name} = "{_quote(status)}"'
    current: dict[str, WorkflowExecution] = {}
    async for execution in client.list_workflows(query, limit=limit):
        # Mid continue-as-new, visibility may briefly show the old run still running beside the new.
        seen = current.get(execution.id)
        if seen is None or execution.start_time > seen.start_time:
            current[execution.id] = execution
    return [_summary(execution) for execution in current.values()]


def _summary(execution: WorkflowExecution) -> SessionSummary:
    attributes = execution.typed_search_attributes
    running = execution.status == WorkflowExecutionStatus.RUNNING
    return SessionSummary(
        session_id=session_id_of(execution.id),
        user_id=attributes.get(SA_USER) or '',
        title=attributes.get(SA_TITLE) or '',
        status=(attributes.get(SA_STATUS) or 'idle') if running else 'closed',
        started_at=execution.start_time,
        agent=attributes.get(SA_AGENT) or '',
        model=attributes.get(SA_MODEL) or '',
    )


async def interrupt(client: Client, session_id: str, request: InterruptRequest) -> InterruptResult:
    return await _update(client, session_id, UPDATE_INTERRUPT, request, InterruptResult)


async def answer_approval(client: Client, session_id: str, answer: ApprovalAnswer) -> Approval:
    return await _update(client, session_id, UPDATE_ANSWER_APPROVAL, answer, Approval)


async def set_model(client: Client, session_id: str, request: SetModel) -> str:
    return await _update(client, session_id, UPDATE_SET_MODEL, request, str)


async def _update(client: Client, session_id: str, name: str, arg: object, result_type: type[_T]) -> _T:
    """An update the workflow may refuse (its validator says why); updates need a running worker."""
    handle = client.get_workflow_handle(workflow_id(session_id))
    try:
        return await handle.execute_update(name, arg, result_type=result_type)
    except WorkflowUpdateFailedError as error:
        raise Refused(_reason(error)) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            await _raise_missing_or_closed(client, session_id)
        raise


async def close(client: Client, session_id: str, wait_seconds: float = 30) -> None:
    """Cancels the session workflow and waits until it has closed (SESSION_CLOSED sent)."""
    await _raise_missing_or_closed(client, session_id)
    handle = client.get_workflow_handle(workflow_id(session_id))
    await handle.cancel()
    try:
        await asyncio.wait_for(handle.result(), wait_seconds)
    except WorkflowFailureError:
        pass  # a cancelled workflow "fails" with CancelledError: that is the clean close


async def _describe(client: Client, session_id: str) -> WorkflowExecutionDescription:
    try:
        return await client.get_workflow_handle(workflow_id(session_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SessionNotFound(session_id) from error
        raise


async def _raise_missing_or_closed(client: Client, session_id: str) -> None:
    if (await _describe(client, session_id)).status != WorkflowExecutionStatus.RUNNING:
        raise SessionClosed(session_id)


def _reason(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, FailureError) else str(error)


def _quote(value: str) -> str:
    return value.replace('\\', '\\\\').replace('"', '\\"')
