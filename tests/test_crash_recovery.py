"""A worker killed with SIGKILL mid-reply: the turn completes once and the client text stays right."""

from __future__ import annotations

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.stack import Workers
from durable_chat.workflows.contract import workflow_id

pytestmark = pytest.mark.integration


async def test_worker_killed_mid_stream_turn_completes_exactly_once(
    http: httpx.AsyncClient, api_url: str, workers: Workers, temporal_client: Client, alice_token: str
) -> None:
    doomed = workers.ensure_one()
    session_id = (await http.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.send('m-1', 'slow 50')
    await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 10)

    doomed.kill()
    workers.start()
    await client.wait_for(lambda: client.finished(1), timeout=60)

    retried = client.of_type('ATTEMPT_STARTED', 1)
    assert [(f['step'], f['attempt']) for f in retried] == [(1, 2)]
    # Attempt 1's partial tokens reached the client before the crash; the rule drops them.
    attempt_one = [f for f in client.of_type('TEXT_MESSAGE_CONTENT', 1) if f['attempt'] == 1]
    assert 10 <= len(attempt_one) < 50
    assert client.streamed_text(1) == expected_reply('slow 50')
    assert client.delivery_faults() == []  # a retried attempt is new events, nothing shown twice

    turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
    assert [(t['user_text'], t['reply'], t['status']) for t in turns] == [
        ('slow 50', expected_reply('slow 50'), 'done')
    ]
    # Temporal's own record: one model request, scheduled once, completed once (its retry is inside it).
    handle = temporal_client.get_workflow_handle(workflow_id(session_id))
    events = [e async for e in handle.fetch_history_events()]
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField('activity_task_scheduled_event_attributes')
    }
    completed = [
        scheduled[e.activity_task_completed_event_attributes.scheduled_event_id]
        for e in events
        if e.HasField('activity_task_completed_event_attributes')
    ]
    # (Recall runs first, unless this user is already known to have no memories.)
    model_requests = ['agent__chat__model_request_stream']
    assert [name for name in scheduled.values() if name != 'recall_memories'] == model_requests
    assert [name for name in completed if name != 'recall_memories'] == model_requests
    await client.disconnect()
