"""The chat agent: a plain pydantic-ai Agent made durable by the TemporalDurability capability.

Model requests and tools run as Temporal activities; the event stream handler runs inside the
model activity and writes each event to the session's Redis Stream. The agent is built at import,
outside any workflow, so the worker can register its activities before a workflow runs.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.durable_exec.temporal import TemporalDurability
from temporalio.common import RetryPolicy

from durable_chat.settings import get_settings
from workflows.events import publish_agent_events
from workflows.models import build_model
from workflows.shared import TurnDeps

AGENT_NAME = 'chat'
"""Persisted: it prefixes every activity name of running sessions. Never rename it."""

INSTRUCTIONS = (
    'You are a helpful assistant in a chat application. Answer concisely. '
    'The conversation so far is the message history.'
)

agent = Agent(
    build_model(get_settings()),
    name=AGENT_NAME,
    deps_type=TurnDeps,
    output_type=[str, DeferredToolRequests],
    instructions=INSTRUCTIONS,
    # Temporal's retry policy is the one that retries; an SDK retrying underneath it hides failures.
    model_settings={'max_retries': 0},
    capabilities=[
        TemporalDurability(
            event_stream_handler=publish_agent_events,
            model_activity_config={
                # The 30 s default would make a crashed worker cost 30 s (DESIGN P3).
                'heartbeat_timeout': timedelta(seconds=2),
                'start_to_close_timeout': timedelta(minutes=5),
                'retry_policy': RetryPolicy(
                    initial_interval=timedelta(milliseconds=200),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=10),
                    maximum_attempts=8,
                ),
            },
        )
    ],
)
