"""A session end to end: streaming, exactly-once history, queueing, idempotency, reconnects."""

from __future__ import annotations

import uuid

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from durable_chat.testing.scripted import expected_reply

pytestmark = pytest.mark.integration


async def new_session(http: httpx.AsyncClient) -> str:
    response = await http.post('/sessions', json={})
    assert response.status_code == 201, response.text
    return response.json()['session_id']


async def history(http: httpx.AsyncClient, session_id: str) -> list[dict]:
    response = await http.get(f'/sessions/{session_id}')
    assert response.status_code == 200, response.text
    return response.json()['turns']


async def test_reply_streams_token_by_token_and_lands_in_history_once(
    http: httpx.AsyncClient, api_url: str, worker: Process, alice_token: str
) -> None:
    session_id = await new_session(http)
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))
    await client.send('m-1', 'slow 15')
    await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))

    # The first token is on the client while the turn is still running: it streamed, not arrived whole.
    turns = await history(http, session_id)
    assert turns[0]['status'] == 'running'

    await client.wait_for(lambda: client.finished(1))
    deltas = [f['delta'] for f in client.of_type('TEXT_MESSAGE_CONTENT', 1)]
    assert deltas == [f'w{i} ' for i in range(1, 16)]
    turns = await history(http, session_id)
    assert [(t['user_text'], t['reply'], t['status']) for t in turns] == [
        ('slow 15', expected_reply('slow 15'), 'done')
    ]
    assert client.streamed_text(1) == turns[0]['reply'] == client.finished(1)['result']
    await client.disconnect()


async def test_messages_sent_during_a_turn_are_answered_in_order(
    http: httpx.AsyncClient, api_url: str, worker: Process, alice_token: str
) -> None:
    session_id = await new_session(http)
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.send('first', 'slow 10')
    await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
    for i in (1, 2, 3):
        await client.send(f'queued-{i}', f'queued message {i}')
    await client.wait_for(lambda: client.finished(4))

    finished_order = [f['turn'] for f in client.of_type('RUN_FINISHED')]
    assert finished_order == [1, 2, 3, 4]
    turns = await history(http, session_id)
    assert [t['user_text'] for t in turns] == [
        'slow 10',
        'queued message 1',
        'queued message 2',
        'queued message 3',
    ]
    assert [t['reply'] for t in turns] == [expected_reply(t['user_text']) for t in turns]
    for turn in (2, 3, 4):
        assert client.streamed_text(turn) == turns[turn - 1]['reply']
    await client.disconnect()


async def test_same_message_id_over_rest_and_websocket_is_one_turn(
    http: httpx.AsyncClient, api_url: str, worker: Process, alice_token: str
) -> None:
    session_id = uuid.uuid4().hex
    first = {'id': 'dup-1', 'text': 'hello once'}
    # A create retried with the same session and message id: signal-with-start lands once.
    for _ in range(2):
        response = await http.post('/sessions', json={'session_id': session_id, 'message': first})
        assert response.status_code == 201, response.text
    response = await http.post(f'/sessions/{session_id}/messages', json=first)
    assert response.status_code == 202
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.send('dup-1', 'hello once')
    await client.wait_for(lambda: client.of_type('ACK'))
    await client.send('after', 'after the duplicates')
    await client.wait_for(lambda: client.finished(2))

    turns = await history(http, session_id)
    assert [(t['message_id'], t['reply']) for t in turns] == [
        ('dup-1', expected_reply('hello once')),
        ('after', expected_reply('after the duplicates')),
    ]
    await client.disconnect()


async def test_reconnect_with_last_event_id_resumes_without_gap_or_double(
    http: httpx.AsyncClient, api_url: str, worker: Process, alice_token: str
) -> None:
    session_id = await new_session(http)
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.send('m-1', 'slow 40')
    await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 8)
    await client.disconnect()
    seen_before = len(client.of_type('TEXT_MESSAGE_CONTENT', 1))
    snapshots_before = len(client.of_type('SNAPSHOT'))

    await client.connect(after=client.last_event_id)
    await client.wait_for(lambda: client.finished(1))

    turns = await history(http, session_id)
    assert client.streamed_text(1) == turns[0]['reply'] == expected_reply('slow 40')
    # Resumed from the stream, not re-sent a snapshot; deltas arrived on both connections.
    assert len(client.of_type('SNAPSHOT')) == snapshots_before
    assert 0 < seen_before < 40
    await client.disconnect()


async def test_reload_mid_reply_gets_history_then_the_live_turn(
    http: httpx.AsyncClient, api_url: str, worker: Process, alice_token: str
) -> None:
    session_id = await new_session(http)
    first = await ChatClient(api_url, session_id, alice_token).connect()
    await first.send('m-1', 'hello there')
    await first.wait_for(lambda: first.finished(1))
    await first.send('m-2', 'slow 30')
    await first.wait_for(lambda: len(first.of_type('TEXT_MESSAGE_CONTENT', 2)) >= 5)

    # A fresh page load: no last id, so a snapshot plus the running turn's events so far.
    reloaded = await ChatClient(api_url, session_id, alice_token).connect()
    await reloaded.wait_for(lambda: reloaded.finished(2))
    snapshot = reloaded.of_type('SNAPSHOT')[0]['session']
    assert [t['status'] for t in snapshot['turns']] == ['done', 'running']
    assert not reloaded.of_type('TEXT_MESSAGE_CONTENT', 1)  # turn 1 comes from the snapshot only
    assert reloaded.streamed_text(2) == expected_reply('slow 30')
    await first.disconnect()
    await reloaded.disconnect()
