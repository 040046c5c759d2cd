"""REST for sessions: create, list, read the history, post a message."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status

from api import chat_sessions
from api.chat_sessions import SessionClosed, SessionNotFound
from api.deps import CurrentUser, SettingsDep, TemporalClient
from api.schemas import SESSION_ID_PATTERN, MessageIn, MessageRejected, SessionCreate, accept_message

router = APIRouter(prefix='/sessions', tags=['sessions'])

SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]


def _message_or_error(message: MessageIn, max_chars: int):
    try:
        return accept_message(message, max_chars)
    except MessageRejected as rejected:
        raise HTTPException(rejected.status, rejected.reason) from None


@router.post('', status_code=status.HTTP_201_CREATED)
async def create_session(
    body: SessionCreate, user: CurrentUser, client: TemporalClient, settings: SettingsDep
) -> dict[str, str]:
    first = _message_or_error(body.message, settings.max_message_chars) if body.message else None
    session_id = body.session_id or chat_sessions.new_session_id()
    await chat_sessions.create_session(client, settings.task_queue, user, session_id, first)
    return {'session_id': session_id}


@router.get('')
async def list_sessions(user: CurrentUser, client: TemporalClient) -> list[dict[str, Any]]:
    return [asdict(s) for s in await chat_sessions.list_sessions(client, user)]


@router.get('/{session_id}')
async def read_session(session_id: SessionId, user: CurrentUser, client: TemporalClient) -> dict[str, Any]:
    try:
        snapshot = await chat_sessions.snapshot(client, session_id)
    except SessionNotFound:
        raise HTTPException(404, f'no session {session_id}') from None
    if snapshot.user_id != user:
        raise HTTPException(404, f'no session {session_id}')
    return asdict(snapshot)


@router.post('/{session_id}/messages', status_code=status.HTTP_202_ACCEPTED)
async def post_message(
    session_id: SessionId, body: MessageIn, user: CurrentUser, client: TemporalClient, settings: SettingsDep
) -> dict[str, str]:
    message = _message_or_error(body, settings.max_message_chars)
    try:
        await chat_sessions.send_message(client, session_id, message)
    except SessionNotFound:
        raise HTTPException(404, f'no session {session_id}') from None
    except SessionClosed:
        raise HTTPException(409, f'session {session_id} is closed') from None
    return {'session_id': session_id, 'message_id': message.id}
