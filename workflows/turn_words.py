"""What a turn that could not finish says, in words: an agent or model no longer offered, a model
failure (its last attempt's cause, `model_errors.describe`) with whether trying again may help, the
length and time budgets. Pure functions of what Temporal carried back: the workflow calls them."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

from durable_chat.workflows.agents.registry import AgentEntry
from durable_chat.workflows.model_errors import NOT_RETRIED, describe


def unavailable(agent: str, model: str, entry: AgentEntry | None) -> str:
    if entry is None:
        return (
            f"This chat's agent, {agent!r}, is no longer available on this server, so it cannot answer. "
            'Start a new chat with another agent.'
        )
    return (
        f"This chat's model, {model!r}, is no longer offered by the agent {agent!r}. "
        f'Choose another model for this chat ({", ".join(entry.models)}) and send the message again.'
    )


def max_tokens(agent: Any) -> object:
    settings = agent.model_settings if isinstance(agent.model_settings, dict) else {}
    return settings.get('max_tokens', '?')


def advice(error: BaseException) -> str:
    """What the user can do: wait for a failure that may pass, not for one that won't."""
    return ' Try again in a moment.' if retryable(error) else ''


def retryable(error: BaseException) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ApplicationError) and (cause.non_retryable or cause.type in NOT_RETRIED):
            return False
        cause = cause.__cause__
    return True


def duration(seconds: float) -> str:
    return f'{seconds:g} seconds' if seconds < 120 else f'{seconds / 60:g} minutes'


def model_failure(error: BaseException) -> str:
    """The last failed attempt's cause, in words (`describe`), from what Temporal carried back."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ActivityTimeout):
            return describe(cause.type.name if cause.type else 'TimeoutError')
        if isinstance(cause, ApplicationError) and cause.type:
            return describe(cause.type, cause.message)
        if cause.__cause__ is None:
            return describe(type(cause).__name__, str(cause))
        cause = cause.__cause__
    return describe(type(error).__name__)
