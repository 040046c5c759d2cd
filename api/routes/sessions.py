"""REST for a user's sessions: create, list, read, rename, post a message, interrupt, close, delete,
and the reminders and check-ins a session holds.

Users reach only their own sessions (another user's reads as 404, never as its data); operators
reach every session through the same routes.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from durable_chat.api import agents, chat_sessions, check_ins, limits, prepared_recall
from durable_chat.api.chat_sessions import SessionOwners
from durable_chat.api.check_ins import ListedCheckIn
from durable_chat.api.deps import CurrentUser, RedisClient, SettingsDep, TemporalClient
from durable_chat.api.memory_ops import whole_conversation
from durable_chat.api.schemas import (
    SESSION_ID_PATTERN,
    ApprovalIn,
    InterruptIn,
    MessageIn,
    MessageRejected,
    ModelChoice,
    ModelIn,
    SessionCreate,
    SessionDeleted,
    SessionOut,
    SessionPatch,
    SessionPatched,
    accept_message,
    error_responses,
    timezone_problem,
)
from durable_chat.settings import Settings
from durable_chat.workflows.contract import (
    TITLE_MAX_CHARS,
    ApprovalAnswer,
    CancelCheckIn,
    CancelReminder,
    CheckIn,
    InterruptRequest,
    Reminder,
    Rename,
    SetDoubleTexting,
    SetModel,
    UserMessage,
    new_session_id,
    title_problem,
)

router = APIRouter(prefix='/sessions', tags=['sessions'])

SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]


def get_owners(request: Request) -> SessionOwners:
    return request.app.state.owners


Owners = Annotated[SessionOwners, Depends(get_owners)]


def _accept(message: MessageIn, max_chars: int) -> UserMessage:
    try:
        return accept_message(message, max_chars)
    except MessageRejected as rejected:
        raise HTTPException(rejected.status, rejected.reason) from None


@router.post('', status_code=status.HTTP_201_CREATED, responses=limits.RATE_LIMITED)
async def create_session(
    body: SessionCreate,
    user: CurrentUser,
    client: TemporalClient,
    redis: RedisClient,
    settings: SettingsDep,
    owners: Owners,
) -> dict[str, str]:
    first = _accept(body.message, settings.max_message_chars) if body.message else None
    if (problem := timezone_problem(body.timezone)) is not None:
        raise HTTPException(422, problem)
    agent, model = await _choice(redis, settings, body)
    # A first message counts as a message too; both are counted or neither (a 429 creates nothing).
    kinds: list[limits.Kind] = ['sessions', 'messages'] if first else ['sessions']
    await limits.enforce(redis, settings, user, *kinds)
    session_id = body.session_id or new_session_id()
    if body.session_id is not None:
        # A retried create names a session that may exist: only its owner may land on it again.
        try:
            owner = await owners.owner(session_id)
        except chat_sessions.SessionNotFound:
            owner = user.username
        if owner != user.username:
            raise HTTPException(409, 'that session id is taken')
    await chat_sessions.create_session(
        client,
        settings,
        user.username,
        session_id,
        first,
        agent,
        model,
        timezone=body.timezone,
        double_texting=body.double_texting,
    )
    owners.remember(session_id, user.username)
    return {'session_id': session_id, 'agent': agent, 'model': model}


async def _choice(redis: aioredis.Redis, settings: Settings, body: SessionCreate) -> tuple[str, str]:
    try:
        catalogue = await agents.catalogue(redis, settings.task_queue)
    except agents.NoCatalogue:
        if body.agent or body.model:
            raise  # a choice needs the catalogue to check it against
        # No worker has said yet what it serves: the session starts (durably) with the default
        # agent's default model, answered once a worker comes.
        return settings.default_agent, ''
    return catalogue.choose(body.agent, body.model)


@router.get('')
async def list_sessions(
    user: CurrentUser,
    client: TemporalClient,
    q: Annotated[str | None, Query(max_length=TITLE_MAX_CHARS, description='Part of the title.')] = None,
) -> list[SessionOut]:
    """The caller's sessions, newest activity first; deleted ones never. `q` keeps those whose
    title holds it (case-insensitive), filtered in Python over the user's latest 200 sessions."""
    sessions = await chat_sessions.list_sessions(client, user_id=user.username, title=q, hide_deleted=True)
    return [SessionOut(**asdict(s)) for s in sessions]


@router.get('/{session_id}')
async def read_session(
    session_id: SessionId, user: CurrentUser, client: TemporalClient, owners: Owners
) -> dict[str, Any]:
    await owners.authorize(session_id, user)
    return asdict(await chat_sessions.snapshot(client, session_id))


@router.patch('/{session_id}', response_model_exclude_none=True)
async def patch_session(
    session_id: SessionId, body: SessionPatch, user: CurrentUser, client: TemporalClient, owners: Owners
) -> SessionPatched:
    """A title of the user's choosing: the session keeps it (the automatic title from the first
    message never replaces it). A double-texting policy: what a message sent while a reply is being
    written does from now on. A closed or deleted session is a 409."""
    await owners.authorize(session_id, user)
    if body.title is None and body.double_texting is None:
        raise HTTPException(422, 'give a title, a double_texting policy, or both')
    if body.title is not None and (problem := title_problem(body.title)) is not None:
        raise HTTPException(422, problem)
    patched = SessionPatched(session_id=session_id)
    if body.double_texting is not None:
        request = SetDoubleTexting(body.double_texting, by=user.username)
        patched.double_texting = await chat_sessions.set_double_texting(client, session_id, request)
    if body.title is not None:
        patched.title = await chat_sessions.rename(client, session_id, Rename(body.title, by=user.username))
    return patched


@router.delete('/{session_id}')
async def delete_session(
    session_id: SessionId, user: CurrentUser, client: TemporalClient, owners: Owners
) -> SessionDeleted:
    """Closes the session as `POST /close` does (a running turn is interrupted, queued messages
    dropped, SESSION_CLOSED sent) and hides it from its user's list for good; the operator list shows
    it as `deleted`. A session that was already closed can no longer be told: its closed execution is
    deleted from Temporal instead (history and visibility), so it is gone for the operator too; Temporal
    deletes in the background, and the lists drop it within about a minute. Deleting again answers
    200 while Temporal still holds the session, 404 once it is gone."""
    await owners.authorize(session_id, user)
    await chat_sessions.delete(client, session_id, by=user.username)
    return SessionDeleted(session_id=session_id, status='deleted')


@router.get('/{session_id}/reminders')
async def list_reminders(
    session_id: SessionId, user: CurrentUser, client: TemporalClient, owners: Owners
) -> list[Reminder]:
    """The session's reminders: pending ones by due time (UTC), then the ones fired or cancelled lately."""
    await owners.authorize(session_id, user)
    return (await chat_sessions.snapshot(client, session_id)).reminders


@router.delete('/{session_id}/reminders/{reminder_id}')
async def cancel_reminder(
    session_id: SessionId,
    reminder_id: Annotated[str, Path(min_length=1, max_length=100)],
    user: CurrentUser,
    client: TemporalClient,
    owners: Owners,
) -> Reminder:
    """Cancels a pending reminder: it never comes. One fired or cancelled already is a 409."""
    await owners.authorize(session_id, user)
    held = (await chat_sessions.snapshot(client, session_id)).reminders
    if not any(r.id == reminder_id for r in held):
        raise HTTPException(404, f'no reminder {reminder_id}')
    return await chat_sessions.cancel_reminder(
        client, session_id, CancelReminder(reminder_id, by=user.username)
    )


@router.get('/{session_id}/check-ins')
async def list_check_ins(
    session_id: SessionId, user: CurrentUser, client: TemporalClient, owners: Owners
) -> list[ListedCheckIn]:
    """The session's check-ins: active ones in the order they were set, each with its next time (UTC,
    from its Temporal Schedule), then the ones cancelled lately."""
    await owners.authorize(session_id, user)
    held = (await chat_sessions.snapshot(client, session_id)).check_ins
    return await check_ins.with_next_runs(client, held)


@router.delete('/{session_id}/check-ins/{check_in_id}')
async def cancel_check_in(
    session_id: SessionId,
    check_in_id: Annotated[str, Path(min_length=1, max_length=100)],
    user: CurrentUser,
    client: TemporalClient,
    owners: Owners,
) -> CheckIn:
    """Cancels an active check-in: its schedule is deleted and it never comes again. One cancelled
    already is a 409."""
    await owners.authorize(session_id, user)
    held = (await chat_sessions.snapshot(client, session_id)).check_ins
    if not any(c.id == check_in_id for c in held):
        raise HTTPException(404, f'no check-in {check_in_id}')
    return await chat_sessions.cancel_check_in(
        client, session_id, CancelCheckIn(check_in_id, by=user.username)
    )


@router.get('/{session_id}/history')
async def read_history(
    session_id: SessionId, user: CurrentUser, client: TemporalClient, settings: SettingsDep, owners: Owners
) -> dict[str, Any]:
    """The whole conversation: turns archived out of the workflow, then the ones it still holds."""
    await owners.authorize(session_id, user)
    snapshot = await chat_sessions.snapshot(client, session_id)
    return {'session_id': session_id, 'turns': await whole_conversation(client, settings, snapshot)}


@router.post('/{session_id}/messages', status_code=status.HTTP_202_ACCEPTED, responses=limits.RATE_LIMITED)
async def post_message(
    session_id: SessionId,
    body: MessageIn,
    user: CurrentUser,
    client: TemporalClient,
    redis: RedisClient,
    settings: SettingsDep,
    owners: Owners,
) -> dict[str, str]:
    """With `replaces: N` the message redoes turn N, which must be the last turn and finished (else
    409): a new turn, answered without turn N's exchange; turn N stays in the transcript."""
    message = _accept(body, settings.max_message_chars)
    await owners.authorize(session_id, user, owner_only=True)
    await limits.enforce(redis, settings, user, 'messages')  # over the limit: never signalled
    try:
        await prepared_recall.send_with_recall(client, redis, settings, user.username, session_id, message)
    except MessageRejected as rejected:
        raise HTTPException(rejected.status, rejected.reason) from None
    return {'session_id': session_id, 'message_id': message.id}


@router.post('/{session_id}/interrupt')
async def interrupt_turn(
    session_id: SessionId,
    user: CurrentUser,
    client: TemporalClient,
    owners: Owners,
    body: InterruptIn | None = None,
) -> dict[str, Any]:
    await owners.authorize(session_id, user)
    request = InterruptRequest(drop_queued=body.drop_queued if body else False, by=user.username)
    return asdict(await chat_sessions.interrupt(client, session_id, request))


@router.post('/{session_id}/model', responses=error_responses(422))
async def choose_model(
    session_id: SessionId,
    body: ModelIn,
    user: CurrentUser,
    client: TemporalClient,
    redis: RedisClient,
    settings: SettingsDep,
    owners: Owners,
) -> ModelChoice:
    """The model of the session's next turns, among its agent's models (a running turn keeps its own)."""
    await owners.authorize(session_id, user, owner_only=True)
    snapshot = await chat_sessions.snapshot(client, session_id)
    agents.checked_model(
        (await agents.catalogue(redis, settings.task_queue)).agent(snapshot.agent), body.model
    )
    model = await chat_sessions.set_model(client, session_id, SetModel(body.model, by=user.username))
    return ModelChoice(session_id=session_id, agent=snapshot.agent, model=model)


@router.post('/{session_id}/close')
async def close_session(
    session_id: SessionId, user: CurrentUser, client: TemporalClient, owners: Owners
) -> dict[str, str]:
    await owners.authorize(session_id, user)
    await chat_sessions.close(client, session_id)
    return {'session_id': session_id, 'status': 'closed'}


@router.post('/{session_id}/approvals/{approval_id}')
async def answer_approval(
    session_id: SessionId,
    approval_id: Annotated[str, Path(min_length=1, max_length=200)],
    body: ApprovalIn,
    user: CurrentUser,
    client: TemporalClient,
    owners: Owners,
) -> dict[str, Any]:
    await owners.authorize(session_id, user)
    answer = ApprovalAnswer(
        approval_id=approval_id, approve=body.approve, reason=body.reason, by=user.username
    )
    return asdict(await chat_sessions.answer_approval(client, session_id, answer))
