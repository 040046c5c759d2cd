"""AG-UI over HTTP: an AG-UI client (CopilotKit, `@ag-ui/client`'s HttpAgent, ...) chats with a
durable session, and each request answers the AG-UI events of one run as server-sent events.

`POST /ag-ui/sessions/{session_id}` runs in a session the caller owns; `POST /ag-ui/sessions` runs in
the session its `threadId` names (a UUID, with or without dashes, is the session id), creating it on
first use, so a client that only knows AG-UI starts sessions by choosing thread ids.

A `RunAgentInput` asks, in this order of precedence:
- `resume` entries: the answers to the approvals that ended the previous run (`interruptId` is the
  approval id; payload `{"approved": bool, "reason": "..."}`, or `status: "cancelled"`);
- `tool` messages after the last user message answering calls of the client's own tools;
- else its last user message: sent to the session (a signal, idempotent by the AG-UI message id),
  with the input's `tools` as tools the client runs itself.
Whatever it asks, answering again what was answered changes nothing: the same request sent again (a
lost connection) gets its run again, from its start, each message once (see `api/ag_ui.py`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, cast

import redis.asyncio as aioredis
from ag_ui.core import (
    BaseEvent,
    Message,
    RunAgentInput,
    RunErrorEvent,
    ToolMessage,
)
from ag_ui.core import UserMessage as AguiUserMessage
from ag_ui.encoder import EventEncoder
from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.api import agents, chat_sessions, limits, prepared_recall, streams
from durable_chat.api.ag_ui import AguiRun, ApprovalPayload, user_text
from durable_chat.api.auth import Principal
from durable_chat.api.deps import CurrentUser, RedisClient, SettingsDep, TemporalClient
from durable_chat.api.routes.sessions import Owners, SessionId
from durable_chat.api.schemas import MessageIn, MessageRejected, accept_message, error_responses
from durable_chat.settings import Settings
from durable_chat.workflows.contract import (
    APPROVAL_REQUESTED,
    CLIENT_TOOL_REQUESTED,
    FINISHED_TURN_STATUSES,
    QUERY_CLIENT_TOOL_CALLS,
    UPDATE_CLIENT_TOOL_RESULT,
    ApprovalAnswer,
    ClientTool,
    ClientToolCall,
    ClientToolResult,
    Frame,
    Snapshot,
    StreamEntry,
    Turn,
    UserMessage,
    decode_event,
    stream_key,
    workflow_id,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix='/ag-ui', tags=['ag-ui'])

TURN_WAIT_SECONDS = 30.0
"""How long a run waits for the session to take its message (a worker replaying, say)."""
POLL_SECONDS = 0.05
XREAD_BLOCK_MS = 15_000
REDIS_RETRY_SECONDS = 0.5
CANCELLED = 'Cancelled by user.'
SSE_HEADERS = {'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'}
RESPONSES = (
    error_responses(400, 401, 403, 404, 409, 413, 422, 503)
    | limits.RATE_LIMITED
    | {200: {'content': {'text/event-stream': {}}, 'description': 'The run, as AG-UI events.'}}
)
AgentInput = Annotated[RunAgentInput, Body(description="AG-UI's RunAgentInput.")]


@dataclass
class _Plan:
    """What a request asks of the session, once done: the turn whose run it answers, and where."""

    message_id: str = ''
    """The user message whose turn it is, when its number is not known yet."""
    turn: int = 0
    after: set[tuple[str, str]] = field(default_factory=set[tuple[str, str]])
    """The pause frames (type, id) the run starts after; none: the turn's start."""
    answered: set[str] = field(default_factory=set[str])
    """Approvals and client calls this request answers: their pause frames do not end the run."""


def session_of_thread(thread_id: str) -> str | None:
    try:
        return uuid.UUID(thread_id).hex
    except ValueError:
        return None


@router.post('/sessions', responses=RESPONSES)
async def run_in_thread(
    body: AgentInput,
    user: CurrentUser,
    client: TemporalClient,
    redis: RedisClient,
    settings: SettingsDep,
    owners: Owners,
) -> StreamingResponse:
    """Runs in the session the `threadId` names (a UUID), creating it with the input's last user
    message the first time; `forwardedProps` may choose its `agent` and `model` then. Another
    user's thread is a 404."""
    session_id = session_of_thread(body.thread_id)
    if session_id is None:
        raise HTTPException(422, 'threadId must be a UUID: it names the session')
    try:
        owner = await owners.owner(session_id)
    except chat_sessions.SessionNotFound:
        owner = None
    if owner is None:
        plan = await _create(body, session_id, user, client, redis, settings)
        return _respond(body, session_id, plan, client, redis)
    if owner != user.username:
        raise chat_sessions.SessionNotFound(session_id)
    return await run_in_session(session_id, body, user, client, redis, settings, owners)


@router.post('/sessions/{session_id}', responses=RESPONSES)
async def run_in_session(
    session_id: SessionId,
    body: AgentInput,
    user: CurrentUser,
    client: TemporalClient,
    redis: RedisClient,
    settings: SettingsDep,
    owners: Owners,
) -> StreamingResponse:
    """One AG-UI run of the session's turn the input asks for (see the module's words)."""
    await owners.authorize(session_id, user, owner_only=True)
    if body.resume:
        plan = await _answer_approvals(body, session_id, user, client)
    else:
        plan = await _answer_client_calls(body, session_id, client) or await _send(
            body, session_id, user, client, redis, settings
        )
    return _respond(body, session_id, plan, client, redis)


def _respond(
    body: RunAgentInput, session_id: str, plan: _Plan, client: Client, redis: aioredis.Redis
) -> StreamingResponse:
    held = list(body.messages)
    own_results = {m.tool_call_id: m.id for m in held if isinstance(m, ToolMessage)}
    run = AguiRun(body.thread_id, body.run_id, held, skip_results=own_results)
    events = _Events(run, plan, session_id, client, redis)
    encoder = EventEncoder()
    return StreamingResponse(
        events.encoded(encoder), media_type=encoder.get_content_type(), headers=SSE_HEADERS
    )


# --- what a request asks -----------------------------------------------------------------------


def _last_user_message(body: RunAgentInput) -> tuple[AguiUserMessage, list[Message]]:
    """The input's last user message and the messages after it."""
    for index in range(len(body.messages) - 1, -1, -1):
        message = body.messages[index]
        if isinstance(message, AguiUserMessage):
            return message, list(body.messages[index + 1 :])
    raise HTTPException(422, 'the input holds no user message')


def _user_message(body: RunAgentInput, settings: Settings) -> UserMessage:
    last, _after = _last_user_message(body)
    try:
        message = accept_message(MessageIn(id=last.id, text=user_text(last)), settings.max_message_chars)
    except ValidationError as error:
        raise HTTPException(422, f'the last user message: {error.errors()[0]["msg"]}') from None
    except MessageRejected as rejected:
        raise HTTPException(rejected.status, rejected.reason) from None
    message.tools = [
        ClientTool(t.name, t.description, t.parameters if isinstance(t.parameters, dict) else {})
        for t in body.tools or []
    ]
    return message


async def _create(
    body: RunAgentInput,
    session_id: str,
    user: Principal,
    client: Client,
    redis: aioredis.Redis,
    settings: Settings,
) -> _Plan:
    message = _user_message(body, settings)
    props = body.forwarded_props if isinstance(body.forwarded_props, dict) else {}
    props = cast(dict[str, object], props)
    wanted_agent, wanted_model = props.get('agent'), props.get('model')
    try:
        catalogue = await agents.catalogue(redis, settings.task_queue)
        agent, model = catalogue.choose(
            str(wanted_agent) if wanted_agent else None, str(wanted_model) if wanted_model else None
        )
    except agents.NoCatalogue:
        if wanted_agent or wanted_model:
            raise
        agent, model = settings.default_agent, ''
    await limits.enforce(redis, settings, user, 'sessions', 'messages')
    await chat_sessions.create_session(client, settings, user.username, session_id, message, agent, model)
    return _Plan(message_id=message.id)


async def _send(
    body: RunAgentInput,
    session_id: str,
    user: Principal,
    client: Client,
    redis: aioredis.Redis,
    settings: Settings,
) -> _Plan:
    message = _user_message(body, settings)
    current = await _snapshot_or_none(client, session_id)
    taken = next((t for t in current.turns if t.message_id == message.id), None) if current else None
    if taken is not None:
        return _Plan(turn=taken.number)  # sent before: this run is that turn's again
    await limits.enforce(redis, settings, user, 'messages')
    try:
        await prepared_recall.send_with_recall(
            client,
            redis,
            settings,
            user.username,
            session_id,
            message,
        )
    except MessageRejected as rejected:
        raise HTTPException(rejected.status, rejected.reason) from None
    return _Plan(message_id=message.id)


async def _answer_approvals(body: RunAgentInput, session_id: str, user: Principal, client: Client) -> _Plan:
    current = await chat_sessions.snapshot(client, session_id)
    plan = _Plan()
    for entry in body.resume or []:
        approval = next((a for a in current.approvals if a.id == entry.interrupt_id), None)
        if approval is None:
            raise HTTPException(409, f'no interrupt {entry.interrupt_id} in this session')
        plan.turn = approval.turn
        plan.after.add((APPROVAL_REQUESTED, approval.id))
        plan.answered.add(approval.id)
        if approval.status != 'pending':
            continue  # answered before (this request again, or another page)
        if entry.status == 'cancelled':
            answer = ApprovalAnswer(approval.id, approve=False, reason=CANCELLED, by=user.username)
        else:
            try:
                payload = ApprovalPayload.model_validate(entry.payload)
            except ValidationError:
                raise HTTPException(
                    422, f'resume {entry.interrupt_id}: payload must be {{"approved": bool}}'
                ) from None
            answer = ApprovalAnswer(approval.id, payload.approved, payload.reason, by=user.username)
        await chat_sessions.answer_approval(client, session_id, answer)
    return plan


async def _answer_client_calls(body: RunAgentInput, session_id: str, client: Client) -> _Plan | None:
    """Posts the results of the client's own tools the input carries; None when it carries none."""
    _last, after = _last_user_message(body)
    results = [m for m in after if isinstance(m, ToolMessage)]
    if not results:
        return None
    calls = {c.id: c for c in await _client_calls(client, session_id)}
    plan = _Plan()
    for result in results:
        call = calls.get(result.tool_call_id)
        if call is None:
            continue  # a result of one of the agent's own tools, as the client holds it
        plan.turn = call.turn
        plan.after.add((CLIENT_TOOL_REQUESTED, call.id))
        plan.answered.add(call.id)
        if call.status == 'pending':
            answer = ClientToolResult(call.id, user_text(result), result.error or '')
            await _post_client_result(client, session_id, answer)
    return plan if plan.turn else None


async def _client_calls(client: Client, session_id: str) -> list[ClientToolCall]:
    handle = client.get_workflow_handle(workflow_id(session_id))
    try:
        return await handle.query(QUERY_CLIENT_TOOL_CALLS, result_type=list[ClientToolCall])
    except WorkflowQueryFailedError:
        return []  # a worker from before client tools: the session has none
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise chat_sessions.SessionNotFound(session_id) from error
        raise


async def _post_client_result(client: Client, session_id: str, result: ClientToolResult) -> None:
    handle = client.get_workflow_handle(workflow_id(session_id))
    try:
        await handle.execute_update(UPDATE_CLIENT_TOOL_RESULT, result, result_type=ClientToolCall)
    except WorkflowUpdateFailedError as error:
        raise chat_sessions.Refused(str(error.cause or error)) from error


async def _snapshot_or_none(client: Client, session_id: str) -> Snapshot | None:
    try:
        return await chat_sessions.snapshot(client, session_id, rpc_timeout=chat_sessions.CHECK_TIMEOUT)
    except (RPCError, chat_sessions.SessionUnreadable):
        return None  # signalled anyway: the message id keeps a resend from doubling


# --- the run's events --------------------------------------------------------------------------


class TurnNotFound(Exception):
    pass


@dataclass
class _Events:
    run: AguiRun
    plan: _Plan
    session_id: str
    client: Client
    redis: aioredis.Redis

    async def encoded(self, encoder: EventEncoder) -> AsyncIterator[str]:
        async for events in self._events():
            if events:
                yield ''.join(encoder.encode(e) for e in events)

    async def _events(self) -> AsyncIterator[Sequence[BaseEvent]]:
        run = self.run
        yield [run.started()]
        try:
            turn = self.plan.turn or await self._turn_of(self.plan.message_id)
        except TurnNotFound as error:
            yield [RunErrorEvent(message=str(error))]
            return
        frames, last_id = await self._turn_frames(turn)
        present = frames[_start(frames, self.plan.after) :]
        run.quiet = _holds_any(run.held, present)
        if not frames and (record := await self._record(turn)) is not None and _over(record):
            yield run.finished_as(record)  # the stream no longer holds this turn
            return
        for frame in present:
            yield await self._frame(frame)
            if run.ended:
                return
        yield run.resume()
        while not run.ended:
            try:
                fresh = await streams.read_after(self.redis, self.session_id, last_id, XREAD_BLOCK_MS)
            except aioredis.RedisError as error:
                log.warning('AG-UI run of %s: stream read failed (%s); retrying', self.session_id, error)
                await asyncio.sleep(REDIS_RETRY_SECONDS)
                continue
            if not fresh:
                # Quiet a while: had the stream lost the turn's end, the workflow knows it.
                if (record := await self._record(turn)) is not None and _over(record):
                    yield run.finished_as(record)
                continue
            for frame in fresh:
                last_id = frame['event_id']
                if frame['turn'] == turn:
                    yield await self._frame(frame)
                    if run.ended:
                        return

    async def _frame(self, frame: Frame) -> list[BaseEvent]:
        events = self.run.frame(frame)
        kind, paused = frame['type'], str(frame.get('id', ''))
        if self.run.ended or paused in self.plan.answered:
            return events
        if kind == APPROVAL_REQUESTED:
            current = await chat_sessions.snapshot(self.client, self.session_id)
            waiting = [a for a in current.approvals if a.turn == frame['turn'] and a.status == 'pending']
            if waiting:
                events += self.run.interrupted(waiting)
        elif kind == CLIENT_TOOL_REQUESTED:
            batch = set(cast(list[str], frame.get('batch', [paused])))
            calls = await _client_calls(self.client, self.session_id)
            waiting = [c.id for c in calls if c.id in batch and c.status == 'pending']
            if waiting:
                events += self.run.awaiting_client(waiting)
        return events

    async def _turn_of(self, message_id: str) -> int:
        """The number of the turn the session made of the message (once its signal has landed)."""
        deadline = asyncio.get_running_loop().time() + TURN_WAIT_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            current = await _snapshot_or_none(self.client, self.session_id)
            if current is not None:
                if (turn := next((t for t in current.turns if t.message_id == message_id), None)) is not None:
                    return turn.number
            await asyncio.sleep(POLL_SECONDS)
        raise TurnNotFound(f'the session has no turn for message {message_id} (answered long ago?)')

    async def _turn_frames(self, turn: int) -> tuple[list[Frame], str]:
        while True:
            try:
                entries = cast(list[StreamEntry], await self.redis.xrange(stream_key(self.session_id)))
                break
            except aioredis.RedisError as error:
                log.warning('AG-UI run of %s: stream read failed (%s); retrying', self.session_id, error)
                await asyncio.sleep(REDIS_RETRY_SECONDS)
        frames = [decode_event(*entry) for entry in entries]
        last_id = frames[-1]['event_id'] if frames else '0-0'
        return [f for f in frames if f['turn'] == turn], last_id

    async def _record(self, number: int) -> Turn | None:
        current = await _snapshot_or_none(self.client, self.session_id)
        return next((t for t in current.turns if t.number == number), None) if current else None


def _over(turn: Turn) -> bool:
    return turn.status in FINISHED_TURN_STATUSES


def _start(frames: Sequence[Frame], after: set[tuple[str, str]]) -> int:
    """Where the run starts in its turn's frames: after the last pause frame it answers."""
    if not after:
        return 0
    paused = [i for i, f in enumerate(frames) if (f['type'], str(f.get('id', ''))) in after]
    return paused[-1] + 1 if paused else 0


def _holds_any(held: Iterable[Message], frames: Iterable[Frame]) -> bool:
    """Whether the client holds a message or tool call these frames make (it asks for a run again)."""
    ids: set[str] = set()
    for message in held:
        ids.add(message.id)
        ids.update(call.id for call in getattr(message, 'tool_calls', None) or [])
    return any(
        f.get('messageId') in ids or f.get('toolCallId') in ids
        for f in frames
        if f['type'] in ('TEXT_MESSAGE_START', 'TOOL_CALL_START')
    ) or any(f.get('messageId') in ids for f in frames if f['type'] == 'TOOL_CALL_RESULT')
