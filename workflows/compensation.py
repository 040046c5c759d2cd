"""Compensation: undoing what a turn's tools did when the turn does not finish.

A tool that acts on the world may name the action that undoes it, with a capability beside the
agent's `DurableChat`: `capabilities=[DurableChat(...), Compensations({'book_flight': cancel_flight})]`. The session records each
call of such a tool that returned, as the turn runs (a capability hook, in workflow code). When the
turn is interrupted, runs out of time, fails, or the session closes under it, the recorded calls are
undone in reverse order, each by the `compensate_tool_call` activity. Each undo runs once: the turn
records it in the workflow's state (a replay or a later run never repeats it), and an attempt that
returned is remembered in Redis under the call's idempotency key, which the undo also receives to
hand to the system it acts on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.tools import ToolDefinition
from pydantic_core import to_jsonable_python
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from durable_chat.workflows.contract import TOOL_UNDONE, Turn, Undo
from durable_chat.workflows.shared import SessionState, TurnDeps, TurnEvent

COMPENSATE_TOOL_CALL = 'compensate_tool_call'
COMPENSATION_PATCH = 'compensation'
"""Marks a history whose session undid a tool call (sessions before it never did)."""
UNDONE_TTL_SECONDS = 7 * 24 * 3600
UNDO_ACTIVITY: dict[str, Any] = {
    'start_to_close_timeout': timedelta(seconds=60),
    'retry_policy': RetryPolicy(
        initial_interval=timedelta(milliseconds=500),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=10,
    ),
}


@dataclass
class ToolRun:
    """A call of a compensable tool that returned: what its compensation is given."""

    tool_name: str
    args: dict[str, Any]
    result: Any
    """What the tool returned, as JSON-compatible data (an id to cancel by, usually)."""
    key: str
    """The call's idempotency key: the tool's own `idempotency_key(ctx)`, to hand to what it undoes."""
    session_id: str = ''
    turn: int = 0
    user_id: str = ''


Compensation = Callable[[ToolRun], Awaitable[str]]
"""Undoes one tool call and says what it undid, in words the transcript shows ("Cancelled ...")."""


@dataclass
class CompensateRequest:
    agent: str
    tool_call_id: str
    run: ToolRun


@dataclass
class Compensations(AbstractCapability[TurnDeps]):
    """Records each returned call of a tool that has a compensation, for the session to undo."""

    undo: Mapping[str, Compensation] = field(default_factory=dict[str, Compensation])

    async def after_tool_execute(
        self,
        ctx: RunContext[TurnDeps],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: Any,
        result: Any,
    ) -> Any:
        # Hooks run where the agent runs: in the session's workflow code, between tool activities.
        if call.tool_name in self.undo and workflow.in_workflow():
            session = workflow.instance()
            if isinstance(session, Compensating):
                deps = ctx.deps
                run = ToolRun(
                    tool_name=call.tool_name,
                    args=call.args_as_dict(),
                    result=to_jsonable_python(result, fallback=str),
                    key=f'{deps.session_id}:{deps.turn}:{call.tool_call_id}',
                    session_id=deps.session_id,
                    turn=deps.turn,
                    user_id=deps.user_id,
                )
                session.record_side_effect(call.tool_call_id, run)
        return result


class Compensating:
    """The session workflow's side of compensation: the turn's record of calls, and the undo."""

    state: SessionState

    def record_side_effect(self, tool_call_id: str, run: ToolRun) -> None:
        self._side_effects.append((tool_call_id, run))

    def _start_recording(self) -> None:
        self._side_effects: list[tuple[str, ToolRun]] = []

    async def _publish(self, event: TurnEvent) -> None:
        raise NotImplementedError

    def _has(self, patch_id: str) -> bool:
        raise NotImplementedError

    async def _undo(self, turn: Turn) -> list[Undo]:
        """Undoes the turn's recorded calls, latest first; returns what this undid."""
        done = {u.tool_call_id for u in turn.undone}
        pending = [(call_id, run) for call_id, run in reversed(self._side_effects) if call_id not in done]
        if not pending or not self._has(COMPENSATION_PATCH):
            return []
        undone: list[Undo] = []
        for call_id, run in pending:
            request = CompensateRequest(self.state.agent, call_id, run)
            try:
                said = await workflow.execute_activity(
                    COMPENSATE_TOOL_CALL, request, result_type=str, **UNDO_ACTIVITY
                )
                undo = Undo(call_id, run.tool_name, 'undone', said or f'Undid {run.tool_name}.')
            except ActivityError as error:
                reason = getattr(error.cause, 'message', None) or str(error.cause or error)
                undo = Undo(call_id, run.tool_name, 'failed', f'Could not undo {run.tool_name}: {reason}')
            turn.undone.append(undo)
            undone.append(undo)
            await self._publish(TurnEvent(self.state.session_id, turn.number, TOOL_UNDONE, _frame(undo)))
        return undone


def _frame(undo: Undo) -> dict[str, object]:
    # `id` makes each undo its own event in the stream's exactly-once record.
    return {'id': undo.tool_call_id, **asdict(undo)}


def in_words(undone: list[Undo]) -> str:
    """What the model is told was undone after the turn's answer stopped."""
    return '\n'.join(f'[{u.text}]' for u in undone)


def compensation_of(agent: str, tool_name: str) -> Compensation | None:
    from durable_chat.workflows.agents.registry import installed

    entry = installed().get(agent)
    if entry is None:
        return None
    found: list[Compensation] = []

    def visit(capability: AbstractCapability[Any]) -> None:
        if isinstance(capability, Compensations) and tool_name in capability.undo:
            found.append(capability.undo[tool_name])

    entry.agent.root_capability.apply(visit)
    return found[0] if found else None


@activity.defn(name=COMPENSATE_TOOL_CALL)
async def compensate_tool_call(request: CompensateRequest) -> str:
    """Runs a tool call's compensation; an attempt after one that returned returns its words again."""
    from durable_chat.workflows.events import redis_client

    undo = compensation_of(request.agent, request.run.tool_name)
    if undo is None:
        return f'Nothing undid {request.run.tool_name}: its compensation is no longer configured.'
    redis = redis_client()
    recorded_key = f'tool-undone:{request.run.key}'
    if (recorded := await redis.get(recorded_key)) is not None:
        return json.loads(recorded)
    said = await undo(request.run)
    await redis.set(recorded_key, json.dumps(said), ex=UNDONE_TTL_SECONDS)
    return said
