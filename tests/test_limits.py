"""Per-user limits: REST 429s with a reason and Retry-After, websocket ERROR frames for a flood, the
cap on open websockets, all shared by the API processes through Redis; failing open without Redis.

The APIs here run with tiny limits (the rest of the suite runs with limits out of reach); every test
signs in as a user of its own, so each starts with full buckets and no open connections.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
import websockets

from durable_chat.settings import Settings
from durable_chat.testing import services
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.servers import Valkey
from durable_chat.testing.services import Api
from durable_chat.testing.stack import Workers
from tests.conftest import token_for
from tests.test_production import until_ready

pytestmark = pytest.mark.integration

MESSAGE_BURST, SESSION_BURST, WEBSOCKETS = 3, 2, 2
TINY_LIMITS = {
    'DURABLE_CHAT_LIMIT_MESSAGES_PER_MINUTE': '1',
    'DURABLE_CHAT_LIMIT_MESSAGE_BURST': str(MESSAGE_BURST),
    'DURABLE_CHAT_LIMIT_SESSIONS_PER_MINUTE': '1',
    'DURABLE_CHAT_LIMIT_SESSION_BURST': str(SESSION_BURST),
    'DURABLE_CHAT_LIMIT_WEBSOCKETS_PER_USER': str(WEBSOCKETS),
    'DURABLE_CHAT_LIMIT_WEBSOCKET_SLOT_SECONDS': '2',
}


def start_api(service_env: dict[str, str]) -> Api:
    return services.api({**service_env, **TINY_LIMITS}).start()


@pytest.fixture(scope='module')
def tiny_apis(service_env: dict[str, str], workers: Workers) -> Iterator[list[Api]]:
    """Two API processes with tiny limits on the suite's Redis: the limits must hold across both."""
    workers.ensure_one()
    apis = [start_api(service_env) for _ in range(2)]
    yield apis
    for api in apis:
        api.stop()


def new_user() -> str:
    return f'lim-{uuid.uuid4().hex[:12]}'


def signed_in(api: Api, user: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=api.url, timeout=30, headers={'Authorization': f'Bearer {token_for(user)}'}
    )


async def post_message(http: httpx.AsyncClient, session_id: str, message_id: str) -> httpx.Response:
    return await http.post(f'/sessions/{session_id}/messages', json={'id': message_id, 'text': message_id})


async def session_with_burst_spent(http: httpx.AsyncClient) -> str:
    """A new session whose user has just sent a whole burst of messages (m0, m1, ...), all accepted."""
    session_id = (await http.post('/sessions', json={})).json()['session_id']
    for i in range(MESSAGE_BURST):
        assert (await post_message(http, session_id, f'm{i}')).status_code == 202
    return session_id


def assert_limited(response: httpx.Response, what: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json()['detail'].startswith(f'too many {what}: at most 1 a minute')
    assert int(response.headers['Retry-After']) >= 1


async def turns_when_done(http: httpx.AsyncClient, session_id: str, count: int) -> list[dict]:
    """The session's turns once `count` of them are done (then every accepted signal is in)."""

    async def poll() -> list[dict]:
        while True:
            turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
            if sum(t['status'] == 'done' for t in turns) >= count:
                return turns
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(poll(), 60)


async def test_messages_over_the_limit_get_429_with_a_reason_and_are_not_sent(
    tiny_apis: list[Api],
) -> None:
    async with signed_in(tiny_apis[0], new_user()) as http:
        session_id = await session_with_burst_spent(http)
        assert_limited(await post_message(http, session_id, 'over'), 'messages')
        turns = await turns_when_done(http, session_id, MESSAGE_BURST)
    assert [t['user_text'] for t in turns] == ['m0', 'm1', 'm2']


async def test_session_creation_over_the_limit_gets_429_and_creates_nothing(
    tiny_apis: list[Api],
) -> None:
    async with signed_in(tiny_apis[0], new_user()) as http:
        session_id = await session_with_burst_spent(http)
        # A create with a first message counts both; the messages are spent, so neither is counted.
        with_message = await http.post('/sessions', json={'message': {'id': 'first', 'text': 'hi'}})
        assert_limited(with_message, 'messages')
        assert [s['session_id'] for s in (await http.get('/sessions')).json()] == [session_id]
        assert (await http.post('/sessions', json={})).status_code == 201  # the second of the burst
        assert_limited(await http.post('/sessions', json={}), 'sessions')


async def test_the_limit_is_shared_by_api_processes(tiny_apis: list[Api]) -> None:
    user = new_user()
    async with signed_in(tiny_apis[0], user) as first, signed_in(tiny_apis[1], user) as second:
        session_id = (await first.post('/sessions', json={})).json()['session_id']
        assert (await post_message(first, session_id, 'a')).status_code == 202
        assert (await post_message(second, session_id, 'b')).status_code == 202
        assert (await post_message(first, session_id, 'c')).status_code == 202
        assert_limited(await post_message(second, session_id, 'd'), 'messages')
        assert_limited(await post_message(first, session_id, 'e'), 'messages')


async def test_a_client_reads_the_limits_it_must_keep(tiny_apis: list[Api]) -> None:
    # The page refuses an oversized message before sending it, in words: it reads the limit here.
    async with signed_in(tiny_apis[0], new_user()) as http:
        limits = (await http.get('/limits')).json()
    assert limits == {
        'max_message_chars': Settings().max_message_chars,
        'messages_per_minute': 1,
        'message_burst': MESSAGE_BURST,
        'sessions_per_minute': 1,
        'websockets_per_user': WEBSOCKETS,
    }
    async with httpx.AsyncClient(base_url=tiny_apis[0].url) as anonymous:
        assert (await anonymous.get('/limits')).status_code == 401


async def test_the_429s_are_in_the_openapi_spec(tiny_apis: list[Api]) -> None:
    async with httpx.AsyncClient(base_url=tiny_apis[0].url) as http:
        spec = (await http.get('/openapi.json')).json()
    for path in ('/sessions', '/sessions/{session_id}/messages'):
        documented = spec['paths'][path]['post']['responses']['429']
        assert 'Retry-After' in documented['headers']
        ref = documented['content']['application/json']['schema']['$ref']
        schema = spec['components']['schemas'][ref.rsplit('/', 1)[1]]
        assert schema['required'] == ['detail'] and schema['properties']['detail']['type'] == 'string'


async def test_a_websocket_flood_gets_error_frames_and_every_accepted_message_is_answered(
    tiny_apis: list[Api],
) -> None:
    user = new_user()
    async with signed_in(tiny_apis[0], user) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(tiny_apis[0].url, session_id, token_for(user)).connect()
        await client.wait_for(lambda: client.of_type('SNAPSHOT'))
        texts = [f'flood {i}' for i in range(MESSAGE_BURST + 3)]
        for i, text in enumerate(texts):
            await client.send(f'f{i}', text)
        await client.wait_for(lambda: len(client.of_type('ACK') + client.of_type('ERROR')) == len(texts))
        assert [a['id'] for a in client.of_type('ACK')] == ['f0', 'f1', 'f2']
        errors = client.of_type('ERROR')
        assert [(e['id'], e['status']) for e in errors] == [('f3', 429), ('f4', 429), ('f5', 429)]
        assert all(e['reason'].startswith('too many messages') and e['retry_after'] >= 1 for e in errors)

        await client.send('again', 'still over')  # the connection stays open and keeps answering
        await client.wait_for(lambda: len(client.of_type('ERROR')) == 4)
        for turn in range(1, MESSAGE_BURST + 1):
            await client.wait_for(lambda t=turn: client.finished(t), timeout=60)
            assert client.rendered_text(turn) == expected_reply(texts[turn - 1])
        turns = await turns_when_done(http, session_id, MESSAGE_BURST)
        assert [t['user_text'] for t in turns] == texts[:MESSAGE_BURST]
        await client.disconnect()


async def over_the_cap(api: Api, session_id: str, user: str) -> tuple[dict, int, str]:
    """Opens one more websocket: its frames are one ERROR, then the close with code and reason."""
    url = (
        api.url.replace('http', 'ws', 1)
        + f'/ws/sessions/{session_id}?'
        + urlencode({'token': token_for(user)})
    )
    async with websockets.connect(url) as ws:
        frame = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        return frame, ws.close_code, ws.close_reason


async def connect_when_free(api: Api, session_id: str, user: str, timeout: float = 30) -> ChatClient:
    """A connection that got its snapshot, retried while the user's slots are all taken."""

    async def attempt() -> ChatClient:
        while True:
            client = await ChatClient(api.url, session_id, token_for(user)).connect()
            await client.wait_for(lambda c=client: c.of_type('SNAPSHOT') or c.close_code is not None)
            if client.of_type('SNAPSHOT'):
                return client
            assert client.close_code == 4429
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(attempt(), timeout)


async def test_websockets_over_the_cap_close_with_4429_across_apis_and_a_closed_one_frees_a_slot(
    tiny_apis: list[Api],
) -> None:
    user = new_user()
    async with signed_in(tiny_apis[0], user) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
    first = await connect_when_free(tiny_apis[0], session_id, user, timeout=10)
    second = await connect_when_free(tiny_apis[1], session_id, user, timeout=10)
    frame, code, reason = await over_the_cap(tiny_apis[0], session_id, user)
    assert (frame['type'], frame['status']) == ('ERROR', 429)
    assert code == 4429
    assert reason == frame['reason'] == f'too many open connections: at most {WEBSOCKETS} per user'

    await first.disconnect()
    third = await connect_when_free(tiny_apis[1], session_id, user)
    # The operator console is not capped: operators watch as many sessions as they like.
    operators = [await ChatClient(tiny_apis[0].url, session_id, token_for('olga', 'operator')).connect()]
    operators += [await ChatClient(tiny_apis[1].url, session_id, token_for('olga', 'operator')).connect()]
    operators += [await ChatClient(tiny_apis[0].url, session_id, token_for('olga', 'operator')).connect()]
    for client in operators:
        await client.wait_for(lambda c=client: c.of_type('SNAPSHOT'))
    for client in [second, third, *operators]:
        await client.disconnect()


async def test_a_killed_apis_websocket_slots_expire(
    service_env: dict[str, str], tiny_apis: list[Api]
) -> None:
    doomed = start_api(service_env)
    user = new_user()
    try:
        async with signed_in(doomed, user) as http:
            session_id = (await http.post('/sessions', json={})).json()['session_id']
        held = [await connect_when_free(doomed, session_id, user, timeout=10) for _ in range(WEBSOCKETS)]
        frame, code, _ = await over_the_cap(tiny_apis[0], session_id, user)
        assert (frame['status'], code) == (429, 4429)
        doomed.kill()  # SIGKILL: its connections never say goodbye
        for client in held:
            await client.wait_for(lambda c=client: c.close_code is not None)
        # Their slots lapse once nobody refreshes them; then the user connects again.
        client = await connect_when_free(tiny_apis[0], session_id, user)
        await client.disconnect()
    finally:
        doomed.stop()


async def test_limits_fail_open_while_redis_is_down(tiny_apis: list[Api], valkey: Valkey) -> None:
    api = tiny_apis[0]
    async with signed_in(api, new_user()) as http:
        session_id = await session_with_burst_spent(http)
        assert_limited(await post_message(http, session_id, 'over'), 'messages')
        await turns_when_done(http, session_id, MESSAGE_BURST)
        valkey.stop()
        try:
            # Users keep chatting (Temporal holds every message); the API says what it skipped.
            assert (await post_message(http, session_id, 'redis-down')).status_code == 202
            api.wait_for_line('rate limit not enforced: Redis unavailable', timeout=10)
        finally:
            valkey.start()
        await until_ready(http, {'temporal': True, 'redis': True, 'memory': True})
        # Enforced again, whether or not the restarted Redis kept the bucket.
        statuses = [(await post_message(http, session_id, f'back{i}')).status_code for i in range(4)]
        assert statuses[-1] == 429, statuses
