"""Reminders: the agent's `remind` call is answered by the workflow, which holds the timer; when it is
due, the session posts a reminder turn (no user message) once, also in a run continued as new; a
cancelled reminder never comes."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from durable_chat.workflows.contract import (
    RUN_FINISHED,
    TEXT_MESSAGE_CONTENT,
    UPDATE_CANCEL_REMINDER,
    CancelReminder,
    Reminder,
    SessionLimits,
    Snapshot,
)
from durable_chat.workflows.offline_model import LABEL
from tests.workflows.driver import Chat, NewChat, of_turn, refusal, streamed

ALWAYS = SessionLimits(max_run_growth_bytes=1)
"""A session that continues as new after every turn it can."""


def reminder_turns(snapshot: Snapshot) -> list[int]:
    return [t.number for t in snapshot.turns if t.kind == 'reminder']


async def cancel(chat: Chat, reminder_id: str) -> Reminder:
    request = CancelReminder(reminder_id, by='alice')
    return await chat.handle.execute_update(UPDATE_CANCEL_REMINDER, request, result_type=Reminder)


async def test_a_reminder_is_posted_once_when_due(new_chat: NewChat) -> None:
    chat = await new_chat()
    await chat.send('m-1', 'remind me in 2 seconds to stretch')
    set_up = await chat.wait_finished(1)
    assert set_up.turns[0].reply.startswith(f'{LABEL} Reminder r1-1 set for ')
    assert [(r.id, r.text, r.status) for r in set_up.reminders] == [('r1-1', 'stretch', 'pending')]

    posted = await chat.wait_for(lambda s: 2 in s.finished_turns, 'the reminder turn')
    turn = posted.turns[1]
    assert (turn.kind, turn.user_text, turn.message_id) == ('reminder', '', 'reminder:r1-1')
    assert (turn.status, turn.reply) == ('done', f'{LABEL} Reminder: stretch')
    assert [(r.status, r.fired_turn) for r in posted.reminders] == [('fired', 2)]
    # Streamed like any turn: text, then the end, for turn 2.
    frames = await chat.wait_for_frames(
        lambda f: any(x['type'] == RUN_FINISHED for x in of_turn(f, 2)), 'turn 2'
    )
    assert streamed(of_turn(frames, 2)) == f'{LABEL} Reminder: stretch'
    assert [x['type'] for x in of_turn(frames, 2)].count(TEXT_MESSAGE_CONTENT) > 1

    # Once: the next message is the next turn, and no other reminder turn came in between.
    await chat.send('m-2', 'hello')
    after = await chat.wait_finished(3)
    assert reminder_turns(after) == [2]
    assert after.turns[2].user_text == 'hello'


async def test_a_reminder_set_before_a_continue_as_new_fires_in_the_next_run(new_chat: NewChat) -> None:
    chat = await new_chat(ALWAYS)
    await chat.send('m-1', 'remind me in 3 seconds to call Ana')
    await chat.wait_finished(1)
    first_run = chat.first_run_id
    carried = await chat.wait_for_carried(lambda s: bool(s.reminders), 'the reminder carried over')
    assert [(r.id, r.status) for r in carried.reminders] == [('r1-1', 'pending')]

    posted = await chat.wait_for(lambda s: 2 in s.finished_turns, 'the reminder turn')
    assert posted.turns[1].reply == f'{LABEL} Reminder: call Ana'
    assert await chat.run_id() != first_run


async def test_a_cancelled_reminder_never_comes(new_chat: NewChat) -> None:
    chat = await new_chat()
    await chat.send('m-1', 'remind me in 2 seconds to water the plants')
    await chat.wait_finished(1)
    cancelled = await cancel(chat, 'r1-1')
    assert (cancelled.status, cancelled.cancelled_by) == ('cancelled', 'alice')
    # A later reminder: when it has come, the cancelled one (due earlier) would have come before it.
    await chat.send('m-2', 'remind me in 4 seconds to feed the cat')
    await chat.wait_finished(2)
    posted = await chat.wait_for(lambda s: 3 in s.finished_turns, 'the second reminder')
    assert reminder_turns(posted) == [3]
    assert posted.turns[2].reply == f'{LABEL} Reminder: feed the cat'
    assert [(r.id, r.status) for r in posted.reminders] == [('r2-1', 'fired'), ('r1-1', 'cancelled')]

    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await cancel(chat, 'r1-1')
    assert refusal(twice)[1] == 'reminder r1-1 is cancelled already'
    with pytest.raises(WorkflowUpdateFailedError) as unknown:
        await cancel(chat, 'r9-9')
    assert refusal(unknown)[1] == 'no reminder r9-9'


async def test_a_remind_call_the_session_cannot_honour_is_answered_in_words(new_chat: NewChat) -> None:
    chat = await new_chat(timezone='Europe/Lisbon')
    await chat.send('m-1', 'call remind {"text": "too late", "at": "2001-01-01T09:00"}')
    done = await chat.wait_finished(1)
    assert done.turns[0].reply == (
        'remind said: No reminder was set: 2001-01-01 09:00:00 WET has passed already; choose a later time.'
    )
    assert done.reminders == [] and done.timezone == 'Europe/Lisbon'
