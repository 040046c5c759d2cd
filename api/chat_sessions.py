"""Operations on session workflows: create, send, snapshot, list, rename, delete. Maps Temporal
errors to outcomes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.api.auth import Principal
from durable_chat.api.schemas import MessageRejected
from durable_chat.settings import Settings
from durable_chat.workflows.contract import (
    DELETED,
    FINISHED_TURN_STATUSES,
    QUERY_SNAPSHOT,
    SA_AGENT,
    SA_LAST_ACTIVITY,
    SA_MODEL,
    SA_STATUS,
    SA_TITLE,
    SA_USER,
    SIGNAL_SEND,
    UPDATE_ANSWER_APPROVAL,
    UPDATE_CANCEL_CHECK_IN,
    UPDATE_CANCEL_REMINDER,
    UPDATE_DELETE,
    UPDATE_INTERRUPT,
    UPDATE_RENAME,
    UPDATE_SET_DOUBLE_TEXTING,
    UPDATE_SET_MODEL,
    WORKFLOW_NAME,
    Approval,
    ApprovalAnswer,
    CancelCheckIn,
    CancelReminder,
    CheckIn,
    DeleteRequest,
    DoubleTexting,
    InterruptRequest,
    InterruptResult,
    NewSession,
    Reminder,
    Rename,
    SessionLimits,
    SessionOptions,
    SetDoubleTexting,
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


class SessionUnreadable(Exception):
    """The session's snapshot query failed in the worker (its history did not replay, or the query
    raised): the session exists, but what it holds can't be read now (a 503 saying why)."""

    def __init__(self, session_id: str, reason: str) -> None:
        super().__init__(f'session {session_id} could not be read: {reason}')


class CannotRedo(MessageRejected):
    """A message that redoes a turn which is not the session's last finished turn (a 409)."""

    def __init__(self, reason: str) -> None:
        super().__init__(409, reason)


BUSY = 'a reply is still being written; wait for it or stop it'


class Busy(MessageRejected):
    """A message while a turn runs or waits, in a session whose policy is `reject` (a 409)."""

    def __init__(self) -> None:
        super().__init__(409, BUSY)


class _Policies:
    """Each session's double-texting policy as this process last saw it (create, PATCH, any snapshot).

    Only `reject` needs a look at the session before a message: a session known to enqueue or
    interrupt is signalled at once. Another API replica may change the policy meanwhile; a racing
    message the workflow then keeps unanswered (`reject`) is the only cost of a stale entry here.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._known: dict[str, DoubleTexting] = {}
        self._capacity = capacity

    def get(self, session_id: str) -> DoubleTexting | None:
        return self._known.get(session_id)

    def remember(self, session_id: str, policy: DoubleTexting) -> None:
        self._known.pop(session_id, None)
        if len(self._known) >= self._capacity:
            self._known.pop(next(iter(self._known)))
        self._known[session_id] = policy


policies = _Policies()
CHECK_TIMEOUT = timedelta(seconds=5)
"""How long a message waits for the session to say whether it is busy before it is signalled anyway."""


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
        self.remember(session_id, owner)
        return owner

    def remember(self, session_id: str, owner: str) -> None:
        """`owner` started the session (or was read from it): the socket opened next needs no describe."""
        if len(self._owners) >= self._capacity:
            self._owners.pop(next(iter(self._owners)))
        self._owners[session_id] = owner

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
    last_activity: datetime | None = None
    """When a turn last started or ended, or the session was renamed (else when it started)."""
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
    timezone: str = '',
    double_texting: DoubleTexting = 'enqueue',
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
        timezone=timezone,
        double_texting=double_texting,
    )
    policies.remember(session_id, double_texting)
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
    """Raises CannotRedo for a message redoing a turn that is not (now) the last finished one, Busy for
    one while a turn runs or waits in a session that rejects those. The workflow decides again when the
    signal lands: a turn started meanwhile makes a redo an ordinary turn, and keeps a message that
    raced past the busy check unanswered."""
    if message.replaces:
        current = await snapshot(client, session_id)
        check_redo(current, message)
        check_busy(current, message)
    elif policies.get(session_id) in (None, 'reject'):
        current = await _snapshot_if_answered(client, session_id)
        if current is not None:
            check_busy(current, message)
    handle = client.get_workflow_handle(workflow_id(session_id))
    try:
        await handle.signal(SIGNAL_SEND, message)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            await _raise_missing_or_closed(client, session_id)
        raise


def check_redo(current: Snapshot, message: UserMessage) -> None:
    if any(t.message_id == message.id for t in current.turns):
        return  # a resend of a message already taken: the workflow ignores it
    last = current.turns[-1] if current.turns else None
    if last is None or last.number != message.replaces:
        latest = f'the last is turn {last.number}' if last else 'it has none'
        raise CannotRedo(f"turn {message.replaces} is not the session's last turn ({latest})")
    if last.status not in FINISHED_TURN_STATUSES:
        raise CannotRedo(f'turn {last.number} has not finished ({last.status}): stop it first')


def check_busy(current: Snapshot, message: UserMessage) -> None:
    if current.double_texting != 'reject' or any(t.message_id == message.id for t in current.turns):
        return
    if any(t.status in ('running', 'queued') for t in current.turns):
        raise Busy()


async def snapshot(client: Client, session_id: str, rpc_timeout: timedelta | None = None) -> Snapshot:
    handle = client.get_workflow_handle(workflow_id(session_id))
    try:
        current = await handle.query(QUERY_SNAPSHOT, result_type=Snapshot, rpc_timeout=rpc_timeout)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SessionNotFound(session_id) from error
        raise
    except WorkflowQueryFailedError as error:
        raise SessionUnreadable(session_id, error.message) from error
    policies.remember(session_id, current.double_texting)
    return current


async def _snapshot_if_answered(client: Client, session_id: str) -> Snapshot | None:
    """The snapshot, or None when no worker answers soon: the message is durable as a signal anyway."""
    try:
        return await snapshot(client, session_id, rpc_timeout=CHECK_TIMEOUT)
    except SessionNotFound:
        raise
    except (RPCError, SessionUnreadable):
        return None


async def list_sessions(
    client: Client,
    user_id: str | None = None,
    status: str | None = None,
    limit: int = 200,
    *,
    title: str | None = None,
    hide_deleted: bool = False,
) -> list[SessionSummary]:
    """One row per session, from its current run, newest activity first: visibility lists every run,
    and a run that continued as new is neither the session's state nor a closed session.

    `status` is a session status or `deleted`; `hide_deleted` leaves deleted sessions out (users'
    lists). `title` keeps the sessions whose title holds it (case-insensitive): filtered here, over
    the `limit` sessions visibility returned (ChatTitle is a Text attribute, which visibility matches
    by words, not by substrings). Sorted here too (SQL visibility cannot order by an attribute).
    """
    query = f'WorkflowType = "{WORKFLOW_NAME}" AND ExecutionStatus != "ContinuedAsNew"'
    if user_id is not None:
        query += f' AND {SA_USER.name} = "{quote(user_id)}"'
    if status == DELETED:
        query += f' AND {SA_STATUS.name} = "{DELETED}"'
    elif status == 'closed':
        query += f' AND ExecutionStatus != "Running" AND {SA_STATUS.name} != "{DELETED}"'
    elif status is not None:
        query += f' AND ExecutionStatus = "Running" AND {SA_STATUS.name} = "{quote(status)}"'
    elif hide_deleted:
        query += f' AND {SA_STATUS.name} != "{DELETED}"'
    current: dict[str, WorkflowExecution] = {}
    async for execution in client.list_workflows(query, limit=limit):
        # Mid continue-as-new, visibility may briefly show the old run still running beside the new.
        seen = current.get(execution.id)
        if seen is None or execution.start_time > seen.start_time:
            current[execution.id] = execution
    sessions = [_summary(execution) for execution in current.values()]
    if title:
        wanted = title.casefold()
        sessions = [s for s in sessions if wanted in s.title.casefold()]
    return sorted(sessions, key=_recency, reverse=True)


def _recency(session: SessionSummary) -> datetime:
    return session.last_activity or session.started_at or datetime.min.replace(tzinfo=UTC)


def _summary(execution: WorkflowExecution) -> SessionSummary:
    attributes = execution.typed_search_attributes
    running = execution.status == WorkflowExecutionStatus.RUNNING
    status = attributes.get(SA_STATUS) or 'idle'
    return SessionSummary(
        session_id=session_id_of(execution.id),
        user_id=attributes.get(SA_USER) or '',
        title=attributes.get(SA_TITLE) or '',
        status=status if running or status == DELETED else 'closed',
        started_at=execution.start_time,
        last_activity=attributes.get(SA_LAST_ACTIVITY),
        agent=attributes.get(SA_AGENT) or '',
        model=attributes.get(SA_MODEL) or '',
    )


async def interrupt(client: Client, session_id: str, request: InterruptRequest) -> InterruptResult:
    return await _update(client, session_id, UPDATE_INTERRUPT, request, InterruptResult)


async def answer_approval(client: Client, session_id: str, answer: ApprovalAnswer) -> Approval:
    return await _update(client, session_id, UPDATE_ANSWER_APPROVAL, answer, Approval)


async def set_model(client: Client, session_id: str, request: SetModel) -> str:
    return await _update(client, session_id, UPDATE_SET_MODEL, request, str)


async def rename(client: Client, session_id: str, request: Rename) -> str:
    return await _update(client, session_id, UPDATE_RENAME, request, str)


async def set_double_texting(client: Client, session_id: str, request: SetDoubleTexting) -> DoubleTexting:
    await _update(client, session_id, UPDATE_SET_DOUBLE_TEXTING, request, str)
    policies.remember(session_id, request.policy)
    return request.policy


async def cancel_reminder(client: Client, session_id: str, request: CancelReminder) -> Reminder:
    return await _update(client, session_id, UPDATE_CANCEL_REMINDER, request, Reminder)


async def cancel_check_in(client: Client, session_id: str, request: CancelCheckIn) -> CheckIn:
    return await _update(client, session_id, UPDATE_CANCEL_CHECK_IN, request, CheckIn)


async def delete(client: Client, session_id: str, by: str) -> None:
    """Marks the session deleted (its user's lists leave it out from then on), then closes it as
    `close` does. A session closed before has no workflow to tell: its closed execution is deleted
    from Temporal (history and visibility, so the operator no longer sees it either). Deleting a
    deleted session again changes nothing."""
    description = await _describe(client, session_id)
    if description.typed_search_attributes.get(SA_STATUS) == DELETED and (
        description.status != WorkflowExecutionStatus.RUNNING
    ):
        return
    if description.status == WorkflowExecutionStatus.RUNNING:
        try:
            await _update(client, session_id, UPDATE_DELETE, DeleteRequest(by=by), type(None))
            await close(client, session_id)
            return
        except SessionClosed:
            pass  # it closed meanwhile: delete the closed execution
    request = DeleteWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=ExecutionRef(workflow_id=workflow_id(session_id), run_id=description.run_id),
    )
    try:
        # Temporal deletes in the background: the lists drop the session when it has.
        await client.workflow_service.delete_workflow_execution(request)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SessionNotFound(session_id) from error  # a concurrent delete got there first
        raise


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


def quote(value: str) -> str:
    """A value as a string literal of a Temporal visibility query."""
    return value.replace('\\', '\\\\').replace('"', '\\"')
