"""Interrupting the running turn: it ends with the text it streamed, as `interrupted`; the queue goes
on, or is dropped with `drop_queued`; the turn time budget stops a turn the same way."""

from __future__ import annotations

import pytest
from pydantic_ai.messages import TextPart, UserPromptPart
from temporalio.client import WorkflowUpdateFailedError

from durable_chat.testing.scripted import expected_reply
from durable_chat.workflows.contract import (
    RUN_FINISHED,
    TEXT_MESSAGE_CONTENT,
    TURN_INTERRUPTED,
    Frame,
    InterruptResult,
    SessionLimits,
)
from durable_chat.workflows.session import INTERRUPTED_MARKER, STOPPED_MARKER, TIME_BUDGET
from tests.workflows.driver import Chat, NewChat, message_texts, of_turn, refusal, streamed

CARRY_OVER = SessionLimits(max_run_growth_bytes=1)
"""A session that continues as new after every turn, so the state it carries can be read."""
ENDLESS_ENOUGH = 'slow 300'
"""12 s of tokens: a turn that is still running whenever the test interrupts it."""


async def streaming(chat: Chat, turn: int, tokens: int = 3) -> None:
    def enough(frames: list[Frame]) -> bool:
        return sum(f['type'] == TEXT_MESSAGE_CONTENT for f in of_turn(frames, turn)) >= tokens

    await chat.wait_for_frames(enough, f'turn {turn} to stream {tokens} tokens')


def assert_ended_with_its_streamed_text(frames: list[Frame], turn: int, reply: str, full: str) -> Frame:
    """The turn's last event is TURN_INTERRUPTED carrying what the stream showed, which is the reply."""
    events = of_turn(frames, turn)
    text = streamed(events)
    assert text and full.startswith(text) and text != full
    assert reply == text
    *before, last = events
    assert (last['type'], last['step'], last['reply']) == (TURN_INTERRUPTED, 0, text)
    assert RUN_FINISHED not in {f['type'] for f in before}
    return last


async def model_history_of_turn_1(chat: Chat) -> list[tuple[type, str]]:
    """Turn 1's exchange as later model requests get it, read from the state the session carried into
    its next run (these sessions continue as new after every turn: the history is otherwise internal)."""
    carried = await chat.wait_for_carried(lambda s: len(s.messages) >= 2, 'a run started after turn 1')
    return message_texts(carried.messages[:2])


async def test_an_interrupted_turn_keeps_what_it_streamed_and_the_queue_goes_on(new_chat: NewChat) -> None:
    chat = await new_chat(CARRY_OVER)
    await chat.send('m-1', ENDLESS_ENOUGH)
    await chat.send('m-2', 'after the interrupt')
    await streaming(chat, 1)

    assert await chat.interrupt(by='alice') == InterruptResult(turn=1, dropped=[])

    done = await chat.wait_finished(1, 2)
    first, second = done.turns
    assert first.status == 'interrupted'
    assert (second.status, second.reply) == ('done', expected_reply('after the interrupt'))
    frames = await chat.read_stream()
    interrupted = assert_ended_with_its_streamed_text(frames, 1, first.reply, expected_reply(ENDLESS_ENOUGH))
    assert interrupted['by'] == 'alice'
    assert [f['type'] for f in frames].count(TURN_INTERRUPTED) == 1
    # The model is told what the user saw of the answer, and that it was cut off.
    assert await model_history_of_turn_1(chat) == [
        (UserPromptPart, ENDLESS_ENOUGH),
        (TextPart, f'{first.reply}\n\n{INTERRUPTED_MARKER}'),
    ]


async def test_drop_queued_drops_the_waiting_messages_too(new_chat: NewChat) -> None:
    chat = await new_chat()
    await chat.send('m-1', ENDLESS_ENOUGH)
    await chat.send('m-2', 'second')
    await chat.send('m-3', 'third')
    await chat.wait_for(lambda s: len(s.turns) == 3, 'three turns')
    await streaming(chat, 1)

    assert await chat.interrupt(drop_queued=True, by='bob') == InterruptResult(turn=1, dropped=[2, 3])

    done = await chat.wait_finished(1, 2, 3)
    assert [(t.status, bool(t.reply)) for t in done.turns] == [
        ('interrupted', True),
        ('dropped', False),
        ('dropped', False),
    ]
    # Dropped turns never ran; the session takes the next message as usual.
    await chat.send('m-4', 'fourth')
    done = await chat.wait_finished(4)
    assert (done.turns[-1].number, done.turns[-1].reply) == (4, expected_reply('fourth'))
    frames = await chat.read_stream()
    assert not of_turn(frames, 2) and not of_turn(frames, 3)
    assert assert_ended_with_its_streamed_text(
        frames, 1, done.turns[0].reply, expected_reply(ENDLESS_ENOUGH)
    )['by'] == ('bob')


async def test_interrupt_is_refused_when_no_turn_is_running(new_chat: NewChat) -> None:
    chat = await new_chat()
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await chat.interrupt()
    assert refusal(refused) == ('ValueError', 'no turn is running')

    await chat.send('m-1', 'hello')
    done = await chat.wait_finished(1)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await chat.interrupt(drop_queued=True)
    assert refusal(refused) == ('ValueError', 'no turn is running')
    # A refused update leaves the session as it was.
    assert await chat.snapshot() == done


async def test_a_turn_past_its_time_budget_stops_with_what_it_wrote(new_chat: NewChat) -> None:
    chat = await new_chat(SessionLimits(turn_seconds=1.5, max_run_growth_bytes=1))
    await chat.send('m-1', ENDLESS_ENOUGH)
    await chat.send('m-2', 'next')

    done = await chat.wait_finished(1, 2)
    first = done.turns[0]
    assert (first.status, first.note) == ('interrupted', 'Stopped: a reply may take at most 1.5 seconds.')
    assert done.turns[1].reply == expected_reply('next')
    frames = await chat.read_stream()
    stopped = assert_ended_with_its_streamed_text(frames, 1, first.reply, expected_reply(ENDLESS_ENOUGH))
    assert (stopped['by'], stopped['note']) == (TIME_BUDGET, first.note)
    assert await model_history_of_turn_1(chat) == [
        (UserPromptPart, ENDLESS_ENOUGH),
        (TextPart, f'{first.reply}\n\n{STOPPED_MARKER}'),
    ]
