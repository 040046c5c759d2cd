"""Per-tool settings for the deployer's tools: their activity's timeout and retries, side effects.

A tool of an agent runs as a Temporal activity of its own. `ToolSettings` sets that activity's
timeout and retry policy; `requires_approval=True` (pydantic-ai's own flag) sends the call to a
person first, through the session's approval flow. A tool that acts on the world (an order, an
email) is decorated with `side_effect`: its activity may run more than once (a worker killed after
the action, before Temporal heard the result), so it gets an idempotency key, the same on every
attempt of one tool call, to hand to the system it acts on; and once an attempt has returned, a
retry returns that result instead of acting again.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from pydantic_ai import RunContext
from temporalio.common import RetryPolicy

from durable_chat.workflows.shared import TurnDeps

SIDE_EFFECT_RESULT_TTL_SECONDS = 7 * 24 * 3600

_P = ParamSpec('_P')
_R = TypeVar('_R')


@dataclass(frozen=True)
class ToolSettings:
    """`@agent.tool(metadata=ToolSettings(timeout=10, retries=3).metadata())`."""

    timeout: float | None = None
    """Seconds one attempt may take (the activity's start-to-close timeout); pydantic-ai's default is 60."""
    retries: int | None = None
    """Attempts in all, the first included (Temporal's default is unlimited)."""

    def activity_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.timeout is not None:
            config['start_to_close_timeout'] = timedelta(seconds=self.timeout)
        if self.retries is not None:
            config['retry_policy'] = RetryPolicy(maximum_attempts=self.retries)
        return config

    def metadata(self) -> dict[str, Any]:
        """Tool metadata carrying the settings (pydantic-ai reads the `temporal` key)."""
        return {'temporal': self.activity_config()}


def idempotency_key(ctx: RunContext[TurnDeps]) -> str:
    """The key of this tool call: the same on every attempt of its activity, different for every
    other call (another turn, another session, the same tool called twice)."""
    if not ctx.tool_call_id:
        raise ValueError('idempotency_key() is for tools: this run context has no tool call')
    return f'{ctx.deps.session_id}:{ctx.deps.turn}:{ctx.tool_call_id}'


def side_effect(func: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
    """Marks an async tool (taking `ctx: RunContext[ChatDeps]` first) as acting on the world.

    The first attempt that returns records its result under the call's `idempotency_key`; a later
    attempt of the same call returns that result without running the tool. An attempt killed after
    acting and before returning is not recorded: the tool must pass the key to what it acts on.
    """

    @functools.wraps(func)
    async def once(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from durable_chat.workflows.events import redis_client

        ctx = args[0] if args else kwargs.get('ctx')
        if not isinstance(ctx, RunContext):
            raise TypeError(f'{func.__name__}: a side-effect tool takes the run context first')
        key = f'tool-result:{idempotency_key(ctx)}'
        redis = redis_client()
        if (recorded := await redis.get(key)) is not None:
            return json.loads(recorded)
        result = await func(*args, **kwargs)
        await redis.set(key, json.dumps(result), ex=SIDE_EFFECT_RESULT_TTL_SECONDS)
        return result

    return once
