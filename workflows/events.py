"""The session's live tail: agent events, shaped as AG-UI events, appended to a Redis Stream.

Runs inside activities (the model activity streams model events live; pydantic-ai runs tool events
in activities of their own), never in workflow code. Each entry is tagged with the turn, the model
step within the turn and the activity attempt, so a client can drop the partial text of an attempt
that a retry replaces.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, Mapping

import redis.asyncio as aioredis
from ag_ui.core import BaseEvent
from pydantic_ai import RunContext
from pydantic_ai.messages import AgentStreamEvent
from pydantic_ai.ui.ag_ui import AGUIEventStream
from redis.commands.core import AsyncScript
from temporalio import activity

from durable_chat.settings import get_settings
from workflows.shared import TurnDeps

# Product events beside AG-UI's own types (DESIGN 4.6).
ATTEMPT_STARTED = 'ATTEMPT_STARTED'
RUN_FINISHED = 'RUN_FINISHED'
RUN_ERROR = 'RUN_ERROR'
TURN_INTERRUPTED = 'TURN_INTERRUPTED'
SESSION_CLOSED = 'SESSION_CLOSED'
APPROVAL_REQUESTED = 'APPROVAL_REQUESTED'
APPROVAL_ANSWERED = 'APPROVAL_ANSWERED'

STOPPED_TTL_SECONDS = 24 * 3600

# Appends an agent event unless its turn was stopped: once TURN_INTERRUPTED is in the stream, no
# later token of that turn can follow it, even while the cancelled activity is still generating.
_APPEND_UNLESS_STOPPED = """
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 1 then return false end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 2))
"""

_clients: dict[int, aioredis.Redis] = {}
_append_scripts: dict[int, AsyncScript] = {}


def stream_key(session_id: str) -> str:
    return f'session:{session_id}:events'


def stopped_key(session_id: str) -> str:
    return f'session:{session_id}:stopped-turns'


def redis_client() -> aioredis.Redis:
    """One client per event loop, reused across activities (a new connection per turn costs ~5 ms)."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = aioredis.Redis.from_url(get_settings().redis_target, socket_timeout=10)
        _clients[loop_id] = client
        _append_scripts[loop_id] = client.register_script(_APPEND_UNLESS_STOPPED)
    return client


def _fields(
    turn: int, step: int, attempt: int, type: str, data: Mapping[str, object]
) -> dict[str, str | int]:
    return {'turn': turn, 'step': step, 'attempt': attempt, 'type': type, 'data': json.dumps(data)}


async def publish(
    session_id: str, *, turn: int, step: int, attempt: int, type: str, data: Mapping[str, object]
) -> None:
    """Appends a workflow-level event; TURN_INTERRUPTED also stops the turn's agent events."""
    redis = redis_client()
    fields = _fields(turn, step, attempt, type, data)
    maxlen = get_settings().stream_maxlen
    if type != TURN_INTERRUPTED:
        await redis.xadd(stream_key(session_id), fields, maxlen=maxlen, approximate=True)
        return
    async with redis.pipeline(transaction=True) as pipe:
        pipe.sadd(stopped_key(session_id), turn)
        pipe.expire(stopped_key(session_id), STOPPED_TTL_SECONDS)
        pipe.xadd(stream_key(session_id), fields, maxlen=maxlen, approximate=True)
        await pipe.execute()


class _Appender:
    """Appends one activity's agent events in order, sending whatever queued up while the previous
    batch was in flight as one pipeline: one round trip per batch, not per token, and no added
    wait for the first token. Each entry is still guarded on its own, so none follows a stop."""

    def __init__(self, session_id: str) -> None:
        client = redis_client()
        self._script = _append_scripts[id(asyncio.get_running_loop())]
        self._client = client
        self._keys = [stream_key(session_id), stopped_key(session_id)]
        self._maxlen = get_settings().stream_maxlen
        self._pending: list[dict[str, str | int]] = []
        self._queued = asyncio.Event()
        self._closing = False
        self.stopped = False
        self._writer = asyncio.create_task(self._write())

    def add(self, fields: dict[str, str | int]) -> None:
        if self._writer.done():
            self._writer.result()  # a Redis error fails the activity, and Temporal retries it
        self._pending.append(fields)
        self._queued.set()

    async def close(self) -> None:
        self._closing = True
        self._queued.set()
        await self._writer

    async def _write(self) -> None:
        while not self.stopped:
            if not self._pending:
                if self._closing:
                    return
                await self._queued.wait()
                self._queued.clear()
                continue
            batch, self._pending = self._pending, []
            async with self._client.pipeline(transaction=False) as pipe:
                for fields in batch:
                    flat = [str(v) for pair in fields.items() for v in pair]
                    await self._script(keys=self._keys, args=[self._maxlen, *flat], client=pipe)
                added = await pipe.execute()
            self.stopped = any(entry is None for entry in added)


def _agui_data(event: BaseEvent) -> dict[str, object]:
    data = event.model_dump(mode='json', by_alias=True, exclude_none=True)
    data.pop('type', None)
    return data


async def publish_agent_events(ctx: RunContext[TurnDeps], events: AsyncIterable[AgentStreamEvent]) -> None:
    """The agent's `event_stream_handler`: forwards one activity's events to the session stream."""
    deps = ctx.deps
    attempt = activity.info().attempt if activity.in_activity() else 1
    translator = AGUIEventStream[TurnDeps, str](thread_id=deps.session_id, run_id=f'turn-{deps.turn}')
    appender = _Appender(deps.session_id)
    first = True
    try:
        async for event in events:
            if appender.stopped:
                continue  # interrupted: the activity's cancellation arrives with its next heartbeat
            if first and attempt > 1:
                # A retry streams the step again from its start: clients drop what they hold of it.
                appender.add(_fields(deps.turn, ctx.run_step, attempt, ATTEMPT_STARTED, {}))
            first = False
            async for agui_event in translator.handle_event(event):
                data = _agui_data(agui_event)
                appender.add(_fields(deps.turn, ctx.run_step, attempt, str(agui_event.type.value), data))
    finally:
        await appender.close()
