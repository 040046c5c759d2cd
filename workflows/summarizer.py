"""The summarizer: a second durable agent that compacts a long conversation's older exchanges.

Its model request is an activity like the chat agent's (`agent__summarizer__model_request`), with
the session's own model. Its name prefixes its activity names: never rename it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalDurability
from temporalio.common import RetryPolicy

from durable_chat.workflows.models import model_for

SUMMARIZER_NAME = 'summarizer'
SUMMARY_PROMPT = (
    'Summarise the conversation below between a user and an assistant for the assistant to continue it. '
    'Keep every fact about the user, open questions, decisions and commitments; drop small talk. '
    'At most 300 words.\n\n'
)


def build_summarizer(models: Sequence[str]) -> Agent[None, str]:
    """The summarizer for sessions whose model is one of `models` (the first is its default)."""
    return Agent(
        model_for(models[0]),
        name=SUMMARIZER_NAME,
        output_type=str,
        model_settings={'max_retries': 0, 'max_tokens': 1024},
        capabilities=[
            TemporalDurability(
                models={name: model_for(name) for name in models},
                model_activity_config={
                    'heartbeat_timeout': timedelta(seconds=5),
                    'start_to_close_timeout': timedelta(minutes=5),
                    'retry_policy': RetryPolicy(
                        initial_interval=timedelta(milliseconds=500), maximum_attempts=5
                    ),
                },
            )
        ],
    )
