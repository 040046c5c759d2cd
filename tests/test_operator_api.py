"""The operator console's backend on the real stack: one queue of the pending approvals of every
user's sessions, and the live figures an API measures itself (also on /metrics)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from durable_chat.api.auth import Role
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.services import api
from durable_chat.testing.stack import Workers
from tests.conftest import token_for
from tests.test_approval import eventually

pytestmark = pytest.mark.integration

_T = TypeVar('_T')
SERIES = ('active_sessions', 'turns_per_minute', 'first_token_p50_ms', 'first_token_p95_ms', 'errors')


def client_of(url: str, user: str, role: Role = 'user') -> httpx.AsyncClient:
    token = token_for(user, role)
    return httpx.AsyncClient(base_url=url, timeout=60, headers={'Authorization': f'Bearer {token}'})


@pytest.fixture
async def operator(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(api_url, 'otto', 'operator') as http:
        yield http


async def ask_to_forget(url: str, user: str, fact: str) -> tuple[str, dict[str, Any]]:
    """A session of `user` whose second turn waits for approval to forget `fact`."""
    async with client_of(url, user) as http:
        created = await http.post(
            '/sessions', json={'message': {'id': 'm-1', 'text': f'remember that {fact}'}}
        )
    session_id = created.json()['session_id']
    client = await ChatClient(url, session_id, token_for(user)).connect()
    await client.wait_for(lambda: client.finished(1))
    await client.send('m-2', f'forget {fact}')
    [request] = await client.wait_for(lambda: client.of_type('APPROVAL_REQUESTED', 2))
    await client.disconnect()
    return session_id, request


async def test_the_approval_queue_holds_every_users_pending_approvals_oldest_first_until_answered(
    api_url: str, workers: Workers, operator: httpx.AsyncClient
) -> None:
    workers.ensure_one()
    first, first_request = await ask_to_forget(api_url, 'quinn', 'my locker is number 12')
    second, second_request = await ask_to_forget(api_url, 'rhea', 'my cat is called Miso')

    async def queue() -> list[dict[str, Any]]:
        response = await operator.get('/operator/approvals')
        assert response.status_code == 200, response.text
        return [entry for entry in response.json() if entry['session_id'] in (first, second)]

    # Temporal's visibility lists a session as awaiting approval a moment after it began to wait.
    listed = await eventually(lambda: _when(queue(), lambda entries: len(entries) == 2))
    assert [(e['session_id'], e['user_id'], e['title']) for e in listed] == [
        (first, 'quinn', 'remember that my locker is number 12'),
        (second, 'rhea', 'remember that my cat is called Miso'),
    ]
    approval = listed[0]['approval']
    assert approval == {
        'id': first_request['id'],
        'turn': 2,
        'tool_name': 'forget',
        'args': first_request['args'],
        'status': 'pending',
        'reason': '',
        'answered_by': '',
    }
    assert set(approval['args']) == {'memory_id'}
    assert listed[1]['approval']['id'] == second_request['id']

    async with client_of(api_url, 'quinn') as quinn:
        assert (await quinn.get('/operator/approvals')).status_code == 403
        answered = await quinn.post(
            f'/sessions/{first}/approvals/{first_request["id"]}', json={'approve': True}
        )
        assert answered.status_code == 200, answered.text
    # An answered approval leaves the queue at once: it is read from the session, not the listing.
    assert [e['session_id'] for e in await queue()] == [second]

    # So does a closed session's, though the listing may still say it awaits approval.
    assert (await operator.post(f'/sessions/{second}/close')).status_code == 200
    assert await queue() == []
    for user in ('quinn', 'rhea'):
        async with client_of(api_url, user) as http:
            await http.delete('/memories')


async def _when(probe: Awaitable[_T], condition: Callable[[_T], bool]) -> _T | None:
    value = await probe
    return value if condition(value) else None


@pytest.fixture(scope='module')
def own_api(service_env: dict[str, str]) -> Iterator[str]:
    """An API of its own: its live figures hold only this module's traffic."""
    process = api(service_env).start()
    yield process.url
    process.stop()


def metric(text: str, name: str) -> float:
    match = re.search(rf'^{name} (\S+)$', text, re.M)
    assert match, f'{name} not on /metrics'
    return float(match[1])


async def test_live_stats_count_turns_time_first_tokens_and_count_failed_turns_once(
    own_api: str, workers: Workers
) -> None:
    workers.ensure_one()
    async with client_of(own_api, 'stella') as user, client_of(own_api, 'odile', 'operator') as operator:
        assert (await user.get('/operator/stats')).status_code == 403
        before = (await operator.get('/operator/stats')).json()
        assert (before['bucket_seconds'], before['buckets']) == (10, 60)
        assert {name: len(values) for name, values in before['series'].items()} == dict.fromkeys(SERIES, 60)
        assert before['current'] == {
            'active_sessions': 0,
            'turns_per_minute': 0,
            'first_token_p50_ms': None,
            'first_token_p95_ms': None,
            'errors': 0,
        }

        # A message with the create, one over REST, three over the websocket: five turns.
        created = await user.post('/sessions', json={'message': {'id': 'm-1', 'text': 'hello there'}})
        session_id = created.json()['session_id']
        client = await ChatClient(own_api, session_id, token_for('stella')).connect()
        await client.wait_for(lambda: client.done(1))
        posted = await user.post(f'/sessions/{session_id}/messages', json={'id': 'm-2', 'text': 'and again'})
        assert posted.status_code == 202
        await client.wait_for(lambda: client.finished(2))
        for turn in (3, 4, 5):
            await client.send(f'm-{turn}', f'message number {turn}')
            await client.wait_for(lambda turn=turn: client.finished(turn))

        stats = (await operator.get('/operator/stats')).json()
        current = stats['current']
        assert (current['turns_per_minute'], current['active_sessions'], current['errors']) == (5, 1, 0)
        assert 0 < current['first_token_p50_ms'] <= current['first_token_p95_ms']
        assert stats['series']['turns_per_minute'][-1] == 5
        assert stats['series']['active_sessions'][-1] == 1
        exported = (await operator.get('/metrics')).text
        assert metric(exported, 'durable_chat_messages_accepted_total') == 5
        # Only messages sent on a websocket are timed to the first token relayed on it.
        assert metric(exported, 'durable_chat_first_token_seconds_count') == 3
        assert metric(exported, 'durable_chat_sessions_watched') == 1

        # A turn that fails, relayed to its user and to an operator watching: one error.
        watcher = await ChatClient(own_api, session_id, token_for('odile', 'operator')).connect()
        await watcher.wait_for(lambda: watcher.of_type('SNAPSHOT'))
        await client.send('m-6', 'unreachable')  # the scripted model's server down, every attempt
        await client.wait_for(lambda: client.of_type('RUN_ERROR', 6), timeout=90)
        await watcher.wait_for(lambda: watcher.of_type('RUN_ERROR', 6))

        current = (await operator.get('/operator/stats')).json()['current']
        assert (current['turns_per_minute'], current['active_sessions'], current['errors']) == (6, 1, 1)
        exported = (await operator.get('/metrics')).text
        assert metric(exported, 'durable_chat_run_errors_total') == 1
        assert metric(exported, 'durable_chat_first_token_seconds_count') == 3  # no text: not timed

        await watcher.disconnect()
        await client.disconnect()
        assert (await operator.get('/operator/stats')).json()['current']['active_sessions'] == 0
