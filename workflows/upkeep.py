"""Between turns: archive old turns, compact the model history, decide on continue-as-new.

All of it runs in workflow code between turns (never mid-turn), so a session can run for months:
its state, every continue-as-new input and every model input stay bounded (docs/architecture.md, "Long sessions").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from itertools import takewhile

from pydantic_ai.exceptions import AgentRunError
from temporalio import workflow
from temporalio.exceptions import ActivityError

from durable_chat.memory.operations import ARCHIVE_TURNS, ArchivePage
from durable_chat.workflows.agents.registry import installed
from durable_chat.workflows.contract import FINISHED_TURN_STATUSES, Turn
from durable_chat.workflows.history import compacted, history_bytes, split_recent, transcript_text
from durable_chat.workflows.shared import SessionState
from durable_chat.workflows.summarizer import SUMMARY_PROMPT

SUMMARY_INPUT_CHARS = 40_000


async def archive_old_turns(state: SessionState) -> None:
    """Moves the oldest finished turns to the transcript archive, a page at a time, while the
    workflow holds more than `keep_turns` of them or more than `keep_turn_bytes` of their text."""
    limits = state.limits
    while True:
        finished = list(takewhile(lambda t: t.status in FINISHED_TURN_STATUSES, state.turns))
        over_count = len(finished) > limits.keep_turns + limits.archive_page_turns
        over_bytes = sum(t.size for t in finished) > limits.keep_turn_bytes
        if not finished or not (over_count or over_bytes):
            return
        page_turns = _page(finished, limits.archive_page_turns, limits.archive_page_bytes)
        page = ArchivePage(
            session_id=state.session_id,
            user_id=state.user_id,
            page=state.archive_pages + 1,
            turns=[asdict(t) for t in page_turns],
        )
        try:
            await workflow.execute_activity(
                ARCHIVE_TURNS,
                page,
                task_queue=state.memory_task_queue,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(seconds=60),
            )
        except ActivityError:
            # The memory worker is away: keep the turns a while longer, the next turn tries again.
            workflow.logger.warning('archiving page %s failed; retrying after the next turn', page.page)
            return
        archived = {t.number for t in page_turns}
        state.turns = state.turns[len(page_turns) :]
        state.approvals = [a for a in state.approvals if a.turn not in archived]
        state.archive_pages += 1
        state.archived_turns = page_turns[-1].number
        _trim_seen_ids(state)


def _page(turns: list[Turn], max_turns: int, max_bytes: int) -> list[Turn]:
    """The oldest turns that fit one page (always at least one)."""
    page: list[Turn] = []
    size = 0
    for turn in turns[:max_turns]:
        if page and size + turn.size > max_bytes:
            break
        page.append(turn)
        size += turn.size
    return page


def _trim_seen_ids(state: SessionState) -> None:
    keep = max(state.limits.max_seen_ids, len(state.turns))
    del state.seen_message_ids[:-keep]


CONTEXT_FILL = 0.75
"""Compact once a turn's input used this much of the model's context window, before it overflows."""


def history_is_full(state: SessionState, context_window: int | None) -> bool:
    """Past the history's byte budget, or past `CONTEXT_FILL` of the context window by the model's
    own count of the last request's input tokens."""
    if history_bytes(state.messages) > state.limits.history_budget_bytes:
        return True
    return bool(context_window) and state.last_input_tokens > CONTEXT_FILL * (context_window or 0)


async def compact_history(
    state: SessionState, context_window: int | None = None, model: str | None = None
) -> bool:
    """Summarises the older exchanges once the history is full (`history_is_full`); True if it did."""
    if not history_is_full(state, context_window):
        return False
    older, recent = split_recent(state.messages, state.limits.keep_exchanges)
    if not older:
        return False
    summarizer = installed().summarizer
    assert summarizer is not None
    try:
        prompt = SUMMARY_PROMPT + transcript_text(older, SUMMARY_INPUT_CHARS)
        result = await (summarizer.run(prompt, model=model) if model else summarizer.run(prompt))
    except (ActivityError, AgentRunError):
        # The model is failing: answer with the longer history now, compact after a later turn.
        workflow.logger.warning('compaction failed; the history stays as it is for now')
        return False
    state.messages = compacted(result.output, recent)
    state.compactions += 1
    state.last_input_tokens = 0
    return True


BOUNDED_RUN_GROWTH_PATCH = 'bounded-run-growth'


def should_continue_as_new(
    state: SessionState, run_start_bytes: int, has_patch: Callable[[str], bool] | None = None
) -> bool:
    """`has_patch`: how the session decides a patch (`workflow.patched` when not given)."""
    has_patch = has_patch or workflow.patched
    info = workflow.info()
    size = info.get_current_history_size()
    return (
        info.is_continue_as_new_suggested()
        or info.get_current_history_length() > state.limits.max_run_events
        or size > state.limits.max_run_bytes
        # Not mid-burst: a full queue would swell the next run's input (one waiting message, a user
        # typing on, is fine). The patch is checked last, so only the runs it ends write its marker.
        or (
            size - run_start_bytes > state.limits.max_run_growth_bytes
            and sum(t.status == 'queued' for t in state.turns) <= 1
            and has_patch(BOUNDED_RUN_GROWTH_PATCH)
        )
    )
