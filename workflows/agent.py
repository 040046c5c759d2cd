"""The chat agent: a plain pydantic-ai Agent made durable by the TemporalDurability capability.

Model requests and tools run as Temporal activities; the event stream handler runs inside the
model activity and writes each event to the session's Redis Stream. The agent is built at import,
outside any workflow, so the worker can register its activities before a workflow runs.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic_ai import Agent, DeferredToolRequests, RunContext
from pydantic_ai.durable_exec.temporal import TemporalDurability
from temporalio.common import RetryPolicy

from durable_chat.settings import get_settings
from durable_chat.workflows.events import publish_agent_events
from durable_chat.workflows.models import build_model
from durable_chat.workflows.shared import TurnDeps
from durable_chat.workflows.tools import memory_tools

AGENT_NAME = 'chat'
"""Persisted: it prefixes every activity name of running sessions. Never rename it."""

INSTRUCTIONS = (
    'You are a helpful assistant in a chat application. Answer concisely. '
    'The conversation so far is the message history. You have a long-term memory of this user: '
    'use `remember` for lasting facts they tell you about themselves, `recall` to look them up, '
    'and `forget` (after `recall`, by id) when they ask you to forget something.'
)

REPLY_TOKENS = get_settings().max_reply_tokens
"""The reply budget: a reply that reaches this many tokens ends there (see `ReplyBudget`)."""

agent = Agent(
    build_model(get_settings()),
    name=AGENT_NAME,
    deps_type=TurnDeps,
    output_type=[str, DeferredToolRequests],
    instructions=INSTRUCTIONS,
    toolsets=[memory_tools],
    # Temporal's retry policy is the one that retries; an SDK retrying underneath it hides failures.
    model_settings={'max_retries': 0, 'max_tokens': REPLY_TOKENS},
    capabilities=[
        TemporalDurability(
            event_stream_handler=publish_agent_events,
            model_activity_config={
                # Heartbeats find a crashed worker: the 30 s default would make that cost 30 s.
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


@agent.instructions
def remembered(ctx: RunContext[TurnDeps]) -> str:
    """Long-term memories recalled for this turn's message before the model ran."""
    if not ctx.deps.memories:
        return ''
    lines = '\n'.join(f'- {memory}' for memory in ctx.deps.memories)
    return f'What you remember about this user from earlier conversations:\n{lines}'
