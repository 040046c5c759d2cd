"""Compensation on the real stack: the example trip agent books a flight and a hotel, the user stops
the reply, and the session cancels both, hotel first, once each; also when the worker running the
undo is SIGKILLed right after it cancelled. The page says what was undone."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.stack import Stack
from durable_chat.workflows.compensation import COMPENSATE_TOOL_CALL
from durable_chat.workflows.contract import workflow_id
from tests.browser import browser, page, sign_in
from tests.conftest import SECRET
from tests.test_agents import eventually, http

pytestmark = pytest.mark.integration
__all__ = ['browser', 'http', 'page']  # fixtures: the page's (tests/browser.py), the API client's

REPO = Path(__file__).parent.parent
FLIGHT = 'book_flight {"to": "Oslo", "date": "2026-12-01"}'
HOTEL = 'book_hotel {"city": "Oslo", "nights": 2}'
BOOK_BOTH_THEN_TALK = f'tools {FLIGHT}; {HOTEL} then slow 300'


@pytest.fixture(scope='module')
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp('compensation-stack')
    settings = {
        'DURABLE_CHAT_AGENTS_MODULE': 'tests.workflows.shop_agents',
        'PYTHONPATH': str(REPO),
        'SHOP_LEDGER': str(folder / 'ledger.json'),
        'TRIP_BOOKINGS': str(folder / 'bookings.json'),
        'TRIP_CRASH_AFTER_CANCEL': str(folder / 'crashed-once'),
    }
    stack = Stack(folder / 'stack', secret=SECRET, settings=settings).start(apis=[{}])
    yield stack
    stack.stop()


def bookings_of(stack: Stack, session_id: str) -> list[dict[str, object]]:
    booked = json.loads((stack.folder.parent / 'bookings.json').read_text())
    mine = [b for key, b in booked.items() if key.startswith(f'{session_id}:')]
    return sorted(mine, key=lambda b: int(str(b['number'])))


async def book_both_and_stop(http: httpx.AsyncClient, stack: Stack) -> ChatClient:
    created = (await http.post('/sessions', json={'agent': 'trip'})).json()
    chat = await ChatClient(stack.apis[0].url, created['session_id'], stack.token('ana')).connect()
    await chat.send('m-1', BOOK_BOTH_THEN_TALK)
    await chat.wait_for(lambda: chat.of_type('TEXT_MESSAGE_CONTENT', 1))
    assert (await http.post(f'/sessions/{chat.session_id}/interrupt', json={})).status_code == 200
    return chat


async def undo_attempts(stack: Stack, session_id: str) -> list[int]:
    """Each undo activity of the session's history, by the attempt that completed it."""
    temporal = await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)
    events = [e async for e in temporal.get_workflow_handle(workflow_id(session_id)).fetch_history_events()]
    scheduled = {
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == COMPENSATE_TOOL_CALL
    }
    return [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


async def test_a_stopped_turn_cancels_its_bookings_hotel_first_once_each_frame_by_frame(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    (stack.folder.parent / 'crashed-once').touch()  # no crash in this test
    chat = await book_both_and_stop(http, stack)

    await chat.wait_for(lambda: len(chat.of_type('TOOL_UNDONE', 1)) == 2)

    frames = [f for f in chat.frames if f.get('turn') == 1]
    kinds = [f['type'] for f in frames]
    assert kinds.count('TURN_INTERRUPTED') == 1 and kinds.index('TURN_INTERRUPTED') < kinds.index(
        'TOOL_UNDONE'
    )
    calls = {f['toolCallId']: f['toolCallName'] for f in chat.of_type('TOOL_CALL_START', 1)}
    undos = chat.of_type('TOOL_UNDONE', 1)
    assert [(calls[f['id']], f['status'], f['step'], f['attempt']) for f in undos] == [
        ('book_hotel', 'undone', 0, 1),
        ('book_flight', 'undone', 0, 1),
    ]
    assert chat.delivery_faults() == []
    [turn] = (await http.get(f'/sessions/{chat.session_id}')).json()['turns']
    assert turn['status'] == 'interrupted'
    assert [u['text'] for u in turn['undone']] == [
        'Cancelled hotel booking #2.',
        'Cancelled flight booking #1.',
    ]
    flight, hotel = bookings_of(stack, chat.session_id)
    assert (hotel['status'], flight['status']) == ('cancelled', 'cancelled')
    assert int(str(flight['cancelled_order'])) == int(str(hotel['cancelled_order'])) + 1  # hotel first
    assert await undo_attempts(stack, chat.session_id) == [1, 1]
    await chat.disconnect()


async def test_a_worker_killed_right_after_it_cancelled_a_booking_cancels_nothing_twice(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    crashed = stack.folder.parent / 'crashed-once'
    crashed.unlink(missing_ok=True)
    stack.workers.ensure_one()
    chat = await book_both_and_stop(http, stack)

    async def crashed_once() -> bool:
        return crashed.exists()

    # The hotel is cancelled, then its worker dies before Temporal hears of it: the undo activity
    # runs again on a new worker, with the same key, and the booking system cancels nothing twice.
    await eventually(crashed_once, 'the hotel to be cancelled and its worker to die')
    stack.workers.start()
    await chat.wait_for(lambda: len(chat.of_type('TOOL_UNDONE', 1)) == 2, timeout=90)

    assert [f['status'] for f in chat.of_type('TOOL_UNDONE', 1)] == ['undone', 'undone']
    assert chat.delivery_faults() == []
    flight, hotel = bookings_of(stack, chat.session_id)
    assert (hotel['status'], flight['status']) == ('cancelled', 'cancelled')
    assert int(str(flight['cancelled_order'])) == int(str(hotel['cancelled_order'])) + 1  # hotel first
    assert await undo_attempts(stack, chat.session_id) == [2, 1]  # the hotel's undo retried once
    [turn] = (await http.get(f'/sessions/{chat.session_id}')).json()['turns']
    assert [u['tool_name'] for u in turn['undone']] == ['book_hotel', 'book_flight']
    await chat.disconnect()


async def test_the_page_says_what_was_undone(http: httpx.AsyncClient, stack: Stack, page: Page) -> None:
    (stack.folder.parent / 'crashed-once').touch()
    chat = await book_both_and_stop(http, stack)
    await chat.wait_for(lambda: len(chat.of_type('TOOL_UNDONE', 1)) == 2)
    await chat.disconnect()

    await sign_in(page, stack.apis[0].url, 'ana')
    await page.goto(f'{stack.apis[0].url}/#/s/{chat.session_id}')

    undone = page.get_by_role('list', name='Undone because the reply did not finish')
    await expect(undone.get_by_role('listitem')).to_have_text(
        [
            re.compile(r'^Undone: Cancelled hotel booking #\d+\.$'),
            re.compile(r'^Undone: Cancelled flight booking #\d+\.$'),
        ]
    )
