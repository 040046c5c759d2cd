"""Sub-agents: the `delegate(agent, task)` tool, which runs another registered agent as a child
workflow of the session.

The tool runs as a Temporal child workflow (pydantic-ai's `child_workflow` tool metadata): its body
is workflow code, so the sub-agent's model requests and tools are activities of the child's own
history, and a worker killed mid-task resumes it from there. The sub-agent's events go to the parent
session's stream, tagged with the parent's tool call id (`TurnDeps.delegation`) and with step
numbers of their own; its answer is the tool's result. Cancelling the parent's turn (an interrupt,
the time budget, a closed session) cancels the child; a parent that ends anyhow terminates it.

Only one level: a sub-agent never sees its own `delegate` tool.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic_ai import DeferredToolRequests, DeferredToolResults, RunContext, ToolDenied
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import ModelResponse
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import FunctionToolset
from temporalio import workflow
from temporalio.workflow import ChildWorkflowConfig, ParentClosePolicy

from durable_chat.workflows.shared import TurnDeps

if TYPE_CHECKING:
    from durable_chat.workflows.agents.registry import Registry

DELEGATE_TOOL = 'delegate'
"""Persisted: it names the tool in histories and the child workflow's type (with the toolset id)."""
DELEGATION_TOOLSET = 'delegation'
STEPS_PER_PARENT_STEP = 1000
"""A sub-agent's model step k, delegated from the parent's step n, streams as step n * 1000 + k: never
one of the parent's own steps (a turn takes far fewer than 1000), so a retried attempt of either
drops only its own text. Two delegations from the same parent step share numbers; their frames are
told apart by `parentToolCallId`."""
MAX_DEFERRED_ROUNDS = 3
"""A sub-agent that keeps asking for approvals is answered 'denied' this many times, then stopped."""
DENIED_APPROVAL = (
    'Denied: a delegated task cannot ask the user for approval. Do without this tool, or say in your '
    'answer what the user should do.'
)
NOT_HERE = 'This tool cannot run in a delegated task.'

CHILD_WORKFLOW: ChildWorkflowConfig = {
    # A session's end (its close, a terminate) ends the sub-agent with it.
    'parent_close_policy': ParentClosePolicy.TERMINATE,
    'execution_timeout': timedelta(hours=1),
    'static_summary': 'delegated task',
}


def nested_step_offset(ctx: RunContext[TurnDeps]) -> int:
    """Where the sub-agent's step numbers start: past the parent's whole step range."""
    return (ctx.run_step + ctx.deps.step_offset) * STEPS_PER_PARENT_STEP


def child_deps(ctx: RunContext[TurnDeps]) -> TurnDeps:
    """The sub-agent's deps: the parent's session, turn and user, marked as nested under this call."""
    deps = ctx.deps
    return TurnDeps(
        session_id=deps.session_id,
        turn=deps.turn,
        user_id=deps.user_id,
        memory_task_queue=deps.memory_task_queue,
        step_offset=nested_step_offset(ctx),
        delegation=ctx.tool_call_id or '',
        local_events=deps.local_events,
    )


def _denials(requests: DeferredToolRequests) -> DeferredToolResults:
    """No person watches a sub-agent: its approvals are denied and external calls answered, so the
    child never waits."""
    return DeferredToolResults(
        approvals={call.tool_call_id: ToolDenied(DENIED_APPROVAL) for call in requests.approvals},
        calls={call.tool_call_id: NOT_HERE for call in requests.calls},
    )


def _registry() -> Registry:
    """The worker's registry. Imported late (the registry imports this module) and passed through,
    so workflow code reads the one module the worker installed it in, not a sandbox copy."""
    with workflow.unsafe.imports_passed_through():
        from durable_chat.workflows.agents.registry import installed
    return installed()


def _describe(allowed: Sequence[str]) -> str:
    registry = _registry()
    lines = [
        f'- {name}: {entry.description or "(no description)"}'
        for name in allowed
        if (entry := registry.get(name)) is not None
    ]
    return (
        'Hand a self-contained task to another agent and get its answer back. The agent sees only '
        '`task` (not this conversation), so say everything it needs. Agents:\n' + '\n'.join(lines)
    )


def delegation_toolset(delegates: Sequence[str]) -> FunctionToolset[TurnDeps]:
    """The `delegate` tool of an agent that may hand tasks to `delegates` (registered agent names)."""
    allowed = tuple(dict.fromkeys(delegates))
    toolset = FunctionToolset[TurnDeps](id=DELEGATION_TOOLSET)

    async def prepare(ctx: RunContext[TurnDeps], tool_def: ToolDefinition) -> ToolDefinition | None:
        if ctx.deps.delegation:
            return None  # a sub-agent does not delegate further
        schema: dict[str, Any] = copy.deepcopy(tool_def.parameters_json_schema)
        schema['properties']['agent']['enum'] = list(allowed)
        return replace(tool_def, description=_describe(allowed), parameters_json_schema=schema)

    async def check(ctx: RunContext[TurnDeps], agent: str, task: str) -> None:
        # Runs before any child starts (an activity of the parent): a refused call starts none and
        # the model reads why as the call's result.
        if ctx.deps.delegation:
            raise ToolFailed('A delegated task cannot delegate further: do the task yourself.')
        if agent not in allowed:
            raise ToolFailed(
                f'There is no agent {agent!r} to delegate to. You may delegate to: {", ".join(allowed)}.'
            )
        if not task.strip():
            raise ToolFailed('The task is empty: say what the agent should do.')

    @toolset.tool(
        name=DELEGATE_TOOL,
        prepare=prepare,
        args_validator=check,
        metadata={'temporal': {'child_workflow': CHILD_WORKFLOW}},
    )
    async def delegate(ctx: RunContext[TurnDeps], agent: str, task: str) -> str:
        """Hand a task to another agent; its answer comes back as the result."""
        # This body is the child workflow's code: the sub-agent's I/O are the child's activities.
        entry = _registry().get(agent)
        if entry is None:
            return f'The agent {agent!r} is not available any more.'
        deps = child_deps(ctx)
        model = entry.default_model
        output_type: Any = [str, DeferredToolRequests]
        result = await entry.agent.run(task, deps=deps, model=model, output_type=output_type)
        for _ in range(MAX_DEFERRED_ROUNDS):
            if not isinstance(result.output, DeferredToolRequests):
                break
            deps.step_offset += sum(isinstance(m, ModelResponse) for m in result.new_messages())
            result = await entry.agent.run(
                message_history=result.all_messages(),
                deferred_tool_results=_denials(result.output),
                deps=deps,
                model=model,
                output_type=output_type,
            )
        if isinstance(result.output, DeferredToolRequests):
            return f'{agent} stopped: it kept asking for tools it may not use here.'
        return str(result.output)

    return toolset
