"""Reminders and double-texting over the real stack: a reminder set by the assistant arrives once as a
reminder turn, listed pending then fired; a cancelled one never comes; a session's time zone and
double-texting policy are chosen at creation, the policy changed later; each policy over REST and the
websocket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from durable_chat.api.chat_sessions import BUSY
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from durable_chat.workflows.offline_model import LABEL
from tests.conftest import token_for
from tests.rollover import eventually

pytestmark = pytest.mark.integration

Json = dict[str, Any]


class User:
    def __init__(self, name: str, http: httpx.AsyncClient, api_url: str) -> None:
        self.name, self.http, self.api_url = name, http, api_url

    async def start(self, **options: str) -> str:
        response = await self.http.post('/sessions', json=options)
        assert response.status_code == 201, response.text
        return response.json()['session_id']

    async def socket(self, session_id: str) -> ChatClient:
        return await ChatClient(self.api_url, session_id, token_for(self.name)).connect()

    async def snapshot(self, session_id: str) -> Json:
        response = await self.http.get(f'/sessions/{session_id}')
        assert response.status_code == 200, response.text
        return response.json()

    async def reminders(self, session_id: str) -> list[Json]:
        response = await self.http.get(f'/sessions/{session_id}/reminders')
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, session_id: str, message_id: str, text: str) -> httpx.Response:
        return await self.http.post(f'/sessions/{session_id}/messages', json={'id': message_id, 'text': text})

    async def statuses(self, session_id: str) -> list[str]:
        return [t['status'] for t in (await self.snapshot(session_id))['turns']]


@pytest.fixture
async def user(api_url: str, worker: Process) -> AsyncIterator[User]:
    """A user of this test alone."""
    name = f'remind-{uuid.uuid4().hex[:8]}'
    headers = {'Authorization': f'Bearer {token_for(name)}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield User(name, http, api_url)


@pytest.fixture
async def operator(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {'Authorization': f'Bearer {token_for("olga", "operator")}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield http


def reminder_turns(snapshot: Json) -> list[tuple[int, str]]:
    return [(t['number'], t['reply']) for t in snapshot['turns'] if t['kind'] == 'reminder']


async def test_a_reminder_arrives_once_as_a_turn_of_its_own(user: User) -> None:
    session_id = await user.start(timezone='Europe/Lisbon')
    client = await user.socket(session_id)
    await client.send('m-1', 'remind me in 3 seconds to stretch')
    await client.wait_for(lambda: client.finished(1))
    assert client.streamed_text(1).startswith(f'{LABEL} Reminder r1-1 set for ')
    # Said in the session's time zone (Lisbon is WET or WEST).
    assert client.streamed_text(1).endswith((' WET: stretch.', ' WEST: stretch.'))
    [pending] = await user.reminders(session_id)
    assert {k: pending[k] for k in ('id', 'text', 'set_in_turn', 'status', 'fired_turn')} == {
        'id': 'r1-1',
        'text': 'stretch',
        'set_in_turn': 1,
        'status': 'pending',
        'fired_turn': 0,
    }
    assert pending['due'].endswith('+00:00')  # UTC

    await client.wait_for(lambda: client.finished(2))
    # The reminder turn streams like any turn: the text of its model step, then its end.
    frames = [f for f in client.frames if f.get('turn') == 2]
    kinds = [(f['type'], f['step'], f['attempt']) for f in frames]
    runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]  # token frames as one run
    assert runs == [
        ('TEXT_MESSAGE_START', 1, 1),
        ('TEXT_MESSAGE_CONTENT', 1, 1),
        ('TEXT_MESSAGE_END', 1, 1),
        ('RUN_FINISHED', 0, 1),
    ]
    assert kinds.count(('TEXT_MESSAGE_CONTENT', 1, 1)) > 1  # streamed token by token
    assert client.streamed_text(2) == f'{LABEL} Reminder: stretch'
    assert [f['type'] for f in client.frames if f.get('turn') == 1][-1] == 'RUN_FINISHED'

    held = await user.snapshot(session_id)
    turn = held['turns'][1]
    assert (turn['kind'], turn['user_text'], turn['message_id'], turn['status']) == (
        'reminder',
        '',
        'reminder:r1-1',
        'done',
    )
    [fired] = await user.reminders(session_id)
    assert (fired['id'], fired['status'], fired['fired_turn']) == ('r1-1', 'fired', 2)
    assert (held['timezone'], held['reminders']) == ('Europe/Lisbon', [fired])

    # Once: the next message is the next turn, with no other reminder turn before it.
    await client.send('m-2', 'hello')
    await client.wait_for(lambda: client.finished(3))
    assert reminder_turns(await user.snapshot(session_id)) == [(2, f'{LABEL} Reminder: stretch')]
    assert len(client.of_type('RUN_FINISHED', 2)) == 1 and client.delivery_faults() == []
    await client.disconnect()


async def test_a_cancelled_reminder_never_comes(
    user: User, operator: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    session_id = await user.start()
    client = await user.socket(session_id)
    await client.send('m-1', 'remind me in 8 seconds to water the plants')
    await client.wait_for(lambda: client.finished(1))

    # Only its user and operators see or cancel it.
    assert (await http.get(f'/sessions/{session_id}/reminders')).status_code == 404
    assert (await http.delete(f'/sessions/{session_id}/reminders/r1-1')).status_code == 404
    seen = await operator.get(f'/sessions/{session_id}/reminders')
    assert [(r['id'], r['status']) for r in seen.json()] == [('r1-1', 'pending')]

    response = await user.http.delete(f'/sessions/{session_id}/reminders/r1-1')
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert (cancelled['id'], cancelled['status'], cancelled['cancelled_by']) == (
        'r1-1',
        'cancelled',
        user.name,
    )
    again = await user.http.delete(f'/sessions/{session_id}/reminders/r1-1')
    assert (again.status_code, again.json()) == (409, {'detail': 'reminder r1-1 is cancelled already'})
    unknown = await user.http.delete(f'/sessions/{session_id}/reminders/r9-9')
    assert (unknown.status_code, unknown.json()) == (404, {'detail': 'no reminder r9-9'})

    # A later reminder: by the time it has come, the cancelled one (due earlier) would have come.
    await client.send('m-2', 'remind me in 8 seconds to feed the cat')
    await client.wait_for(lambda: client.finished(3), timeout=60)
    held = await user.snapshot(session_id)
    assert reminder_turns(held) == [(3, f'{LABEL} Reminder: feed the cat')]
    assert [(r['id'], r['status']) for r in await user.reminders(session_id)] == [
        ('r2-1', 'fired'),
        ('r1-1', 'cancelled'),
    ]
    fired = await user.http.delete(f'/sessions/{session_id}/reminders/r2-1')
    assert (fired.status_code, fired.json()) == (409, {'detail': 'reminder r2-1 is fired already'})
    await client.disconnect()


async def test_time_zone_and_policy_are_chosen_at_creation_and_checked(user: User) -> None:
    for timezone in ('Mars/Olympus', 'europe/lisbon', '../etc/passwd'):
        refused = await user.http.post('/sessions', json={'timezone': timezone})
        assert refused.status_code == 422, refused.text
        assert refused.json()['detail'] == (
            f'{timezone!r} is not a time zone: give an IANA name such as Europe/Lisbon (or leave it out for UTC)'
        )
    bad_policy = await user.http.post('/sessions', json={'double_texting': 'shout'})
    assert bad_policy.status_code == 422

    plain = await user.snapshot(await user.start())
    assert (plain['timezone'], plain['double_texting'], plain['reminders']) == ('', 'enqueue', [])
    chosen = await user.snapshot(await user.start(timezone='America/Sao_Paulo', double_texting='reject'))
    assert (chosen['timezone'], chosen['double_texting']) == ('America/Sao_Paulo', 'reject')


async def test_patch_changes_the_policy(user: User, operator: httpx.AsyncClient) -> None:
    session_id = await user.start()
    response = await user.http.patch(f'/sessions/{session_id}', json={'double_texting': 'reject'})
    assert (response.status_code, response.json()) == (
        200,
        {'session_id': session_id, 'double_texting': 'reject'},
    )
    assert (await user.snapshot(session_id))['double_texting'] == 'reject'

    both = await user.http.patch(
        f'/sessions/{session_id}', json={'double_texting': 'interrupt', 'title': 'Both'}
    )
    assert both.json() == {'session_id': session_id, 'title': 'Both', 'double_texting': 'interrupt'}
    by_operator = await operator.patch(f'/sessions/{session_id}', json={'double_texting': 'enqueue'})
    assert by_operator.json() == {'session_id': session_id, 'double_texting': 'enqueue'}

    for body in ({'double_texting': 'shout'}, {}, {'title': None, 'double_texting': None}):
        assert (await user.http.patch(f'/sessions/{session_id}', json=body)).status_code == 422
    held = await user.snapshot(session_id)
    assert (held['title'], held['double_texting']) == ('Both', 'enqueue')


async def running(client: ChatClient, turn: int) -> None:
    await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', turn))


async def test_enqueue_answers_a_message_sent_meanwhile_next(user: User) -> None:
    session_id = await user.start(double_texting='enqueue')
    client = await user.socket(session_id)
    await client.send('m-1', 'slow 300')
    await running(client, 1)
    await client.send('m-2', 'by socket')
    await client.wait_for(lambda: any(f.get('id') == 'm-2' for f in client.of_type('ACK')))
    assert (await user.post(session_id, 'm-3', 'by REST')).status_code == 202
    assert await user.statuses(session_id) == ['running', 'queued', 'queued']
    # Stopped by hand (not by the messages): the queued ones are answered in order.
    assert (await user.http.post(f'/sessions/{session_id}/interrupt')).status_code == 200
    await client.wait_for(lambda: client.finished(3))
    assert await user.statuses(session_id) == ['interrupted', 'done', 'done']
    assert client.of_type('TURN_INTERRUPTED', 1)[0]['by'] == user.name
    await client.disconnect()


async def test_interrupt_stops_the_running_reply_and_answers_the_new_message(user: User) -> None:
    session_id = await user.start(double_texting='interrupt')
    client = await user.socket(session_id)
    await client.send('m-1', 'slow 300')
    await running(client, 1)
    await client.send('m-2', 'hello by socket')
    await client.wait_for(lambda: client.finished(2))
    assert len(client.of_type('TURN_INTERRUPTED', 1)) == 1
    assert client.of_type('TURN_INTERRUPTED', 1)[0]['by'] == user.name

    await client.send('m-3', 'slow 300')
    await running(client, 3)
    assert (await user.post(session_id, 'm-4', 'hello by REST')).status_code == 202
    await client.wait_for(lambda: client.finished(4))
    held = await user.snapshot(session_id)
    assert [(t['status'], t['user_text']) for t in held['turns']] == [
        ('interrupted', 'slow 300'),
        ('done', 'hello by socket'),
        ('interrupted', 'slow 300'),
        ('done', 'hello by REST'),
    ]
    assert held['turns'][0]['reply'].startswith('w1 ') and client.delivery_faults() == []
    await client.disconnect()


async def test_reject_refuses_a_message_while_a_reply_is_written(user: User) -> None:
    session_id = await user.start(double_texting='reject')
    client = await user.socket(session_id)
    await client.send('m-1', 'slow 300')
    await running(client, 1)

    refused = await user.post(session_id, 'm-2', 'by REST')
    assert (refused.status_code, refused.json()) == (409, {'detail': BUSY})
    await client.send('m-3', 'by socket')
    error = await client.wait_for(lambda: client.of_type('ERROR'))
    assert error == [{'type': 'ERROR', 'status': 409, 'reason': BUSY, 'id': 'm-3'}]
    # The message that is the running turn, sent again, is not refused: it is that turn.
    assert (await user.post(session_id, 'm-1', 'slow 300')).status_code == 202
    assert await user.statuses(session_id) == ['running']

    assert (await user.http.post(f'/sessions/{session_id}/interrupt')).status_code == 200
    await client.wait_for(lambda: client.of_type('TURN_INTERRUPTED', 1))
    await eventually(lambda: user.statuses(session_id), ['interrupted'])
    # Idle again: a message is answered; the refused ones never made turns.
    assert (await user.post(session_id, 'm-4', 'hello')).status_code == 202
    await client.wait_for(lambda: client.finished(2))
    held = await user.snapshot(session_id)
    assert [(t['message_id'], t['status']) for t in held['turns']] == [
        ('m-1', 'interrupted'),
        ('m-4', 'done'),
    ]

    # Changed to enqueue: a message while a reply is written queues again.
    assert (
        await user.http.patch(f'/sessions/{session_id}', json={'double_texting': 'enqueue'})
    ).status_code == 200
    await client.send('m-5', 'slow 300')
    await running(client, 3)
    assert (await user.post(session_id, 'm-6', 'queued')).status_code == 202
    assert await user.statuses(session_id) == ['interrupted', 'done', 'running', 'queued']
    assert (
        await user.http.post(f'/sessions/{session_id}/interrupt', json={'drop_queued': True})
    ).status_code == 200
    await client.disconnect()
