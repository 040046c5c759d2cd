"""`DurableChat`: what makes a pydantic-ai agent a durable-chat agent, as one capability.

It is pydantic-ai's `TemporalDurability` (model requests and tools as activities, the event stream
handler writing each event to the session's stream) with this product's settings, the models a
session of the agent may choose, and the user's long-term memory: the memory tools and the memories
recalled for the turn's message, unless `memory=False`; with `delegates`, the `delegate` tool that
hands a task to another registered agent (a child workflow, `workflows/delegation.py`). Spec-file
agents get it from the registry; a Python agent lists it in `capabilities=[...]` and writes no
Temporal code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from pydantic_ai import RunContext
from pydantic_ai.capabilities import AbstractCapability, CombinedCapability
from pydantic_ai.durable_exec.temporal import TemporalDurability
from pydantic_ai.messages import AgentStreamEvent, HandleResponseEvent
from pydantic_ai.toolsets import AbstractToolset
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityConfig, LocalActivityConfig

from durable_chat.workflows.activities import publish_tool_event_once
from durable_chat.workflows.delegation import delegation_toolset
from durable_chat.workflows.events import publish_agent_events, publishes
from durable_chat.workflows.models import model_for
from durable_chat.workflows.shared import LOCAL_ACTIVITY_FAILED, ToolEvent, TurnDeps, await_keeping_cancel
from durable_chat.workflows.tools import memory_tools

MODEL_ACTIVITY: ActivityConfig = {
    # Heartbeats find a crashed worker: the 30 s default would make that cost 30 s.
    'heartbeat_timeout': timedelta(seconds=2),
    'start_to_close_timeout': timedelta(minutes=5),
    # Errors another attempt cannot fix (a rejected key, an unknown model, a full context window,
    # an exhausted quota) are not retried: pydantic-ai's `non_retryable_model_errors` default.
    'retry_policy': RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=8,
    ),
}

LOCAL_EVENT_ACTIVITY: LocalActivityConfig = {
    # A Redis outage long past this costs the live tail a frame, not the turn: the transcript has it.
    'schedule_to_close_timeout': timedelta(seconds=30),
    'retry_policy': RetryPolicy(
        initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5)
    ),
}


def remembered(ctx: RunContext[TurnDeps]) -> str:
    """Long-term memories recalled for this turn's message before the model ran, as dated facts
    the user told (current versions only: the store never recalls a replaced one)."""
    if not ctx.deps.memories:
        return ''
    lines: list[str] = []
    for memory in ctx.deps.memories:
        # `<ISO day>\t<text>` from the recall activity; a plain text in sessions recorded before.
        day, tab, text = memory.partition('\t')
        try:
            said = date.fromisoformat(day) if tab else None
        except ValueError:
            said = None
        if said is None:
            lines.append(f'- The user said earlier: {memory}')
        else:
            lines.append(f'- The user said on {said.day} {said:%B %Y}: {text}')
    listed = '\n'.join(lines)
    return (
        'What you remember about this user from earlier conversations: things the user told you '
        'about themselves (not things you said), in their words. When two of them disagree, '
        f'the later one is true now.\n{listed}'
    )


class ChatDurability(TemporalDurability[TurnDeps]):
    """pydantic-ai's `TemporalDurability` with this product's settings and the agent's model names."""

    def __init__(
        self,
        *,
        models: Sequence[str],
        tool_activity: dict[str, ActivityConfig] | None = None,
        context_window: int | None = None,
        memory: bool = True,
        reminders: bool = True,
        delegates: Sequence[str] = (),
    ) -> None:
        if not models:
            raise ValueError('DurableChat needs at least one model name')
        super().__init__(
            models={name: model_for(name) for name in models},
            event_stream_handler=publish_agent_events,
            deps_type=TurnDeps,
            model_activity_config=MODEL_ACTIVITY,
            toolset_activity_config=tool_activity,
        )
        self.model_names = list(models)
        self.context_window = context_window
        """Tokens the models' context holds: the history is compacted before a turn's input nears it."""
        self.memory = memory
        self.reminders = reminders
        """The session's own `remind` tool (answered by the workflow, `workflows/reminders.py`)."""
        self.delegates = list(dict.fromkeys(delegates))
        """Registered agents this one may hand tasks to (`delegate`); the registry checks they exist."""

    async def _dispatch_event_stream_event(self, ctx: RunContext[TurnDeps], event: AgentStreamEvent) -> None:
        # pydantic-ai delivers each workflow-side event (a tool's call, its result) in an activity of
        # its own: a workflow task and an activity round trip each, twice per tool call. It has no
        # setting for this, so the delivery is overridden: the events that publish nothing are not
        # delivered, the rest go in a local activity of ours (run within the workflow task, appended
        # once; pydantic-ai's activity would heartbeat, which a local activity cannot).
        if not ctx.deps.local_events:
            return await super()._dispatch_event_stream_event(ctx, event)
        if not publishes(event):
            return
        deps = ctx.deps
        step = ctx.run_step + deps.step_offset
        item = ToolEvent(deps.session_id, deps.turn, step, cast(HandleResponseEvent, event), deps.delegation)
        try:
            # pydantic-ai's own guard against anyio re-cancelling a task that waits on an activity.
            await await_keeping_cancel(
                workflow.start_local_activity(publish_tool_event_once, item, **LOCAL_EVENT_ACTIVITY)
            )
        except LOCAL_ACTIVITY_FAILED:
            workflow.logger.warning('%s of turn %s not published', event.event_kind, ctx.deps.turn)

    def get_model_settings(self) -> Any:
        # Temporal's retry policy is the one that retries; an SDK retrying underneath it hides failures.
        return {'max_retries': 0}


@dataclass
class SessionMemory(AbstractCapability[TurnDeps]):
    """The user's long-term memory: the memory tools, and the memories recalled for the turn."""

    def get_toolset(self) -> AbstractToolset[TurnDeps] | None:
        return memory_tools

    def get_instructions(self) -> Any:
        return remembered


@dataclass
class Delegation(AbstractCapability[TurnDeps]):
    """The `delegate` tool, offered with the agents it may hand a task to."""

    delegates: Sequence[str]

    def __post_init__(self) -> None:
        # One toolset for the agent's life: the durable wrapper (and its child workflow) is bound to it.
        self._toolset = delegation_toolset(self.delegates)

    def get_toolset(self) -> AbstractToolset[TurnDeps] | None:
        return self._toolset


def DurableChat(  # noqa: N802 (read as the capability it returns)
    *,
    models: Sequence[str],
    memory: bool = True,
    reminders: bool = True,
    delegates: Sequence[str] = (),
    tool_activity: dict[str, ActivityConfig] | None = None,
    context_window: int | None = None,
) -> AbstractCapability[TurnDeps]:
    """`Agent(..., deps_type=ChatDeps, capabilities=[DurableChat(models=['offline', ...])])`.

    `models`: the model names a session of this agent may choose (see `durable_chat.workflows.models`),
    the first being the default. `memory`: the memory tools (`remember`, `recall`, `forget`) and the
    recalled memories in the instructions. `reminders`: the `remind` tool, which the session answers
    itself (a durable timer in the workflow, then a message to the user). `delegates`: registered agent
    names this agent may hand a task to with the `delegate` tool, each run as a child workflow whose
    progress streams into the turn (one level: a sub-agent does not delegate). `tool_activity`:
    activity settings of the agent's own toolsets by toolset id (an MCP server's name), merged over
    pydantic-ai's defaults.
    `context_window`: tokens, for compaction by the model's own token count.
    """
    durability = ChatDurability(
        models=models,
        tool_activity=tool_activity,
        context_window=context_window,
        memory=memory,
        reminders=reminders,
        delegates=delegates,
    )
    capabilities: list[AbstractCapability[TurnDeps]] = [durability]
    if memory:
        capabilities.append(SessionMemory())
    if durability.delegates:
        capabilities.append(Delegation(durability.delegates))
    return CombinedCapability(capabilities)
