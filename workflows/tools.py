"""The agent's memory tools: `remember`, `recall` and `forget` (which needs a person's approval).

They run in workflow code (`'temporal': False`) and call the memory activities on the memory task
queue, so the process that owns Qdrant serves them wherever the chat worker runs (docs/architecture.md, "Processes"). Tool
names are persisted identifiers: never rename one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic_ai import RunContext
from pydantic_ai.toolsets import FunctionToolset
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from durable_chat.memory.types import (
    FORGET_MEMORY,
    RECALL_MEMORIES,
    STORE_MEMORY,
    ForgetRequest,
    ForgetResult,
    Memory,
    RecallRequest,
    RecallResult,
    StoreRequest,
    StoreResult,
)
from durable_chat.workflows.memory_hints import MEMORY_HINT_ACTIVITY, SKIP_RECALL_PATCH, memory_changed
from durable_chat.workflows.shared import TurnDeps, await_keeping_cancel

IN_WORKFLOW = {'temporal': False}
MEMORY_ACTIVITY = {
    # Memory calls take milliseconds: a crashed memory worker's call is retried after 10 s.
    'start_to_close_timeout': timedelta(seconds=10),
    'retry_policy': RetryPolicy(
        initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5)
    ),
}

STORE_MARKS_CHANGED_PATCH = 'store-marks-memory-changed'
"""Sessions recorded before it bumped the memory generation in a local activity after each store."""

memory_tools = FunctionToolset[TurnDeps](id='memory')


async def call_memory(
    deps: TurnDeps, name: str, request: Any, result_type: type, keep_cancel: bool = False, **config: Any
) -> Any:
    """Runs a memory activity on the memory task queue (from workflow code).

    `keep_cancel`: a cancel of the calling task that lands as the activity completes is raised, not
    answered by the activity's result (which a plain await of the activity can do)."""
    running = workflow.start_activity(
        name,
        request,
        task_queue=deps.memory_task_queue,
        result_type=result_type,
        **{**MEMORY_ACTIVITY, **config},
    )
    return await (await_keeping_cancel(running) if keep_cancel else running)


def _failure(error: ActivityError) -> str:
    cause = error.cause
    return getattr(cause, 'message', None) or str(cause or error)


@memory_tools.tool(metadata=IN_WORKFLOW)
async def remember(
    ctx: RunContext[TurnDeps],
    fact: str,
    decision: Literal['propose', 'add', 'update', 'supersede', 'ignore', 'rules'] = 'propose',
    memory_id: str | None = None,
    expires_in_days: float | None = None,
    expires_at: str | None = None,
) -> str:
    """Remember a fact about the user for later conversations. One short sentence per fact.

    For a fact that holds only for a while ("for a week", "until Friday"), give `expires_in_days`
    or `expires_at` (an ISO UTC date or time): after it the memory is forgotten.

    When it is about something you already remember, nothing is stored yet: you get those
    memories (with ids) and call `remember` again with the same fact and your decision: `add` (a
    different fact, keep both), `update` (the same fact reworded or corrected; give its
    `memory_id`), `supersede` (it replaced that one: a move, a new job, a new number, a plan that
    happened; give its `memory_id`) or `ignore` (nothing new). If both were said recently and
    contradict each other, ask the user which is right before deciding. `rules`: let the
    store's own rules decide.
    """
    if expires_in_days is not None:
        if not expires_in_days > 0:
            return 'Not remembered: expires_in_days must be more than 0'
        expires_at = (workflow.now() + timedelta(days=expires_in_days)).astimezone(UTC).isoformat()
    request = StoreRequest(
        ctx.deps.user_id,
        fact,
        mark_changed=workflow.patched(STORE_MARKS_CHANGED_PATCH),
        session_id=ctx.deps.session_id,
        turn=ctx.deps.turn,
        decision=decision,
        memory_id=memory_id,
        expires_at=expires_at,
    )
    try:
        result: StoreResult = await call_memory(ctx.deps, STORE_MEMORY, request, StoreResult)
    except ActivityError as error:
        return f'Not remembered: {_failure(error)}'
    if workflow.patched(SKIP_RECALL_PATCH) and not result.marked_changed:
        try:
            # After the point is written, so a recall racing this store can't mark the user empty.
            await workflow.execute_local_activity(memory_changed, ctx.deps.user_id, **MEMORY_HINT_ACTIVITY)
        except (ActivityError, ApplicationError):  # a local activity's last failure is an ApplicationError
            workflow.logger.warning('memory hint not updated; it expires on its own')
    return store_answer(result)


def store_answer(result: StoreResult) -> str:
    """What `remember` tells the model: the action first ('added: ...', 'updated: ... (was: ...)')."""
    text = result.memory.text
    until = f' (until {_utc(result.memory.expires_at)})' if result.memory.expires_at else ''
    match result.action:
        case 'updated' if result.previous is not None:
            return f'updated: {text} (was: {result.previous.text}){until}'
        case 'proposed':
            listed = '; '.join(f'memory {m.id}: "{m.text}" (said {said_on(m)})' for m in result.candidates)
            return (
                f'proposed: nothing stored yet. "{text}" is about what you remember: {listed}. '
                'Call remember again with this fact and decision add, update or supersede (with '
                'the memory_id), or ignore.'
            )
        case 'conflict':
            [old] = result.candidates[:1]
            return (
                f'conflict: the user said recently that "{old.text}" (memory {old.id}, {said_on(old)}) '
                f'and now "{text}". Nothing stored: ask the user which is right, then call remember '
                f'with decision supersede (memory_id {old.id}) or add.'
            )
        case 'added' | 'updated' | 'unchanged':
            return f'{result.action}: {text}{until}'
        case _:
            return f'{result.action}: {text}'


def _utc(when: datetime) -> str:
    return f'{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC'


def said_on(memory: Memory) -> str:
    return f'{memory.updated_at.day} {memory.updated_at:%B %Y}'


@memory_tools.tool(metadata=IN_WORKFLOW)
async def recall(ctx: RunContext[TurnDeps], query: str) -> list[dict[str, str]]:
    """Search what you remember about the user. Returns the closest memories with their ids."""
    request = RecallRequest(ctx.deps.user_id, query, k=5, plain=True)
    result: RecallResult = await call_memory(ctx.deps, RECALL_MEMORIES, request, RecallResult)
    return [
        {'id': m.id, 'text': m.text, 'said_on': said_on(m)}
        | ({'until': _utc(m.expires_at)} if m.expires_at else {})
        for m in result.memories
    ]


@memory_tools.tool(metadata=IN_WORKFLOW, requires_approval=True)
async def forget(ctx: RunContext[TurnDeps], memory_id: str) -> str:
    """Forget one memory for good, by the id `recall` gave. The user or an operator must approve."""
    try:
        result: ForgetResult = await call_memory(
            ctx.deps, FORGET_MEMORY, ForgetRequest(ctx.deps.user_id, memory_id=memory_id), ForgetResult
        )
    except ActivityError as error:
        return f'Not forgotten: {_failure(error)}'
    return 'Forgotten.' if result.deleted else 'There was no such memory.'
