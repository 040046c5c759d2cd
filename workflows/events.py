"""The session's live tail: agent events, shaped as AG-UI events, appended to a Redis Stream.

Runs inside activities (the model activity streams model events live; a tool's result goes out in
a local activity of the session, `ChatDurability`), never in workflow code. Each entry is tagged with the turn, the model
step within the turn and the activity attempt, so a client can drop the partial text of an attempt
that a retry replaces.

A delegated sub-agent (a child workflow, `workflows/delegation.py`) writes its events into the parent
session's stream, under the parent's turn, with steps of its own (`STEPS_PER_PARENT_STEP`) and
`parentToolCallId`: the parent's `delegate` call they belong to. They are not the turn's reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import cast

from ag_ui.core import BaseEvent
from pydantic_ai import RunContext
from pydantic_ai.messages import (
    AgentStreamEvent,
    FinalResultEvent,
    FunctionToolCallEvent,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
)
from pydantic_ai.ui.ag_ui import AGUIEventStream
from redis.commands.core import AsyncScript
from temporalio import activity

from durable_chat.redis_clients import RedisClient, connect_redis
from durable_chat.settings import get_settings
from durable_chat.workflows.contract import (
    ATTEMPT_STARTED,
    TEXT_MESSAGE_CONTENT,
    TURN_INTERRUPTED,
    Frame,
    StreamEntry,
    decode_event,
    encode_event,
    stream_key,
)
from durable_chat.workflows.shared import ToolEvent, TurnDeps

STOPPED_TTL_SECONDS = 24 * 3600
PUBLISHED_TTL_SECONDS = 24 * 3600
TAIL_PAGE = 256
MODEL_STREAM_EVENTS = (PartStartEvent, PartDeltaEvent, PartEndEvent, FinalResultEvent)
"""A model response's stream, as a model request's activity streams it live."""
PARENT_TOOL_CALL_ID = 'parentToolCallId'
"""In a delegated sub-agent's frames: the parent's `delegate` tool call (AG-UI's camelCase)."""

# Appends a batch of one turn's agent events unless the turn was stopped: once TURN_INTERRUPTED is
# in the stream, no later token of that turn can follow it, even while the cancelled activity is
# still generating. ARGV: maxlen, the turn, the batch's identity ('' for none: a model stream's
# attempts are told apart by clients), its TTL, then per event its field count and its fields.
# A batch with an identity is appended once (KEYS[3] remembers it): a local activity can run again.
# One script call per batch, not a pipeline of calls: a cluster client pipelines no scripts.
_APPEND_UNLESS_STOPPED = """
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return false end
if ARGV[3] ~= '' then
  if redis.call('SADD', KEYS[3], ARGV[3]) == 0 then return 1 end
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
local i = 5
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
"""

# Appends a workflow-level event once: a local activity runs again when its workflow task did not
# complete (a signal arriving while a turn ends and the run continues as new is enough), so each
# event's identity is recorded beside the stream and a rerun's append is a no-op.
_APPEND_ONCE = """
if ARGV[5] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[5]) == 1 then return false end
if redis.call('SADD', KEYS[3], ARGV[3]) == 0 then return false end
redis.call('EXPIRE', KEYS[3], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('SADD', KEYS[2], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 6))
"""

_clients: dict[int, RedisClient] = {}
_append_scripts: dict[int, AsyncScript] = {}
_once_scripts: dict[int, AsyncScript] = {}


# Each in the session's hash tag, as the stream (`stream_key`): a script touches them together.
def stopped_key(session_id: str) -> str:
    return f'session:{{{session_id}}}:stopped-turns'


def published_key(session_id: str, turn: int) -> str:
    return f'session:{{{session_id}}}:turn:{turn}:published'


def redis_client() -> RedisClient:
    """One client per event loop, reused across activities (a new connection per turn costs ~5 ms)."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = connect_redis(get_settings(), socket_timeout=10)
        _clients[loop_id] = client
        _append_scripts[loop_id] = client.register_script(_APPEND_UNLESS_STOPPED)
        _once_scripts[loop_id] = client.register_script(_APPEND_ONCE)
    return client


def _loop_script(scripts: dict[int, AsyncScript]) -> AsyncScript:
    """This event loop's copy of a script, registered with its client."""
    redis_client()
    return scripts[id(asyncio.get_running_loop())]


def _flat(fields: Mapping[str, str | int]) -> list[str]:
    return [str(v) for pair in fields.items() for v in pair]


def turn_event_identity(type: str, data: Mapping[str, object]) -> str:
    """What makes a workflow-level event of a turn one event: its kind, and the approval it is about."""
    return f'{type}:{data.get("id", "")}'


async def publish(
    session_id: str,
    *,
    turn: int,
    step: int,
    attempt: int,
    type: str,
    data: Mapping[str, object],
    unless_stopped: bool = False,
) -> bool:
    """Appends a workflow-level event unless it is already in the stream (False then), or, with
    `unless_stopped`, the turn was stopped; TURN_INTERRUPTED also stops the turn's agent events."""
    script = _loop_script(_once_scripts)
    keys = [stream_key(session_id), stopped_key(session_id), published_key(session_id, turn)]
    stop = str(turn) if type == TURN_INTERRUPTED else ''
    guard = str(turn) if unless_stopped else ''
    identity = turn_event_identity(type, data)
    args = [get_settings().stream_maxlen, PUBLISHED_TTL_SECONDS, identity, stop, guard]
    added = await script(keys=keys, args=[*args, *_flat(encode_event(turn, step, attempt, type, data))])
    return added is not None


async def stop_turn(session_id: str, turn: int) -> None:
    """From here on no agent event of `turn` enters the stream, even from an activity still running."""
    async with redis_client().pipeline(transaction=True) as pipe:
        pipe.sadd(stopped_key(session_id), turn)
        pipe.expire(stopped_key(session_id), STOPPED_TTL_SECONDS)
        await pipe.execute()


async def streamed_text(session_id: str, turn: int) -> str:
    """The text of `turn` as a client built it from the stream: the latest attempt of each step,
    a delegated sub-agent's text left out (it is the `delegate` call's, not the reply's).

    Read once the turn is stopped, it is exactly what a connected page showed when it stopped."""
    redis = redis_client()
    frames: list[Frame] = []
    end = '+'
    while True:
        page = cast(
            list[StreamEntry],
            await redis.xrevrange(stream_key(session_id), max=end, min='-', count=TAIL_PAGE),
        )
        older = [e for e in page if int(e[1][b'turn']) < turn]
        frames.extend(
            frame
            for e in page
            if int(e[1][b'turn']) == turn and PARENT_TOOL_CALL_ID not in (frame := decode_event(*e))
        )
        if older or len(page) < TAIL_PAGE:
            break
        end = f'({page[-1][0].decode()}'
    parts: dict[tuple[int, int, str], str] = {}
    for frame in reversed(frames):
        kind, step = frame['type'], frame['step']
        if kind == ATTEMPT_STARTED:
            parts = {key: text for key, text in parts.items() if key[0] != step}
        elif kind == TEXT_MESSAGE_CONTENT:
            key = (step, frame['attempt'], str(frame.get('messageId', '')))
            parts[key] = parts.get(key, '') + str(frame.get('delta', ''))
    return ''.join(parts.values())


class _Appender:
    """Appends one activity's agent events (all of one turn) in order, sending whatever queued up
    while the previous batch was in flight as one script call: one round trip per batch, not per
    token, and no added wait for the first token. The script checks the stop for the whole batch
    at once, atomically, so no entry follows a stop.

    With an `identity` (one workflow-side event), everything is sent as one batch, appended once."""

    def __init__(self, session_id: str, turn: int, identity: str = '') -> None:
        self._script = _loop_script(_append_scripts)
        self._keys = [stream_key(session_id), stopped_key(session_id), published_key(session_id, turn)]
        self._turn = turn
        self._identity = identity
        self._maxlen = get_settings().stream_maxlen
        self._pending: list[dict[str, str | int]] = []
        self._queued = asyncio.Event()
        self._closing = False
        self._next_seq = 0
        self.stopped = False
        self._writer = asyncio.create_task(self._write())

    def add(self, fields: dict[str, str | int]) -> None:
        """Queues an event; `seq` numbers the attempt's events, so a client can tell each one apart."""
        if self._writer.done():
            self._writer.result()  # a Redis error fails the activity, and Temporal retries it
        self._pending.append({**fields, 'seq': self._next_seq})
        self._next_seq += 1
        if not self._identity:
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
            args: list[str | int] = [self._maxlen, self._turn, self._identity, PUBLISHED_TTL_SECONDS]
            for fields in batch:
                flat = _flat(fields)
                args += [len(flat), *flat]
            self.stopped = await self._script(keys=self._keys, args=args) is None


def _agui_data(event: BaseEvent) -> dict[str, object]:
    data = event.model_dump(mode='json', by_alias=True, exclude_none=True)
    data.pop('type', None)
    return data


def publishes(event: AgentStreamEvent) -> bool:
    """Whether `publish_agent_events` writes anything for this workflow-side event. AG-UI draws a
    tool call from the model's stream (TOOL_CALL_START, _ARGS, _END); the call event adds nothing."""
    return not isinstance(event, FunctionToolCallEvent)


def _identity(event: AgentStreamEvent, step: int, delegation: str) -> str:
    """What makes a workflow-side event one event of its turn (a model stream's events have none)."""
    if isinstance(event, MODEL_STREAM_EVENTS):
        return ''
    call_id = getattr(event, 'tool_call_id', '')
    return f'{event.event_kind}:{step}:{call_id}:{delegation}'


async def publish_agent_events(ctx: RunContext[TurnDeps], events: AsyncIterable[AgentStreamEvent]) -> None:
    """The agent's `event_stream_handler`: forwards one activity's events to the session stream.

    A model request's activity hands it the model's stream; pydantic-ai hands it each workflow-side
    event (a tool's result) in an activity of its own, on runs before `LOCAL_TOOL_EVENTS_PATCH`."""
    # run_step restarts with each agent run; a turn that resumes after an approval runs again.
    step = ctx.run_step + ctx.deps.step_offset
    await _forward(ctx.deps.session_id, ctx.deps.turn, step, ctx.deps.delegation, events)


async def publish_tool_event(item: ToolEvent) -> None:
    """A workflow-side event of the agent run (a tool's result), appended once."""

    async def one() -> AsyncIterator[AgentStreamEvent]:
        yield item.event

    await _forward(item.session_id, item.turn, item.step, item.delegation, one())


async def _forward(
    session_id: str, turn: int, step: int, delegation: str, events: AsyncIterable[AgentStreamEvent]
) -> None:
    attempt = activity.info().attempt if activity.in_activity() else 1
    translator = AGUIEventStream[TurnDeps, str](thread_id=session_id, run_id=f'turn-{turn}')
    nested = {PARENT_TOOL_CALL_ID: delegation} if delegation else {}
    appender: _Appender | None = None
    try:
        async for event in events:
            if appender is None:
                identity = _identity(event, step, delegation)
                appender = _Appender(session_id, turn, identity)
                if attempt > 1 and not identity:
                    # A retry streams the step again from its start: clients drop what they hold of it.
                    appender.add(encode_event(turn, step, attempt, ATTEMPT_STARTED, nested))
            if appender.stopped:
                continue  # interrupted: the activity's cancellation arrives with its next heartbeat
            async for agui_event in translator.handle_event(event):
                data = {**_agui_data(agui_event), **nested}
                appender.add(encode_event(turn, step, attempt, str(agui_event.type.value), data))
    finally:
        if appender is not None:
            await appender.close()
