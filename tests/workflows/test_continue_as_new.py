"""A session outlives its workflow runs: between turns it archives old turns, compacts the model
history and continues as new, carrying its state, so the next run answers as the same session."""

from __future__ import annotations

from dataclasses import asdict

from pydantic_ai.messages import CompactionPart, ModelRequest, ModelResponse, TextPart, UserPromptPart
from temporalio.client import WorkflowExecutionStatus

from durable_chat.memory.operations import TranscriptRequest
from durable_chat.memory.store import MemoryStore
from durable_chat.memory.transcripts import TranscriptStore
from durable_chat.testing.scripted import expected_reply
from durable_chat.workflows.contract import FINISHED_TURN_STATUSES, RUN_FINISHED, SessionLimits, Turn
from durable_chat.workflows.history import SUMMARY_METADATA
from durable_chat.workflows.shared import SessionState
from tests.workflows.conftest import SCRIPTED_MODEL
from tests.workflows.driver import NewChat, message_texts

ALWAYS = SessionLimits(max_run_growth_bytes=1)
"""Any turn grows the run's history past this: a run continues as new after every turn it can."""


def finished(state: SessionState) -> set[int]:
    return {t.number for t in state.turns if t.status in FINISHED_TURN_STATUSES}


def exchange(user_text: str, reply: str) -> list[tuple[type, str]]:
    return [(UserPromptPart, user_text), (TextPart, reply)]


async def test_the_next_run_carries_the_turns_and_the_seen_message_ids(new_chat: NewChat) -> None:
    chat = await new_chat(ALWAYS)
    await chat.send('m-1', 'hello')

    carried = await chat.wait_for_carried(lambda s: 1 in finished(s), 'a run started after turn 1')
    described = await chat.client.get_workflow_handle(chat.handle.id, run_id=chat.first_run_id).describe()
    assert described.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert carried.turns == [
        Turn(1, 'm-1', 'hello', status='done', reply=expected_reply('hello'), model=SCRIPTED_MODEL)
    ]
    assert (carried.seen_message_ids, carried.title) == (['m-1'], 'hello')
    assert message_texts(carried.messages) == exchange('hello', expected_reply('hello'))
    assert [type(m) for m in carried.messages] == [ModelRequest, ModelResponse]

    # The next run is the same session: m-1 is still a redelivery, and numbering goes on.
    await chat.send('m-1', 'hello')
    await chat.send('m-2', 'again')
    done = await chat.wait_finished(2)
    assert [(t.number, t.message_id, t.reply) for t in done.turns] == [
        (1, 'm-1', expected_reply('hello')),
        (2, 'm-2', expected_reply('again')),
    ]
    assert await chat.run_id() != chat.first_run_id


async def test_a_burst_of_waiting_messages_defers_continue_as_new_and_the_queue_carries_over(
    new_chat: NewChat,
) -> None:
    chat = await new_chat(ALWAYS)
    await chat.send('m-1', 'slow 20 first')
    await chat.wait_for(lambda s: bool(s.turns) and s.turns[0].status == 'running', 'turn 1 to run')
    await chat.send('m-2', 'second')
    await chat.send('m-3', 'third')

    done = await chat.wait_finished(1, 2, 3)
    assert [t.reply for t in done.turns] == [expected_reply(t) for t in ('slow 20 first', 'second', 'third')]
    # Not after turn 1 (two waiting), but after turn 2 (one waiting, which the next run answered).
    first_run = await chat.continued_with(chat.first_run_id)
    assert [(t.number, t.status) for t in first_run.turns] == [(1, 'done'), (2, 'done'), (3, 'queued')]
    assert first_run.seen_message_ids == ['m-1', 'm-2', 'm-3']
    frames = await chat.read_stream()
    assert [f['turn'] for f in frames if f['type'] == RUN_FINISHED] == [1, 2, 3]


async def test_old_turns_go_to_the_archive_and_older_exchanges_into_a_summary(
    new_chat: NewChat, memory_store: MemoryStore
) -> None:
    # One ~2 KB exchange fits the history budget, two do not; one turn is kept, a page is one turn.
    limits = SessionLimits(
        keep_turns=1,
        archive_page_turns=1,
        history_budget_bytes=4_000,
        keep_exchanges=1,
        max_run_growth_bytes=1,
    )
    chat = await new_chat(limits)
    texts = ['long a', 'long b', 'long c']
    for number, text in enumerate(texts, start=1):
        await chat.send(f'm-{number}', text)

    carried = await chat.wait_for_carried(lambda s: 3 in finished(s), 'a run started after turn 3')
    snapshot = await chat.snapshot()
    assert (snapshot.archived_turns, [t.number for t in snapshot.turns]) == (1, [2, 3])
    assert (carried.archived_turns, carried.archive_pages) == (1, 1)
    assert [t.number for t in carried.turns] == [2, 3]
    assert carried.seen_message_ids == ['m-1', 'm-2', 'm-3']
    transcripts = TranscriptStore(memory_store.client, run=memory_store.run_qdrant)
    archived = await transcripts.chunk(TranscriptRequest(chat.session_id, chat.user_id))
    assert archived.turns == [
        asdict(Turn(1, 'm-1', texts[0], status='done', reply=expected_reply(texts[0]), model=SCRIPTED_MODEL))
    ]

    # Compacted after turns 2 and 3: a summary of all but the last exchange, then that exchange.
    assert carried.compactions == 2
    summary, *recent = carried.messages
    [part] = summary.parts
    assert isinstance(part, CompactionPart) and part.metadata == SUMMARY_METADATA
    assert part.content is not None
    assert 'long a' in part.content and 'long b' in part.content and 'long c' not in part.content
    assert message_texts(recent) == exchange(texts[2], expected_reply(texts[2]))
