"""The turn's recall before the model runs: skipped for a user known to have no memories
(`workflows/memory_hints.py`), taken from the API when it prepared it (`workflows/prepared_recall.py`),
else asked of the memory worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

from durable_chat.memory.types import RECALL_MEMORIES, RecallResult
from durable_chat.workflows.memory_hints import (
    MEMORY_HINT_ACTIVITY,
    SKIP_RECALL_PATCH,
    MemoryHint,
    PreparedLookup,
    mark_no_memories,
    memory_hint,
    prepared_recall,
)
from durable_chat.workflows.prepared_recall import PreparedRecall, recall_request
from durable_chat.workflows.shared import LOCAL_ACTIVITY_FAILED, SessionState, TurnDeps, await_keeping_cancel
from durable_chat.workflows.tools import call_memory

PREPARED_RECALL_PATCH = 'prepared-recall'
"""A turn of a user with memories takes the recall the API prepared while the message travelled
(`workflows/prepared_recall.py`), when it is the one the turn would run, instead of recalling; and an
interrupt that lands as the recall's activities complete stops the turn (`keep_cancel`), instead of
being answered by their result and lost."""
_R = TypeVar('_R')


class Recall:
    """`ChatSession`'s recall before a turn."""

    state: SessionState
    _prepared_recall: bool
    """The run decided `PREPARED_RECALL_PATCH` at its start."""

    def _has(self, patch_id: str) -> bool:
        raise NotImplementedError

    async def _recall(self, deps: TurnDeps, text: str, message_id: str) -> list[str]:
        """The user's memories closest to this message; a memory outage costs context, not the turn."""
        hint = await self._memory_hint() if self._has(SKIP_RECALL_PATCH) else None
        if hint is not None and hint.known_empty:
            return []
        request = recall_request(self.state.user_id, text, self.state.recall_k)
        result: RecallResult | None = None
        if hint is not None and self._prepared_recall:
            lookup = PreparedLookup(
                self.state.session_id, message_id, PreparedRecall(request, hint.generation)
            )
            result = await self._run_hint(prepared_recall, lookup)
        if result is None:
            try:
                recalled: RecallResult = await call_memory(
                    deps,
                    RECALL_MEMORIES,
                    request,
                    RecallResult,
                    keep_cancel=self._prepared_recall,
                    schedule_to_close_timeout=timedelta(seconds=15),
                )
            except ActivityError:
                workflow.logger.warning('recall failed for turn %s; answering without memories', deps.turn)
                return []
            result = recalled
        if hint is not None and not result.user_has_memories:
            await self._run_hint(mark_no_memories, self.state.user_id, hint.generation)
        return [m.text for m in result.memories]

    async def _memory_hint(self) -> MemoryHint | None:
        """None when Redis can't say: the turn then recalls, as it would without hints."""
        return await self._run_hint(memory_hint, self.state.user_id)

    async def _run_hint(self, activity: Callable[..., Awaitable[_R]], *args: Any) -> _R | None:
        # The result type is the activity's own return annotation (temporalio ignores a
        # `result_type` given with an activity function).
        running = workflow.start_local_activity(activity, args=args, **MEMORY_HINT_ACTIVITY)
        try:
            if self._prepared_recall:
                # An interrupt that lands while it runs: a plain await can get the activity's result
                # instead of the cancel, and the turn would go on to the model as if not interrupted.
                return await await_keeping_cancel(running)
            return await running
        except LOCAL_ACTIVITY_FAILED:
            workflow.logger.warning('memory hint %s failed', activity.__name__)
            return None
