"""Bad input gets a clear 4xx or an error frame; the connection and the session survive it."""

from __future__ import annotations

import json

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from durable_chat.testing.scripted import expected_reply

pytestmark = pytest.mark.integration

LIMIT = 32_000  # DURABLE_CHAT_MAX_MESSAGE_CHARS default


@pytest.fixture
async def session_id(http: httpx.AsyncClient, worker: Process) -> str:
    response = await http.post('/sessions', json={'message': {'id': 'first', 'text': 'accepted before'}})
    return response.json()['session_id']


async def turns(http: httpx.AsyncClient, session_id: str) -> list[dict]:
    return (await http.get(f'/sessions/{session_id}')).json()['turns']


@pytest.mark.parametrize(
    ('body', 'status', 'reason'),
    [
        ({'id': 'e', 'text': '   '}, 422, 'message text is empty'),
        ({'id': 'big', 'text': 'x' * (LIMIT + 1)}, 413, f'the limit is {LIMIT}'),
        ({'id': 'no text'}, 422, 'text'),
        ({'id': 'bad id!', 'text': 'hi'}, 422, 'id'),
    ],
)
async def test_rest_rejects_bad_messages_and_keeps_what_was_accepted(
    http: httpx.AsyncClient, session_id: str, body: dict, status: int, reason: str
) -> None:
    response = await http.post(f'/sessions/{session_id}/messages', json=body)
    assert response.status_code == status
    assert reason in json.dumps(response.json()['detail'])
    assert [t['user_text'] for t in await turns(http, session_id)] == ['accepted before']


async def test_rest_non_json_body_and_unknown_sessions(http: httpx.AsyncClient, session_id: str) -> None:
    response = await http.post(
        f'/sessions/{session_id}/messages', content=b'{not json', headers={'content-type': 'application/json'}
    )
    assert response.status_code == 422
    assert 'JSON' in json.dumps(response.json()['detail'])

    unknown = '0' * 32
    response = await http.post(f'/sessions/{unknown}/messages', json={'id': 'a', 'text': 'hi'})
    assert (response.status_code, response.json()['detail']) == (404, f'no session {unknown}')
    assert (await http.get(f'/sessions/{unknown}')).status_code == 404
    assert (await http.get('/sessions/not-a-session-id')).status_code == 422
    response = await http.post('/sessions', json={'message': {'id': 'x', 'text': ''}})
    assert response.status_code == 422


async def test_websocket_bad_frames_get_error_frames_and_the_socket_keeps_working(
    api_url: str, http: httpx.AsyncClient, session_id: str, alice_token: str
) -> None:
    client = await ChatClient(api_url, session_id, alice_token).connect()
    bad_frames: list[str | bytes] = [
        'not json',
        '[1, 2]',
        json.dumps({'type': 'shout', 'text': 'hi'}),
        json.dumps({'type': 'message', 'id': 'no-text'}),
        json.dumps({'type': 'message', 'id': 'empty', 'text': ''}),
        json.dumps({'type': 'message', 'id': 'huge', 'text': 'x' * (LIMIT + 1)}),
        b'\x00\x01binary',
    ]
    for frame in bad_frames:
        await client.send_raw(frame)
    await client.wait_for(lambda: len(client.of_type('ERROR')) == len(bad_frames))
    errors = client.of_type('ERROR')
    assert [e['status'] for e in errors] == [400, 400, 400, 422, 422, 413, 400]
    assert all(e['reason'] for e in errors)

    await client.send('good', 'still here')
    await client.wait_for(lambda: client.finished(2))
    assert [(t['user_text'], t['reply']) for t in await turns(http, session_id)] == [
        ('accepted before', expected_reply('accepted before')),
        ('still here', expected_reply('still here')),
    ]
    await client.disconnect()


async def test_websocket_frame_over_the_size_limit_closes_with_1009(
    api_url: str, session_id: str, alice_token: str
) -> None:
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))
    await client.send_raw('x' * (2 * 1024 * 1024))
    await client.wait_for(lambda: client.close_code is not None)
    assert client.close_code == 1009


async def test_websocket_to_unknown_session_says_so_and_closes(
    api_url: str, worker: Process, alice_token: str
) -> None:
    for session_id in ('0' * 32, 'nope'):
        client = await ChatClient(api_url, session_id, alice_token).connect()
        await client.wait_for(lambda c=client: c.close_code is not None)
        assert client.of_type('ERROR')[0]['status'] == 404
        assert client.close_code == 4404
