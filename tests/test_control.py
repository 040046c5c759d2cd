"""Interrupting a turn and closing a session, as the user and as an operator."""

from __future__ import annotations

import time

import httpx
import pytest
from temporalio.client import Client

from durable_chat.payload_store import inline
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from durable_chat.testing.scripted import expected_reply
from durable_chat.workflows.contract import workflow_id
from durable_chat.workflows.session import INTERRUPTED_MARKER
from tests.conftest import token_for

pytestmark = pytest.mark.integration


async def model_inputs(temporal_client: Client, session_id: str) -> list[str]:
    """The raw input of every model activity of the session, from Temporal's own history (and the
    payload store, where the history keeps a reference)."""
    handle = temporal_client.get_workflow_handle(workflow_id(session_id))
    storage = temporal_client.data_converter.external_storage
    return [
        b''.join(
            p.data for p in await inline(storage, e.activity_task_scheduled_event_attributes.input.payloads)
        ).decode()
        async for e in handle.fetch_history_events()
        if e.HasField('activity_task_scheduled_event_attributes')
    ]


async def test_interrupt_stops_tokens_within_a_second_and_the_session_goes_on(
    http: httpx.AsyncClient, api_url: str, worker: Process, alice_token: str, temporal_client: Client
) -> None:
    session_id = (await http.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.send('long', 'slow 200')
    await client.send('queued', 'still answered')
    await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 10)

    called_at = time.monotonic()
    response = await http.post(f'/sessions/{session_id}/interrupt', json={})
    assert response.status_code == 200, response.text
    assert response.json() == {'turn': 1, 'dropped': []}
    await client.wait_for(lambda: client.of_type('TURN_INTERRUPTED', 1))
    await client.wait_for(lambda: client.finished(2))

    turn_one = [
        i for i, f in enumerate(client.frames) if f.get('turn') == 1 and f['type'] == 'TEXT_MESSAGE_CONTENT'
    ]
    interrupted_at = client.frames.index(client.of_type('TURN_INTERRUPTED', 1)[0])
    assert max(turn_one) < interrupted_at  # no token of the turn after the marker, through turn 2's end
    assert client.received_at[max(turn_one)] - called_at < 1.0
    assert len(turn_one) < 200

    # What the user saw stays: the snapshot, the TURN_INTERRUPTED frame and the model keep that text.
    seen = client.streamed_text(1)
    assert seen.startswith('w1 w2 ') and len(seen.split()) == len(turn_one)
    stopped = client.of_type('TURN_INTERRUPTED', 1)[0]
    assert (stopped['reply'], stopped['by'], stopped['step'], stopped['attempt']) == (seen, 'alice', 0, 1)
    turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
    assert [(t['status'], t['reply']) for t in turns] == [
        ('interrupted', seen),
        ('done', expected_reply('still answered')),
    ]
    last_input = (await model_inputs(temporal_client, session_id))[-1]
    assert f'{seen}\\n\\n{INTERRUPTED_MARKER}' in last_input
    assert client.delivery_faults() == []
    # And the session keeps working.
    await client.send('after', 'are you there')
    await client.wait_for(lambda: client.finished(3))
    assert client.streamed_text(3) == expected_reply('are you there')
    await client.disconnect()


async def test_operator_interrupt_can_drop_the_queue(api_url: str, worker: Process, alice_token: str) -> None:
    alice = httpx.AsyncClient(base_url=api_url, headers={'Authorization': f'Bearer {alice_token}'})
    operator = httpx.AsyncClient(
        base_url=api_url, headers={'Authorization': f'Bearer {token_for("olga", "operator")}'}
    )
    async with alice, operator:
        session_id = (await alice.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(api_url, session_id, alice_token).connect()
        for i, text in enumerate(['slow 200', 'queued one', 'queued two']):
            await client.send(f'm{i}', text)
        await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))

        response = await operator.post(f'/sessions/{session_id}/interrupt', json={'drop_queued': True})
        assert response.json() == {'turn': 1, 'dropped': [2, 3]}
        await client.wait_for(lambda: client.of_type('TURN_INTERRUPTED', 1))
        assert client.of_type('TURN_INTERRUPTED', 1)[0]['by'] == 'olga'
        await client.send('next', 'a fresh start')
        await client.wait_for(lambda: client.finished(4))
        turns = (await alice.get(f'/sessions/{session_id}')).json()['turns']
        assert [t['status'] for t in turns] == ['interrupted', 'dropped', 'dropped', 'done']
        await client.disconnect()


async def test_close_mid_turn_sends_session_closed_and_refuses_messages(
    http: httpx.AsyncClient, api_url: str, worker: Process, alice_token: str
) -> None:
    session_id = (await http.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.send('long', 'slow 200')
    await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))

    response = await http.post(f'/sessions/{session_id}/close')
    assert response.json() == {'session_id': session_id, 'status': 'closed'}
    await client.wait_for(lambda: client.of_type('SESSION_CLOSED'))
    assert client.of_type('TURN_INTERRUPTED', 1)

    response = await http.post(f'/sessions/{session_id}/messages', json={'id': 'late', 'text': 'hello?'})
    assert (response.status_code, response.json()['detail']) == (409, f'session {session_id} is closed')
    await client.send('late-ws', 'hello?')
    await client.wait_for(lambda: client.of_type('ERROR'))
    assert client.of_type('ERROR')[0]['status'] == 409
    snapshot = (await http.get(f'/sessions/{session_id}')).json()
    assert snapshot['status'] == 'closed'
    listed = {s['session_id']: s['status'] for s in (await http.get('/sessions')).json()}
    assert listed[session_id] == 'closed'
    await client.disconnect()
