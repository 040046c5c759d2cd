"""Activities of the session workflow itself (the agent's own activities come from pydantic-ai)."""

from __future__ import annotations

from temporalio import activity

from workflows.events import publish
from workflows.shared import TurnEvent


@activity.defn(name='publish_turn_event')
async def publish_turn_event(event: TurnEvent) -> None:
    """Publishes a turn-level event (turn end, error) that only the workflow knows about."""
    await publish(
        event.session_id,
        turn=event.turn,
        step=0,
        attempt=activity.info().attempt,
        type=event.type,
        data=event.data,
    )
