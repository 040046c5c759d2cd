"""The session's live tail: agent events, shaped as AG-UI events, appended to a Redis Stream.

Runs inside activities (the model activity streams model events live; pydantic-ai runs tool events
in activities of their own), never in workflow code. Each entry is tagged with the turn, the model
step within the turn and the activity attempt, so a client can drop the partial text of an attempt
that a retry replaces.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Mapping

import redis.asyncio as aioredis
from ag_ui.core import BaseEvent
from pydantic_ai import RunContext
from pydantic_ai.messages import AgentStreamEvent
from pydantic_ai.ui.ag_ui import AGUIEventStream
from temporalio import activity

from durable_chat.settings import get_settings
from workflows.shared import TurnDeps

# Product events beside AG-UI's own types (DESIGN 4.6).
ATTEMPT_STARTED = 'ATTEMPT_STARTED'
RUN_FINISHED = 'RUN_FINISHED'
RUN_ERROR = 'RUN_ERROR'

_clients: dict[int, aioredis.Redis] = {}


def stream_key(session_id: str) -> str:
    return f'session:{session_id}:events'


def redis_client() -> aioredis.Redis:
    """One client per event loop, reused across activities (a new connection per turn costs ~5 ms)."""
    import asyncio

    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = aioredis.Redis.from_url(get_settings().redis_target, socket_timeout=10)
        _clients[loop_id] = client
    return client


async def publish(
    session_id: str, *, turn: int, step: int, attempt: int, type: str, data: Mapping[str, object]
) -> None:
    settings = get_settings()
    await redis_client().xadd(
        stream_key(session_id),
        {'turn': turn, 'step': step, 'attempt': attempt, 'type': type, 'data': json.dumps(data)},
        maxlen=settings.stream_maxlen,
        approximate=True,
    )


def _agui_data(event: BaseEvent) -> dict[str, object]:
    data = event.model_dump(mode='json', by_alias=True, exclude_none=True)
    data.pop('type', None)
    return data


async def publish_agent_events(ctx: RunContext[TurnDeps], events: AsyncIterable[AgentStreamEvent]) -> None:
    """The agent's `event_stream_handler`: forwards one activity's events to the session stream."""
    deps = ctx.deps
    attempt = activity.info().attempt if activity.in_activity() else 1
    tags = {'turn': deps.turn, 'step': ctx.run_step, 'attempt': attempt}
    translator = AGUIEventStream[TurnDeps, str](thread_id=deps.session_id, run_id=f'turn-{deps.turn}')
    first = True
    async for event in events:
        if first:
            first = False
            if attempt > 1:
                # A retry streams the step again from its start: clients drop what they hold of it.
                await publish(deps.session_id, **tags, type=ATTEMPT_STARTED, data={})
        async for agui_event in translator.handle_event(event):
            await publish(
                deps.session_id, **tags, type=str(agui_event.type.value), data=_agui_data(agui_event)
            )
