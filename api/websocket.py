"""The session websocket: a snapshot, then the live tail; messages sent on it are signals.

Joining snapshot and tail without gap or double: the snapshot says which turns it holds whole, and
the tail skips events of those turns. A client that reconnects with its last event id gets exactly
the events after it, unless the stream no longer holds them (trimmed, or Redis lost it): then it
gets a fresh snapshot instead, which is always complete.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from typing import Any, cast

import redis.asyncio as aioredis
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from temporalio.client import Client

from durable_chat.api import chat_sessions, limits, metrics, prepared_recall, streams
from durable_chat.api.auth import Principal
from durable_chat.api.chat_sessions import SessionClosed, SessionNotFound, SessionUnreadable
from durable_chat.api.deps import authenticate
from durable_chat.api.live_stats import FirstTokens
from durable_chat.api.metrics import FRAMES, WEBSOCKETS
from durable_chat.api.schemas import MessageIn, MessageRejected, accept_message
from durable_chat.settings import Settings
from durable_chat.workflows.contract import RUN_ERROR, Frame, StreamEntry, decode_event, stream_key

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_TRY_AGAIN_LATER = 1013
XREAD_BLOCK_MS = 15_000
REDIS_RETRY_SECONDS = 0.5


class _Socket:
    """Serialises sends: the tail forwarder and the message receiver share one socket."""

    def __init__(self, ws: WebSocket, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.first_tokens = FirstTokens()
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self.ws.send_text(json.dumps(frame))
        FRAMES.labels(frame.get('type', 'unknown')).inc()

    async def error(self, reason: str, status: int = 400, **extra: Any) -> None:
        await self.send({'type': 'ERROR', 'status': status, 'reason': reason, **extra})

    async def relay(self, frame: Frame) -> None:
        """Sends a frame of the session's stream, and measures it for the live stats."""
        await self.send(frame)
        kind, turn = frame['type'], frame['turn']
        if kind == RUN_ERROR:
            metrics.run_error(self.session_id, turn)
        if (seconds := self.first_tokens.relayed(kind, turn)) is not None:
            metrics.first_token(seconds)


@router.websocket('/ws/sessions/{session_id}')
async def session_socket(
    ws: WebSocket, session_id: str, after: str | None = None, token: str | None = None
) -> None:
    state = ws.app.state
    settings: Settings = state.settings
    await ws.accept()
    socket = _Socket(ws, session_id)
    # Browsers cannot set headers on a websocket, so the page passes its token as `?token=`.
    header = ws.headers.get('authorization', '')
    try:
        user = authenticate(state.secret, token or header.removeprefix('Bearer ').strip() or None)
    except HTTPException as error:
        await socket.error(str(error.detail), status=401)
        await ws.close(CLOSE_UNAUTHENTICATED, 'unauthenticated')
        return
    async with limits.websocket_slot(state.redis, settings, user) as admitted:
        if not admitted:
            reason = f'too many open connections: at most {settings.limit_websockets_per_user} per user'
            await socket.error(reason, status=429)
            await ws.close(CLOSE_TOO_MANY, reason)
            return
        await _serve(socket, user, session_id, after)


async def _serve(socket: _Socket, user: Principal, session_id: str, after: str | None) -> None:
    state = socket.ws.app.state
    client: Client = state.temporal
    redis: aioredis.Redis = state.redis
    try:
        await state.owners.authorize(session_id, user)
        start_id = await _open(socket, client, redis, session_id, after)
    except SessionNotFound:
        await socket.error(f'no session {session_id}', status=404)
        await socket.ws.close(CLOSE_NOT_FOUND, 'no such session')
        return
    except SessionUnreadable as error:
        await socket.error(str(error), status=503)
        await socket.ws.close(CLOSE_TRY_AGAIN_LATER, 'session unreadable')
        return
    except aioredis.RedisError as error:
        # Without the stream there is no live tail to join the snapshot to: the client comes back.
        log.warning('websocket for %s refused: Redis unavailable (%s)', session_id, error)
        await socket.error('the live stream is unavailable; reconnect shortly', status=503)
        await socket.ws.close(CLOSE_TRY_AGAIN_LATER, 'stream unavailable')
        return
    forwarder = asyncio.create_task(_forward(socket, redis, session_id, start_id))
    WEBSOCKETS.inc()
    metrics.socket_opened(session_id)
    try:
        may_send = await state.owners.owner(session_id) == user.username
        await _receive(socket, client, redis, state.settings, user, session_id, may_send)
    except WebSocketDisconnect:
        pass
    finally:
        forwarder.cancel()
        WEBSOCKETS.dec()
        metrics.socket_closed(session_id)


async def _open(
    socket: _Socket, client: Client, redis: aioredis.Redis, session_id: str, after: str | None
) -> str:
    if after and streams.is_valid_event_id(after) and await _holds(redis, session_id, after):
        # The turns the stream holds already answer no message this socket will take.
        socket.first_tokens.knows_turns_up_to(await _last_turn(redis, session_id))
        return after
    snapshot = await chat_sessions.snapshot(client, session_id)
    await socket.send({'type': 'SNAPSHOT', 'session': asdict(snapshot)})
    socket.first_tokens.knows_turns_up_to(max((t.number for t in snapshot.turns), default=0))
    frames, last_id = await streams.tail_for_snapshot(redis, session_id, snapshot.finished_turns)
    for frame in frames:
        await socket.relay(frame)
    return last_id


async def _holds(redis: aioredis.Redis, session_id: str, after: str) -> bool:
    try:
        return await streams.still_holds(redis, session_id, after)
    except aioredis.RedisError:
        return False


async def _last_turn(redis: aioredis.Redis, session_id: str) -> int:
    """The turn of the stream's newest event (0 if Redis can't say: only the live stats are worse)."""
    try:
        entries = cast(list[StreamEntry], await redis.xrevrange(stream_key(session_id), count=1))
    except aioredis.RedisError:
        return 0
    return decode_event(*entries[0])['turn'] if entries else 0


async def _forward(socket: _Socket, redis: aioredis.Redis, session_id: str, last_id: str) -> None:
    while True:
        try:
            frames = await streams.read_after(redis, session_id, last_id, XREAD_BLOCK_MS)
        except aioredis.RedisError as error:
            # Redis restarting costs a pause, not the connection: the workflow still holds the truth.
            log.warning('stream read for %s failed (%s); retrying', session_id, error)
            await asyncio.sleep(REDIS_RETRY_SECONDS)
            continue
        for frame in frames:
            await socket.relay(frame)
            last_id = frame['event_id']


async def _receive(
    socket: _Socket,
    client: Client,
    redis: aioredis.Redis,
    settings: Settings,
    user: Principal,
    session_id: str,
    may_send: bool,
) -> None:
    while True:
        received = await socket.ws.receive()
        if received['type'] == 'websocket.disconnect':
            raise WebSocketDisconnect(received.get('code', 1000))
        raw = received.get('text')
        if raw is None:
            await socket.error('binary frames are not supported; send JSON text')
            continue
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):  # nested too deep for the parser: not JSON we take
            await socket.error('frame is not JSON')
            continue
        if not isinstance(data, dict) or data.get('type') != 'message':
            await socket.error('unknown frame: expected {"type": "message", "id": ..., "text": ...}')
            continue
        if not may_send:
            await socket.error("only the session's user sends messages", status=403, id=data.get('id'))
            continue
        try:
            message = accept_message(MessageIn.model_validate(data), settings.max_message_chars)
            await limits.take(redis, settings, user, 'messages')  # over the limit: never signalled
            # Registered before the signal: its turn's first frame may be relayed before the call returns.
            ticket = socket.first_tokens.accepted()
            try:
                await prepared_recall.send_with_recall(
                    client,
                    redis,
                    settings,
                    user.username,
                    session_id,
                    message,
                )
            except BaseException:
                socket.first_tokens.withdraw(ticket)
                raise
        except ValidationError as error:
            await socket.error(f'invalid message: {_first_error(error)}', status=422, id=data.get('id'))
        except MessageRejected as rejected:
            await socket.error(rejected.reason, status=rejected.status, id=data.get('id'))
        except limits.Limited as limited:
            await socket.error(limited.reason, status=429, id=data.get('id'), retry_after=limited.retry_after)
        except SessionClosed:
            await socket.error(f'session {session_id} is closed', status=409, id=data.get('id'))
        else:
            await socket.send({'type': 'ACK', 'id': message.id})


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = '.'.join(str(p) for p in first['loc'])
    return f'{where}: {first["msg"]}' if where else first['msg']
