"""Check-ins: the agent's `check_in` call makes a Temporal Schedule (by an activity of the session);
at each of its times the schedule's `CheckInDue` run signals the session, which posts a check-in turn
(no user message) once per time, also in a run continued as new. Cancelling one, or closing the
session, deletes its schedule; a session gone without closing has its schedules delete themselves."""

from __future__ import annotations

import json

import pytest
from temporalio.client import Client, ScheduleDescription, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.workflows.check_ins import MAX_ACTIVE
from durable_chat.workflows.contract import (
    SIGNAL_CHECK_IN,
    UPDATE_CANCEL_CHECK_IN,
    CancelCheckIn,
    CheckIn,
    CheckInCame,
    SessionLimits,
    Snapshot,
)
from durable_chat.workflows.offline_model import check_in_call
from tests.workflows.driver import Chat, NewChat, eventually, refusal

ALWAYS = SessionLimits(max_run_growth_bytes=1)
"""A session that continues as new after every turn it can."""
NEVER_DURING_A_TEST = '0 9 1 1 *'
"""A cron (9:00 on January 1st) that does not come while a test runs: a check-in held, never fired."""


def call(**args: object) -> str:
    return f'call check_in {json.dumps(args)}'


def check_in_turns(snapshot: Snapshot) -> list[str]:
    return [t.message_id for t in snapshot.turns if t.kind == 'check_in']


async def cancel(chat: Chat, check_in_id: str) -> CheckIn:
    request = CancelCheckIn(check_in_id, by='alice')
    return await chat.handle.execute_update(UPDATE_CANCEL_CHECK_IN, request, result_type=CheckIn)


async def schedule(client: Client, schedule_id: str) -> ScheduleDescription | None:
    """The schedule as Temporal holds it, or None once it is deleted."""
    try:
        return await client.get_schedule_handle(schedule_id).describe()
    except RPCError as error:
        assert error.status == RPCStatusCode.NOT_FOUND, error
        return None


async def gone(client: Client, schedule_id: str) -> bool | None:
    return True if await schedule(client, schedule_id) is None else None


async def close(chat: Chat) -> None:
    """As `POST /close` does: cancels the session and waits for it to end."""
    await chat.handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await chat.handle.result()


async def test_a_check_in_comes_at_each_of_its_times_once_until_cancelled(
    new_chat: NewChat, client: Client
) -> None:
    chat = await new_chat(timezone='Europe/Lisbon')
    await chat.send('m-1', call(text='drink water', every_seconds=2))
    set_up = await chat.wait_finished(1)
    assert set_up.turns[0].reply == 'check_in said: Check-in c1-1 set, every 2 seconds: drink water'
    [held] = set_up.check_ins
    assert (held.id, held.text, held.status, held.every_seconds, held.cron) == (
        'c1-1',
        'drink water',
        'active',
        2,
        '',
    )
    made = await schedule(client, held.schedule_id)
    assert made is not None and held.schedule_id == f'checkin-{chat.session_id}-c1-1'
    assert [i.every.total_seconds() for i in made.schedule.spec.intervals] == [2.0]

    # A message whose reply outlasts a few times: check-ins wait behind it (one at a time), never cut it.
    await chat.send('m-2', 'slow 100')
    fired = await chat.wait_for(
        lambda s: len(check_in_turns(s)) >= 3 and s.status == 'idle', 'three check-ins'
    )
    assert next(t for t in fired.turns if t.message_id == 'm-2').status == 'done'
    turns = [t for t in fired.turns if t.kind == 'check_in']
    assert len({t.message_id for t in turns}) == len(turns)  # each time once
    for turn in turns:
        assert turn.message_id.startswith('check_in:c1-1:') and turn.user_text == ''
        assert turn.reply.startswith('Echo: [Check-in due] The user asked you (in turn 1) to check in with')
        assert turn.reply.endswith('ask them about: drink water\nWrite the check-in to the user, briefly.')

    cancelled = await cancel(chat, 'c1-1')
    assert (cancelled.status, cancelled.cancelled_by) == ('cancelled', 'alice')
    assert await schedule(client, held.schedule_id) is None  # deleted in Temporal
    # Proof that none comes after: a reminder set now, due later than two more times of the check-in.
    await chat.send('m-after', 'remind me in 5 seconds to stop')
    after = await chat.wait_for(lambda s: any(t.kind == 'reminder' for t in s.turns), 'the reminder')
    assert len(check_in_turns(after)) == cancelled.fired
    assert after.check_ins[0].status == 'cancelled'

    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await cancel(chat, 'c1-1')
    assert refusal(twice)[1] == 'check-in c1-1 is cancelled already'
    with pytest.raises(WorkflowUpdateFailedError) as unknown:
        await cancel(chat, 'c9-9')
    assert refusal(unknown)[1] == 'no check-in c9-9'


async def test_each_scheduled_time_is_one_turn_and_a_cancelled_check_ins_signal_is_ignored(
    new_chat: NewChat, client: Client
) -> None:
    chat = await new_chat()
    await chat.send('m-1', call(text='my week', cron=NEVER_DURING_A_TEST))
    [held] = (await chat.wait_finished(1)).check_ins
    assert held.schedule == 'on the cron schedule 0 9 1 1 * (UTC)'

    # A time delivered twice (as a retried signal would be) is one turn.
    came = CheckInCame(held.id, '2026-01-01T09:00:00+00:00')
    await chat.handle.signal(SIGNAL_CHECK_IN, came)
    await chat.handle.signal(SIGNAL_CHECK_IN, came)
    await chat.handle.signal(SIGNAL_CHECK_IN, CheckInCame('c9-9', came.due))  # no such check-in
    done = await chat.wait_finished(2)
    assert check_in_turns(done) == [f'check_in:{held.id}:{came.due}']
    assert [(c.fired, c.last_fired_turn) for c in done.check_ins] == [(1, 2)]
    assert 'It is Thursday 2026-01-01 09:00 UTC now; ask them about: my week' in done.turns[1].reply

    await cancel(chat, held.id)
    await chat.handle.signal(SIGNAL_CHECK_IN, CheckInCame(held.id, '2027-01-01T09:00:00+00:00'))
    await chat.send('m-3', 'hello')
    after = await chat.wait_finished(3)
    assert [t.kind for t in after.turns] == ['message', 'check_in', 'message']


async def test_a_check_in_set_before_a_continue_as_new_comes_in_the_next_runs(new_chat: NewChat) -> None:
    chat = await new_chat(ALWAYS)
    await chat.send('m-1', call(text='stretch', every_seconds=2))
    await chat.wait_finished(1)
    carried = await chat.wait_for_carried(lambda s: bool(s.check_ins), 'the check-in carried over')
    assert [(c.id, c.status) for c in carried.check_ins] == [('c1-1', 'active')]
    fired = await chat.wait_for(lambda s: len(check_in_turns(s)) >= 2 and s.status == 'idle', 'two check-ins')
    assert await chat.run_id() != chat.first_run_id
    assert all(t.status == 'done' for t in fired.turns)
    await close(chat)


async def test_closing_the_session_deletes_its_schedules(new_chat: NewChat, client: Client) -> None:
    chat = await new_chat(timezone='Asia/Tokyo')
    await chat.send('m-1', call(text='my week', cron='0 9 * * 1'))
    await chat.send('m-2', call(text='the plants', every_seconds=3600))
    held = (await chat.wait_finished(1, 2)).check_ins
    assert [(c.id, c.schedule) for c in held] == [
        ('c1-1', 'every Monday at 09:00 (Asia/Tokyo)'),
        ('c2-1', 'every hour'),
    ]
    monday = await schedule(client, held[0].schedule_id)
    assert monday is not None and monday.schedule.spec.time_zone_name == 'Asia/Tokyo'
    assert all(t.weekday() == 0 and t.hour == 0 for t in monday.info.next_action_times)  # 9:00 in Tokyo

    await close(chat)
    for check_in in held:
        assert await schedule(client, check_in.schedule_id) is None
    closed = await chat.snapshot()
    assert [(c.status, c.cancelled_by) for c in closed.check_ins] == [('cancelled', 'session closed')] * 2


async def test_a_session_gone_without_closing_has_its_schedule_delete_itself(
    new_chat: NewChat, client: Client
) -> None:
    chat = await new_chat()
    await chat.send('m-1', call(text='posture', every_seconds=2))
    [held] = (await chat.wait_finished(1)).check_ins
    await chat.handle.terminate('gone without a close')  # its close never ran
    # The next time's run finds nobody to signal and deletes the schedule.
    assert await eventually(lambda: gone(client, held.schedule_id), 'the schedule to delete itself')


async def test_check_ins_the_session_cannot_honour_are_answered_in_words(new_chat: NewChat) -> None:
    chat = await new_chat()
    refusals = [
        (call(text='x', cron='0 99 * * 1'), "the hour field of `cron` is not valid: '99' (from 0 to 23)."),
        (
            call(text='x', cron='0 9 * *'),
            "`cron` needs 5 fields (minute hour day-of-month month day-of-week), not 4: '0 9 * *'.",
        ),
        (call(text='x', every_seconds=1), '`every_seconds` must be a whole number of seconds, at least 2.'),
        (call(text='x', every_seconds=5, cron='* * * * *'), 'Give exactly one of `every_seconds` or `cron`.'),
        (call(text=' ', every_seconds=5), 'Give the check-in a text: what to ask the user about.'),
    ]
    for number, (text, reason) in enumerate(refusals, start=1):
        await chat.send(f'm-{number}', text)
        done = await chat.wait_finished(number)
        assert done.turns[-1].reply == f'check_in said: No check-in was set: {reason}'
    assert (await chat.snapshot()).check_ins == []

    # At most MAX_ACTIVE active at once.
    first = len(refusals) + 1
    for number in range(first, first + MAX_ACTIVE + 1):
        await chat.send(f'm-{number}', call(text=f'thing {number}', cron=NEVER_DURING_A_TEST))
    capped = await chat.wait_finished(first + MAX_ACTIVE)
    assert capped.turns[-1].reply == (
        f'check_in said: No check-in was set: a chat may hold at most {MAX_ACTIVE} check-ins; cancel one first.'
    )
    assert len(capped.check_ins) == MAX_ACTIVE
    await close(chat)


def test_the_offline_assistant_sets_check_ins_in_words() -> None:
    assert check_in_call('every Monday at 9 ask me about my week') == (
        'check_in',
        {'cron': '0 9 * * 1', 'text': 'my week'},
    )
    assert check_in_call('check in every 2 seconds about my water') == (
        'check_in',
        {'every_seconds': 2, 'text': 'my water'},
    )
    assert check_in_call('every weekday at 6:30pm check in with me about the gym.') == (
        'check_in',
        {'cron': '30 18 * * 1-5', 'text': 'the gym'},
    )
    assert check_in_call('remind me in 2 seconds to stretch') is None
