"""A failed model request, in words a person reads: on the page while it is retried, and in the log.

Model activities retry under Temporal's policy (8 attempts, about 23 s). Without this the page said
"thinking..." through all of them and then showed `ConnectError: All connection attempts failed`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from temporalio import activity

from durable_chat.workflows.contract import MODEL_ERROR
from durable_chat.workflows.events import publish
from durable_chat.workflows.shared import TurnDeps

NOT_RETRIED = frozenset(
    {'ModelRequestRejectedError', 'ModelQuotaExceededError', 'ModelRequestTimeout'}
    | {'ModelContextWindowExceededError', 'ModelAuthenticationError', 'ModelNotFoundError'}
)
"""pydantic-ai's `non_retryable_model_errors` (by class name): another attempt cannot fix them, so a
turn ends at the first. Subclasses arrive as non-retryable ApplicationErrors."""

_UNREACHABLE = (
    'ConnectError',
    'APIConnectionError',
    'ModelConnectionError',
    'ConnectionError',
    'ConnectionRefusedError',
    'ConnectTimeout',
    'OSError',
)
_TOO_SLOW = ('TimeoutError', 'ReadTimeout', 'TimeoutException', 'PoolTimeout')


def describe(kind: str, message: str = '', status: int | None = None) -> str:
    """What went wrong with the model, in a few words: `kind` is the error's class name."""
    lowered = message.lower()
    if 'ContextWindow' in kind or ('context' in lowered and ('exceed' in lowered or 'length' in lowered)):
        return "the conversation does not fit the model's context window"
    if 'Authentication' in kind or status in (401, 403):
        return 'the model server refused the credentials (check the API key)'
    if 'NotFound' in kind or status == 404:
        return 'the model server does not know this model'
    if 'Quota' in kind:
        return "the model's quota is used up"
    if status == 429:
        return 'the model is rate-limited'
    if status in (502, 503):
        return f'the model server is unavailable (HTTP {status})'
    if status is not None and status >= 500:
        return f'the model server had an error (HTTP {status})'
    if status is not None:
        return f'the model server refused the request (HTTP {status})'
    if kind in _UNREACHABLE or lowered.startswith('connection error'):
        return "the model server can't be reached"
    if kind in _TOO_SLOW or kind == 'START_TO_CLOSE' or kind == 'HEARTBEAT':
        return 'the model did not answer in time'
    detail = message.strip().splitlines()[0][:200] if message.strip() else ''
    if 'Rejected' in kind:
        return (
            f'the model server refused the request ({detail})'
            if detail
            else 'the model server refused the request'
        )
    return f'the model failed ({kind}: {detail})' if detail else f'the model failed ({kind})'


def describe_exception(error: BaseException) -> str:
    cause = error.__cause__ or error
    status = getattr(error, 'status_code', None)
    return describe(type(cause).__name__, str(cause), status if isinstance(status, int) else None)


async def report_failed_attempt(deps: TurnDeps, step: int, error: Exception) -> None:
    """Tells the page, while it happens, that a model request failed and whether it is tried again."""
    info = activity.info()
    policy = info.retry_policy
    last = policy is not None and 0 < policy.maximum_attempts <= info.attempt
    last = last or any(cls.__name__ in NOT_RETRIED for cls in type(error).__mro__)
    data: dict[str, object] = {
        'id': f'{step}-{info.attempt}',
        'reason': describe_exception(error),
        'attempt': info.attempt,
        'max_attempts': policy.maximum_attempts if policy else 0,
        'retrying': not last,
    }
    try:
        # A request torn down by Stop can fail too: nothing of a stopped turn follows TURN_INTERRUPTED.
        await publish(
            deps.session_id,
            turn=deps.turn,
            step=step,
            attempt=info.attempt,
            type=MODEL_ERROR,
            data=data,
            unless_stopped=True,
        )
    except Exception:  # the stream being down too must not hide the model's own error
        activity.logger.warning('could not publish the failed model attempt of turn %s', deps.turn)


class ReportsFailures(WrapperModel):
    """Each failed streamed request of a turn (at opening or mid-stream) is reported to the page."""

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        try:
            async with self.wrapped.request_stream(
                messages, model_settings, model_request_parameters, run_context
            ) as stream:
                yield stream
        except Exception as error:
            deps = run_context.deps if run_context is not None else None
            if activity.in_activity() and isinstance(deps, TurnDeps):
                assert run_context is not None
                await report_failed_attempt(deps, run_context.run_step + deps.step_offset, error)
            raise
