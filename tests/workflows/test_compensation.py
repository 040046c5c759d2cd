"""Compensation: a turn that booked things and did not finish cancels its bookings, latest first,
once each, and says so: when it is interrupted, runs out of time, fails, or its session closes.

The agent is the example in examples/trip.py (served by this package's worker); its bookings are a
JSON file, which is what the tests read to know what stands and what was cancelled, and in what order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError

from durable_chat.settings import Settings
from durable_chat.workflows.compensation import COMPENSATE_TOOL_CALL
from durable_chat.workflows.contract import (
    RUN_ERROR,
    SESSION_CLOSED,
    TEXT_MESSAGE_CONTENT,
    TOOL_UNDONE,
    TURN_INTERRUPTED,
    Frame,
    SessionLimits,
    Undo,
)
from durable_chat.workflows.session import INTERRUPTED_MARKER
from examples.trip import BOOKINGS_ENV
from tests.workflows.driver import Chat, NewChat, message_texts, of_turn
from tests.workflows.test_rename_delete import closing_chat

FLIGHT = 'book_flight {"to": "Oslo", "date": "2026-12-01"}'
HOTEL = 'book_hotel {"city": "Oslo", "nights": 2}'
BOOK_BOTH_THEN_TALK = f'tools {FLIGHT}; {HOTEL} then slow 300'
"""Books the flight, then the hotel, then streams 12 s of text: still running when the test stops it."""


@pytest.fixture
def bookings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example's booking system for this test (its tools run in this process's worker)."""
    path = tmp_path / 'bookings.json'
    monkeypatch.setenv(BOOKINGS_ENV, str(path))
    return path


def booked(path: Path) -> list[dict[str, object]]:
    return sorted(json.loads(path.read_text()).values(), key=lambda b: int(str(b['number'])))


async def talking_after_booking(chat: Chat, turn: int = 1) -> None:
    def talking(frames: list[Frame]) -> bool:
        return any(f['type'] == TEXT_MESSAGE_CONTENT for f in of_turn(frames, turn))

    await chat.wait_for_frames(talking, f'turn {turn} to talk after its bookings')


async def undo_activities(chat: Chat) -> int:
    """Undo activities scheduled in the session's first run (these turns all run in it)."""
    history = await chat.client.get_workflow_handle(chat.handle.id, run_id=chat.first_run_id).fetch_history()
    return sum(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == COMPENSATE_TOOL_CALL
        for e in history.events
    )


def undo_frames(frames: list[Frame], turn: int) -> list[Frame]:
    return [f for f in of_turn(frames, turn) if f['type'] == TOOL_UNDONE]


async def test_an_interrupted_turn_cancels_its_bookings_latest_first_once(
    new_chat: NewChat, bookings: Path
) -> None:
    chat = await new_chat(SessionLimits(max_run_growth_bytes=1), agent='trip')
    await chat.send('m-1', BOOK_BOTH_THEN_TALK)
    await talking_after_booking(chat)
    assert [b['status'] for b in booked(bookings)] == ['booked', 'booked']

    await chat.interrupt(by='alice')

    done = await chat.wait_finished(1)
    [turn] = done.turns
    assert turn.status == 'interrupted'
    assert [(u.tool_name, u.status, u.text) for u in turn.undone] == [
        ('book_hotel', 'undone', 'Cancelled hotel booking #2.'),
        ('book_flight', 'undone', 'Cancelled flight booking #1.'),
    ]
    flight, hotel = booked(bookings)
    assert (hotel['status'], hotel['cancelled_order']) == ('cancelled', 1)
    assert (flight['status'], flight['cancelled_order']) == ('cancelled', 2)
    # Frame by frame: the turn stops first (the user's Stop is not kept waiting), then each undo once.
    frames = await chat.read_stream()
    turn_frames = of_turn(frames, 1)
    stopped = next(i for i, f in enumerate(turn_frames) if f['type'] == TURN_INTERRUPTED)
    undos = undo_frames(frames, 1)
    assert [(f['tool_name'], f['status'], f['step'], f['attempt']) for f in undos] == [
        ('book_hotel', 'undone', 0, 1),
        ('book_flight', 'undone', 0, 1),
    ]
    assert all(turn_frames.index(f) > stopped for f in undos)
    assert [f['id'] for f in undos] == [u.tool_call_id for u in turn.undone]
    assert await undo_activities(chat) == 2
    # The model is told the answer was cut off, and what was undone.
    carried = await chat.wait_for_carried(lambda s: len(s.messages) >= 2, 'a run started after turn 1')
    last_text = message_texts(carried.messages)[-1][1]
    assert last_text.endswith(
        f'{INTERRUPTED_MARKER}\n[Cancelled hotel booking #2.]\n[Cancelled flight booking #1.]'
    )


async def test_a_turn_stopped_by_its_time_budget_cancels_what_it_booked(
    new_chat: NewChat, bookings: Path
) -> None:
    chat = await new_chat(SessionLimits(turn_seconds=3), agent='trip')
    await chat.send('m-1', f'tools {FLIGHT} then drip 30')

    done = await chat.wait_finished(1)

    [turn] = done.turns
    assert turn.status == 'interrupted' and turn.note.startswith('Stopped')
    assert [(u.tool_name, u.status) for u in turn.undone] == [('book_flight', 'undone')]
    assert [b['status'] for b in booked(bookings)] == ['cancelled']


async def test_a_failed_turn_cancels_what_it_booked_after_saying_it_failed(
    new_chat: NewChat, bookings: Path
) -> None:
    chat = await new_chat(agent='trip')
    await chat.send('m-1', f'tools {FLIGHT}; {HOTEL} then rejected')

    done = await chat.wait_finished(1)

    [turn] = done.turns
    assert turn.status == 'failed'
    assert [u.tool_name for u in turn.undone] == ['book_hotel', 'book_flight']
    assert {b['status'] for b in booked(bookings)} == {'cancelled'}
    kinds = [f['type'] for f in of_turn(await chat.read_stream(), 1) if f['step'] == 0]
    assert kinds == [RUN_ERROR, TOOL_UNDONE, TOOL_UNDONE]


async def test_what_cannot_be_undone_is_said_and_the_rest_is_still_undone(
    new_chat: NewChat, bookings: Path
) -> None:
    chat = await new_chat(agent='trip')
    no_refund = 'book_flight {"to": "Oslo", "date": "2026-12-01", "refundable": false}'
    await chat.send('m-1', f'tools {no_refund}; {HOTEL} then slow 300')
    await talking_after_booking(chat)

    await chat.interrupt()

    [turn] = (await chat.wait_finished(1)).turns
    assert [(u.tool_name, u.status, u.text) for u in turn.undone] == [
        ('book_hotel', 'undone', 'Cancelled hotel booking #2.'),
        ('book_flight', 'failed', 'Could not undo book_flight: flight booking #1 is non-refundable'),
    ]
    assert [b['status'] for b in booked(bookings)] == ['booked', 'cancelled']
    assert await undo_activities(chat) == 2  # a non-refundable fare is not asked twice


async def test_closing_the_session_mid_turn_cancels_the_bookings(
    client: Client, settings: Settings, workers: None, redis: aioredis.Redis, bookings: Path
) -> None:
    chat = await closing_chat(client, settings, redis, agent='trip')
    await chat.send('m-1', BOOK_BOTH_THEN_TALK)
    await talking_after_booking(chat)

    await chat.handle.cancel()  # how the API closes a session

    with pytest.raises(WorkflowFailureError):
        await chat.handle.result()
    assert [b['status'] for b in booked(bookings)] == ['cancelled', 'cancelled']
    frames = await chat.read_stream()
    assert [f['tool_name'] for f in undo_frames(frames, 1)] == ['book_hotel', 'book_flight']
    assert frames[-1]['type'] == SESSION_CLOSED  # the undos come before the session says it closed
    assert await undo_activities(chat) == 2


async def test_a_finished_turn_undoes_nothing(new_chat: NewChat, bookings: Path) -> None:
    chat = await new_chat(agent='trip')
    await chat.send('m-1', f'tools {FLIGHT} then hello')

    [turn] = (await chat.wait_finished(1)).turns

    assert (turn.status, turn.undone) == ('done', list[Undo]())
    assert [b['status'] for b in booked(bookings)] == ['booked']
    assert await undo_activities(chat) == 0
