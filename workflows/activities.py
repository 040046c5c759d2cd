"""Activities of the session workflow itself (the agent's own activities come from pydantic-ai)."""

from __future__ import annotations

from temporalio import activity

from durable_chat.workflows.compensation import compensate_tool_call
from durable_chat.workflows.contract import TURN_INTERRUPTED
from durable_chat.workflows.events import publish, publish_tool_event, stop_turn, streamed_text
from durable_chat.workflows.shared import ToolEvent, TurnEvent


@activity.defn(name='publish_turn_event')
async def publish_turn_event(event: TurnEvent) -> None:
    """Publishes a turn-level event (turn end, error) that only the workflow knows about, once."""
    await publish(
        event.session_id,
        turn=event.turn,
        step=0,
        attempt=activity.info().attempt,
        type=event.type,
        data=event.data,
    )


@activity.defn(name='publish_tool_event')
async def publish_tool_event_once(event: ToolEvent) -> None:
    """Publishes a tool's result to the stream, once (a local activity of the workflow task that got it)."""
    await publish_tool_event(event)


@activity.defn(name='interrupt_turn_stream')
async def interrupt_turn_stream(event: TurnEvent) -> str:
    """Stops a turn's stream and returns the text it had streamed, which the TURN_INTERRUPTED event
    carries: the transcript and the model keep what the user saw, not an empty reply."""
    await stop_turn(event.session_id, event.turn)
    partial = await streamed_text(event.session_id, event.turn)
    await publish(
        event.session_id,
        turn=event.turn,
        step=0,
        attempt=activity.info().attempt,
        type=TURN_INTERRUPTED,
        data={**event.data, 'reply': partial},
    )
    return partial


SESSION_ACTIVITIES = [
    publish_turn_event,
    publish_tool_event_once,
    interrupt_turn_stream,
    compensate_tool_call,
]
"""The session workflow's own activities (the stream's as local activities), for the chat worker to register."""
