"""Check-ins over the real stack: one set by the assistant every 2 seconds comes as check-in turns again
and again, each once, frame by frame; listed with its next time; cancelled, it never comes again and
its Temporal Schedule is gone; closing or deleting the session deletes its schedules; a cron that
can't be is the tool's refusal; another user's session is a 404, an unknown check-in 404, a cancelled
one 409."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.testing.processes import Process
from durable_chat.workflows.offline_model import LABEL
from tests.conftest import token_for
from tests.test_reminders_api import Json
from tests.test_reminders_api import User as SessionUser

pytestmark = pytest.mark.integration


def call(**args: object) -> str:
    return f'call check_in {json.dumps(args)}'


class User(SessionUser):
    async def check_ins(self, session_id: str) -> list[Json]:
        response = await self.http.get(f'/sessions/{session_id}/check-ins')
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def user(api_url: str, worker: Process) -> AsyncIterator[User]:
    name = f'checkin-{uuid.uuid4().hex[:8]}'
    headers = {'Authorization': f'Bearer {token_for(name)}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield User(name, http, api_url)


async def schedule_exists(temporal_client: Client, schedule_id: str) -> bool:
    try:
        await temporal_client.get_schedule_handle(schedule_id).describe()
    except RPCError as error:
        assert error.status == RPCStatusCode.NOT_FOUND, error
        return False
    return True


def check_in_turns(snapshot: Json) -> list[Json]:
    return [t for t in snapshot['turns'] if t['kind'] == 'check_in']


async def test_a_check_in_comes_each_time_once_until_cancelled(
    user: User, http: httpx.AsyncClient, temporal_client: Client
) -> None:
    session_id = await user.start(timezone='Europe/Lisbon')
    client = await user.socket(session_id)
    await client.send('m-1', call(text='drink water', every_seconds=2))
    await client.wait_for(lambda: client.finished(1))
    assert client.streamed_text(1) == 'check_in said: Check-in c1-1 set, every 2 seconds: drink water'
    [listed] = await user.check_ins(session_id)
    assert {
        k: listed[k] for k in ('id', 'text', 'schedule', 'every_seconds', 'cron', 'status', 'set_in_turn')
    } == {
        'id': 'c1-1',
        'text': 'drink water',
        'schedule': 'every 2 seconds',
        'every_seconds': 2,
        'cron': '',
        'status': 'active',
        'set_in_turn': 1,
    }
    assert datetime.fromisoformat(listed['next_run']) > datetime(2000, 1, 1, tzinfo=UTC)
    assert await schedule_exists(temporal_client, listed['schedule_id'])

    # Turns 2 and 3 are check-ins: each streams once, as a turn of its own.
    await client.wait_for(lambda: client.finished(3), timeout=60)
    for turn in (2, 3):
        kinds = [(f['type'], f['step'], f['attempt']) for f in client.frames if f.get('turn') == turn]
        runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]  # token frames as one run
        assert runs == [
            ('TEXT_MESSAGE_START', 1, 1),
            ('TEXT_MESSAGE_CONTENT', 1, 1),
            ('TEXT_MESSAGE_END', 1, 1),
            ('RUN_FINISHED', 0, 1),
        ]
        assert client.streamed_text(turn).startswith('Echo: [Check-in due] The user asked you (in turn 1)')
        assert 'ask them about: drink water' in client.streamed_text(turn)
    assert client.delivery_faults() == []
    came = check_in_turns(await user.snapshot(session_id))
    assert len({t['message_id'] for t in came}) == len(came) >= 2
    assert all(t['message_id'].startswith('check_in:c1-1:') and t['user_text'] == '' for t in came)

    # Only its user (and operators) see or cancel it.
    assert (await http.get(f'/sessions/{session_id}/check-ins')).status_code == 404
    assert (await http.delete(f'/sessions/{session_id}/check-ins/c1-1')).status_code == 404

    response = await user.http.delete(f'/sessions/{session_id}/check-ins/c1-1')
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert (cancelled['status'], cancelled['cancelled_by']) == ('cancelled', user.name)
    assert not await schedule_exists(temporal_client, listed['schedule_id'])
    again = await user.http.delete(f'/sessions/{session_id}/check-ins/c1-1')
    assert (again.status_code, again.json()) == (409, {'detail': 'check-in c1-1 is cancelled already'})
    unknown = await user.http.delete(f'/sessions/{session_id}/check-ins/c9-9')
    assert (unknown.status_code, unknown.json()) == (404, {'detail': 'no check-in c9-9'})
    [shown] = await user.check_ins(session_id)
    assert (shown['status'], shown['next_run']) == ('cancelled', None)

    # None after: by the time a reminder set now has come, two more times of the check-in have passed.
    await client.send('m-after', 'remind me in 5 seconds to stop')

    def reminded() -> bool:
        held = client.frames
        return any(
            f['type'] == 'RUN_FINISHED' and 'Reminder: stop' in client.streamed_text(f['turn']) for f in held
        )

    await client.wait_for(reminded, timeout=60)
    held = await user.snapshot(session_id)
    assert len(check_in_turns(held)) == cancelled['fired']
    assert held['turns'][-1]['reply'] == f'{LABEL} Reminder: stop'
    await client.disconnect()


async def test_closing_or_deleting_the_session_deletes_its_schedules(
    user: User, temporal_client: Client
) -> None:
    schedules: dict[str, list[str]] = {}
    for way in ('close', 'delete'):
        session_id = await user.start(timezone='Asia/Tokyo')
        client = await user.socket(session_id)
        await client.send('m-1', call(text='my week', cron='0 9 * * 1'))
        await client.send('m-2', call(text='the plants', every_seconds=3600))
        await client.wait_for(lambda c=client: c.finished(2))
        await client.disconnect()
        listed = await user.check_ins(session_id)
        assert [(c['schedule'], c['status']) for c in listed] == [
            ('every Monday at 09:00 (Asia/Tokyo)', 'active'),
            ('every hour', 'active'),
        ]
        # Mondays at 9:00 in Tokyo are Mondays at 0:00 UTC.
        monday = datetime.fromisoformat(listed[0]['next_run'])
        assert (monday.weekday(), monday.hour, monday.minute) == (0, 0, 0)
        schedules[way] = [c['schedule_id'] for c in listed]
        assert all([await schedule_exists(temporal_client, s) for s in schedules[way]])

        if way == 'close':
            assert (await user.http.post(f'/sessions/{session_id}/close')).status_code == 200
            closed = await user.check_ins(session_id)
            assert [(c['status'], c['cancelled_by']) for c in closed] == [('cancelled', 'session closed')] * 2
        else:
            assert (await user.http.delete(f'/sessions/{session_id}')).status_code == 200
        assert [await schedule_exists(temporal_client, s) for s in schedules[way]] == [False, False]


async def test_a_check_in_that_cannot_be_is_the_tools_refusal(user: User) -> None:
    session_id = await user.start()
    client = await user.socket(session_id)
    await client.send('m-1', call(text='my week', cron='61 9 * * 1'))
    await client.wait_for(lambda: client.finished(1))
    assert client.streamed_text(1) == (
        "check_in said: No check-in was set: the minute field of `cron` is not valid: '61' (from 0 to 59)."
    )
    await client.send('m-2', call(text='my week', every_seconds=1))
    await client.wait_for(lambda: client.finished(2))
    assert client.streamed_text(2).endswith('`every_seconds` must be a whole number of seconds, at least 2.')
    assert await user.check_ins(session_id) == []
    await client.disconnect()
