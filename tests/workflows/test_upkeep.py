"""The between-turn helpers of workflows/upkeep.py, called directly: the `temporalio.workflow` calls
they make (the run's history, its patches, the archive activity) and the summarizer are stand-ins."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import pytest
from pydantic_ai.exceptions import AgentRunError
from pydantic_ai.messages import (
    CompactionPart,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserPromptPart,
)
from temporalio.exceptions import ActivityError, RetryState

from durable_chat.memory.operations import ARCHIVE_TURNS, ArchivePage
from durable_chat.workflows import upkeep
from durable_chat.workflows.agents import registry
from durable_chat.workflows.contract import Approval, SessionLimits, Turn, TurnStatus
from durable_chat.workflows.history import SUMMARY_METADATA, history_bytes, transcript_text
from durable_chat.workflows.shared import SessionState
from durable_chat.workflows.summarizer import SUMMARY_PROMPT
from durable_chat.workflows.upkeep import (
    BOUNDED_RUN_GROWTH_PATCH,
    archive_old_turns,
    compact_history,
    should_continue_as_new,
)


@dataclass
class History:
    """What `workflow.info()` says of the run's history."""

    length: int = 1_000
    size: int = 500_000
    suggested: bool = False

    def get_current_history_length(self) -> int:
        return self.length

    def get_current_history_size(self) -> int:
        return self.size

    def is_continue_as_new_suggested(self) -> bool:
        return self.suggested


@dataclass
class FakeWorkflow:
    history: History = field(default_factory=History)
    patch_applies: bool = True
    """False replays a run recorded before the patch."""
    asked_patches: list[str] = field(default_factory=list[str])
    archived: list[ArchivePage] = field(default_factory=list[ArchivePage])
    archive_calls: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    archive_fails_from_page: int | None = None
    logger: logging.Logger = logging.getLogger(__name__)

    def info(self) -> History:
        return self.history

    def patched(self, patch_id: str) -> bool:
        self.asked_patches.append(patch_id)
        return self.patch_applies

    async def execute_activity(self, activity: str, page: ArchivePage, **options: Any) -> None:
        self.archive_calls.append({'activity': activity, **options})
        if self.archive_fails_from_page is not None and page.page >= self.archive_fails_from_page:
            raise ActivityError(
                'memory worker away',
                scheduled_event_id=1,
                started_event_id=2,
                identity='test',
                activity_type=activity,
                activity_id='1',
                retry_state=RetryState.TIMEOUT,
            )
        self.archived.append(page)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeWorkflow:
    stand_in = FakeWorkflow()
    monkeypatch.setattr(upkeep, 'workflow', stand_in)
    return stand_in


def state(limits: SessionLimits, statuses: list[TurnStatus], text_size: int = 10) -> SessionState:
    turns = [
        Turn(n, f'm-{n}', 'u' * text_size, status=status, reply='r' * text_size)
        for n, status in enumerate(statuses, start=1)
    ]
    return SessionState(
        session_id='s',
        user_id='u',
        memory_task_queue='memory-q',
        limits=limits,
        turns=turns,
        seen_message_ids=[t.message_id for t in turns],
    )


# --- continue-as-new ---------------------------------------------------------------------------

LIMITS = SessionLimits(max_run_events=10_000, max_run_bytes=10_000_000, max_run_growth_bytes=256_000)
START = 400_000
"""History bytes when the run started (its input, the carried state)."""


@pytest.mark.parametrize(
    ('history', 'queued', 'expected'),
    [
        pytest.param(History(size=START + 1_000), 0, False, id='within every limit'),
        pytest.param(History(size=START + 1_000, suggested=True), 0, True, id='suggested by the server'),
        pytest.param(History(length=10_001, size=START + 1_000), 5, True, id='too many events'),
        pytest.param(History(size=10_000_001), 5, True, id='too many bytes'),
        # Growth since the run started counts, not the start input (the carried state).
        pytest.param(History(size=START + 256_000), 0, False, id='grown exactly the budget'),
        pytest.param(History(size=START + 256_001), 0, True, id='grown past the budget'),
        pytest.param(History(size=START + 256_001), 1, True, id='grown, one message waiting'),
        # A burst waiting: the next run's input would carry it all; wait until at most one waits.
        pytest.param(History(size=START + 256_001), 2, False, id='grown, a burst waiting'),
    ],
)
def test_when_a_run_continues_as_new(
    fake: FakeWorkflow, history: History, queued: int, expected: bool
) -> None:
    fake.history = history
    queue: list[TurnStatus] = ['queued'] * queued
    session = state(LIMITS, ['done', 'done', 'done', *queue])
    assert should_continue_as_new(session, START) is expected


def test_the_growth_patch_is_asked_only_when_it_decides(fake: FakeWorkflow) -> None:
    # Asking writes the patch marker into the history: only the runs that continue for growth may.
    session = state(LIMITS, ['done', 'queued', 'queued'])
    fake.history = History(size=START + 256_001)
    assert not should_continue_as_new(session, START)
    fake.history = History(size=START + 256_001, suggested=True)
    assert should_continue_as_new(session, START)
    assert fake.asked_patches == []

    session.turns.pop()
    fake.history = History(size=START + 256_001)
    assert should_continue_as_new(session, START)
    assert fake.asked_patches == [BOUNDED_RUN_GROWTH_PATCH]


def test_a_run_recorded_before_the_growth_patch_replays_without_continuing(fake: FakeWorkflow) -> None:
    fake.patch_applies = False
    fake.history = History(size=START + 256_001)
    assert not should_continue_as_new(state(LIMITS, ['done']), START)


# --- archiving ---------------------------------------------------------------------------------


async def test_finished_turns_past_the_kept_count_are_archived_a_page_at_a_time(fake: FakeWorkflow) -> None:
    limits = SessionLimits(keep_turns=2, archive_page_turns=2, max_seen_ids=1)
    session = state(limits, ['done', 'dropped', 'interrupted', 'failed', 'done', 'done', 'queued'])
    session.approvals = [Approval(id=f'a-{n}', turn=n, tool_name='forget', args={}) for n in (2, 3)]
    before = [asdict(t) for t in session.turns]

    await archive_old_turns(session)

    # 6 finished turns > 2 kept + a page of 2: one page goes, leaving 4, not over.
    assert fake.archived == [ArchivePage(session_id='s', user_id='u', page=1, turns=before[:2])]
    assert [(c['activity'], c['task_queue']) for c in fake.archive_calls] == [(ARCHIVE_TURNS, 'memory-q')]
    assert [t.number for t in session.turns] == [3, 4, 5, 6, 7]
    assert (session.archived_turns, session.archive_pages) == (2, 1)
    assert [a.turn for a in session.approvals] == [3]
    # Ids of turns still held are kept, whatever `max_seen_ids` says.
    assert session.seen_message_ids == [f'm-{n}' for n in range(3, 8)]


async def test_nothing_is_archived_within_the_limits_or_past_a_waiting_turn(fake: FakeWorkflow) -> None:
    limits = SessionLimits(keep_turns=2, archive_page_turns=2)
    within = state(limits, ['done'] * 4)
    await archive_old_turns(within)
    # Only the finished turns before the first unfinished one count.
    waiting = state(limits, ['done', 'queued', 'done', 'done', 'done', 'done'])
    await archive_old_turns(waiting)
    assert fake.archived == []
    assert (len(within.turns), len(waiting.turns)) == (4, 6)


async def test_turns_past_the_kept_bytes_are_archived_in_pages_of_bounded_bytes(fake: FakeWorkflow) -> None:
    limits = SessionLimits(keep_turn_bytes=1_000, archive_page_bytes=1_000)
    session = state(limits, ['done'] * 5, text_size=200)  # 400 bytes a turn, 2,000 in all

    await archive_old_turns(session)

    assert [[t['number'] for t in page.turns] for page in fake.archived] == [[1, 2], [3, 4]]
    assert [p.page for p in fake.archived] == [1, 2]
    assert [t.number for t in session.turns] == [5]
    assert (session.archived_turns, session.archive_pages) == (4, 2)


async def test_a_turn_larger_than_a_page_is_archived_alone(fake: FakeWorkflow) -> None:
    limits = SessionLimits(keep_turn_bytes=1_000, archive_page_bytes=1_000)
    session = state(limits, ['done'] * 2, text_size=600)
    await archive_old_turns(session)
    assert [[t['number'] for t in page.turns] for page in fake.archived] == [[1], [2]]
    assert session.turns == []


async def test_when_the_archive_fails_the_turns_stay_for_the_next_try(fake: FakeWorkflow) -> None:
    limits = SessionLimits(keep_turn_bytes=1_000, archive_page_bytes=1_000)
    session = state(limits, ['done'] * 5, text_size=200)
    fake.archive_fails_from_page = 2

    await archive_old_turns(session)

    assert [p.page for p in fake.archived] == [1]
    assert [t.number for t in session.turns] == [3, 4, 5]
    assert (session.archived_turns, session.archive_pages) == (2, 1)


# --- compaction --------------------------------------------------------------------------------


@dataclass
class Result:
    output: str


@dataclass
class FakeSummarizer:
    prompts: list[str] = field(default_factory=list[str])
    fails: bool = False

    models: list[str | None] = field(default_factory=list[str | None])

    async def run(self, prompt: str, model: str | None = None) -> Result:
        self.prompts.append(prompt)
        self.models.append(model)
        if self.fails:
            raise AgentRunError('the model is down')
        return Result(f'summary #{len(self.prompts)}')


@pytest.fixture
def summarizer(monkeypatch: pytest.MonkeyPatch, fake: FakeWorkflow) -> FakeSummarizer:
    stand_in = FakeSummarizer()
    monkeypatch.setattr(registry, '_installed', registry.Registry(summarizer=cast(Any, stand_in)))
    return stand_in


def exchanges(*texts: str) -> list[ModelMessage]:
    return [
        message
        for text in texts
        for message in (
            ModelRequest(parts=[UserPromptPart(content=text)]),
            ModelResponse(parts=[TextPart(content=f'answer to {text}')]),
        )
    ]


async def test_a_history_over_its_budget_keeps_the_recent_exchanges_after_a_summary(
    summarizer: FakeSummarizer,
) -> None:
    messages = exchanges('one', 'two', 'three')
    session = state(SessionLimits(history_budget_bytes=history_bytes(messages) - 1, keep_exchanges=1), [])
    session.messages = list(messages)

    assert await compact_history(session)

    assert summarizer.prompts == [SUMMARY_PROMPT + transcript_text(messages[:4], upkeep.SUMMARY_INPUT_CHARS)]
    summary, *recent = session.messages
    assert summary.parts == [CompactionPart(content='summary #1', metadata=SUMMARY_METADATA)]
    assert recent == messages[4:]
    assert session.compactions == 1


async def test_a_history_within_its_budget_or_too_short_to_split_stays(summarizer: FakeSummarizer) -> None:
    messages = exchanges('one', 'two')
    within = state(SessionLimits(history_budget_bytes=history_bytes(messages), keep_exchanges=1), [])
    within.messages = list(messages)
    short = state(SessionLimits(history_budget_bytes=100, keep_exchanges=2), [])
    short.messages = list(messages)

    assert not await compact_history(within)
    assert not await compact_history(short)
    assert summarizer.prompts == []
    assert (within.messages, short.messages) == (messages, messages)


async def test_a_turn_that_filled_most_of_the_context_window_is_compacted_by_its_token_count(
    summarizer: FakeSummarizer,
) -> None:
    messages = exchanges('one', 'two', 'three')
    session = state(SessionLimits(history_budget_bytes=history_bytes(messages) * 10, keep_exchanges=1), [])
    session.messages = list(messages)
    session.last_input_tokens = 700

    assert not await compact_history(session, context_window=1000, model='small')  # 70% full
    session.last_input_tokens = 800
    assert not await compact_history(session)  # no window known: bytes alone decide
    assert await compact_history(session, context_window=1000, model='small')

    assert summarizer.models == ['small']
    assert session.compactions == 1 and session.last_input_tokens == 0
    assert session.messages[1:] == messages[4:]


async def test_a_failing_summarizer_leaves_the_history_for_a_later_turn(summarizer: FakeSummarizer) -> None:
    summarizer.fails = True
    messages = exchanges('one', 'two', 'three')
    session = state(SessionLimits(history_budget_bytes=100, keep_exchanges=1), [])
    session.messages = list(messages)

    assert not await compact_history(session)
    assert (session.messages, session.compactions) == (messages, 0)
