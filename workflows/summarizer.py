"""The summarizer: a second durable agent that compacts a long conversation's older exchanges.

Its model request is an activity like the chat agent's (`agent__summarizer__model_request`), with
the configured model. Its name prefixes its activity names: never rename it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalDurability
from temporalio.common import RetryPolicy

from durable_chat.settings import get_settings
from durable_chat.workflows.models import build_model

SUMMARIZER_NAME = 'summarizer'
SUMMARY_PROMPT = (
    'Summarise the conversation below between a user and an assistant for the assistant to continue it. '
    'Keep every fact about the user, open questions, decisions and commitments; drop small talk. '
    'At most 300 words.\n\n'
)

summarizer = Agent(
    build_model(get_settings()),
    name=SUMMARIZER_NAME,
    output_type=str,
    model_settings={'max_retries': 0, 'max_tokens': 1024},
    capabilities=[
        TemporalDurability(
            model_activity_config={
                'heartbeat_timeout': timedelta(seconds=5),
                'start_to_close_timeout': timedelta(minutes=5),
                'retry_policy': RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=5),
            }
        )
    ],
)
