"""Long-term memory through the product: told once, recalled in a new session, only for that user."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
from temporalio.api.enums.v1 import PendingActivityState

from durable_chat.memory.types import STORE_MEMORY
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.stack import Workers
from durable_chat.workflows.contract import workflow_id
from durable_chat.workflows.offline_model import LABEL
from tests.conftest import token_for

pytestmark = pytest.mark.integration

PENDING_ACTIVITY_STATE_STARTED = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED


def signed_in(api_url: str, username: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=api_url, timeout=60, headers={'Authorization': f'Bearer {token_for(username)}'}
    )


async def say(api_url: str, http: httpx.AsyncClient, username: str, session_id: str, text: str) -> str:
    """Sends one message on the websocket and returns the reply text the client streamed."""
    client = await ChatClient(api_url, session_id, token_for(username)).connect()
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))
    turn = len(client.of_type('SNAPSHOT')[0]['session']['turns']) + 1
    await client.send(f'm-{turn}', text)
    await client.wait_for(lambda: client.finished(turn), timeout=60)
    await client.disconnect()
    return client.streamed_text(turn)


async def new_session(http: httpx.AsyncClient) -> str:
    return (await http.post('/sessions', json={})).json()['session_id']


@pytest.fixture
async def carol(api_url: str, workers: Workers) -> httpx.AsyncClient:
    workers.ensure_one()
    async with signed_in(api_url, 'carol') as http:
        yield http
        await http.delete('/memories')


async def test_a_fact_told_in_one_session_is_recalled_in_the_next_and_only_for_its_user(
    api_url: str, carol: httpx.AsyncClient
) -> None:
    first = await new_session(carol)
    reply = await say(api_url, carol, 'carol', first, 'remember that my sister is called Ines')
    assert reply.startswith(f"{LABEL} Noted. I'll remember it (added: my sister is called Ines)")

    second = await new_session(carol)
    # Recalled before the model ran, into its instructions; and through the recall tool.
    assert (
        await say(api_url, carol, 'carol', second, 'instructions: what is my sister called?')
        == 'Instructed: my sister is called Ines'
    )
    assert 'my sister is called Ines' in await say(
        api_url, carol, 'carol', second, 'what do you remember about me'
    )

    async with signed_in(api_url, 'dave') as dave:
        other = await new_session(dave)
        assert (
            await say(api_url, dave, 'dave', other, 'instructions: what is my sister called?')
            == 'Instructed: nothing'
        )
        reply = await say(api_url, dave, 'dave', other, 'what do you remember about me')
        assert reply == f"{LABEL} I don't remember anything about you yet."
        assert (await dave.get('/memories')).json() == []


async def test_a_restated_fact_updates_the_memory_it_restates(api_url: str, carol: httpx.AsyncClient) -> None:
    session = await new_session(carol)
    await say(api_url, carol, 'carol', session, 'remember that I live in Paris')
    [before] = (await carol.get('/memories')).json()
    reply = await say(api_url, carol, 'carol', session, 'remember that I moved to Lyon')
    assert '(updated: I moved to Lyon (was: I live in Paris))' in reply
    [after] = (await carol.get('/memories')).json()
    assert (after['id'], after['text']) == (before['id'], 'I moved to Lyon')


async def test_memory_api_lists_searches_and_deletes_only_the_callers(
    api_url: str, carol: httpx.AsyncClient
) -> None:
    session = await new_session(carol)
    for fact in ('I have a dog named Rex', 'I work as a nurse', 'My favourite food is ramen'):
        await say(api_url, carol, 'carol', session, f'remember that {fact}')
    async with signed_in(api_url, 'erin') as erin:
        erin_session = await new_session(erin)
        await say(api_url, erin, 'erin', erin_session, 'remember that I play the cello')

        listed = (await carol.get('/memories')).json()
        assert [m['text'] for m in listed] == [
            'I have a dog named Rex',
            'I work as a nurse',
            'My favourite food is ramen',
        ]
        found = (await carol.get('/memories', params={'q': 'what pet do I have', 'k': 1})).json()
        assert [m['text'] for m in found] == ['I have a dog named Rex']

        # Erin can neither see nor delete Carol's memories, by id or by deleting "all".
        rex = listed[0]['id']
        assert (await erin.delete(f'/memories/{rex}')).status_code == 404
        assert (await erin.get('/memories', params={'user_id': 'carol'})).status_code == 403
        assert (await erin.delete('/memories')).json() == {'deleted': 1}
        assert len((await carol.get('/memories')).json()) == 3

        assert (await carol.delete(f'/memories/{rex}')).status_code == 204
        assert (await carol.delete(f'/memories/{rex}')).status_code == 404
        assert (await carol.delete('/memories/not-a-uuid')).status_code == 422
        assert (await carol.get('/memories', params={'q': ''})).status_code == 422
        assert [m['text'] for m in (await carol.get('/memories')).json()] == [
            'I work as a nurse',
            'My favourite food is ramen',
        ]


async def test_a_forgotten_fact_is_never_recalled_again(api_url: str, carol: httpx.AsyncClient) -> None:
    session = await new_session(carol)
    await say(api_url, carol, 'carol', session, 'remember that my locker code is 4711')
    client = await ChatClient(api_url, session, token_for('carol')).connect()
    await client.send('forget', 'forget my locker code')
    [request] = await client.wait_for(lambda: client.of_type('APPROVAL_REQUESTED'))
    assert request['tool_name'] == 'forget'
    response = await carol.post(f'/sessions/{session}/approvals/{request["id"]}', json={'approve': True})
    assert response.json()['status'] == 'approved'
    await client.wait_for(lambda: client.finished(2))
    assert client.streamed_text(2) == f"{LABEL} Done: I've forgotten it."
    await client.disconnect()

    assert (await carol.get('/memories')).json() == []
    fresh = await new_session(carol)
    assert (
        await say(api_url, carol, 'carol', fresh, 'instructions: what is my locker code?')
        == 'Instructed: nothing'
    )


async def test_store_retried_after_memory_worker_sigkill_leaves_each_fact_once(
    api_url: str, carol: httpx.AsyncClient, workers: Workers, temporal_client
) -> None:
    facts = [f'my code number {i} is {i * 7919}' for i in range(12)]
    sessions = [await new_session(carol) for _ in facts]
    clients = [await ChatClient(api_url, s, token_for('carol')).connect() for s in sessions]
    for client, fact in zip(clients, facts, strict=True):
        await client.send('m-1', f'remember that {fact}')
    # Freeze the memory worker once every session's `remember` call is streaming (so every recall
    # before it is done): the stores that follow are handed to the frozen worker's waiting polls
    # and stuck there; then SIGKILL it. Temporal retries them on a new memory worker.
    try:
        for client in clients:
            await client.wait_for(lambda c=client: c.of_type('TOOL_CALL_START'), timeout=60)
        workers.memory.send_signal(signal.SIGSTOP)
        await asyncio.wait_for(started_store(temporal_client, sessions), timeout=30)
    finally:
        workers.restart_memory()  # whatever happened, later tests get a working memory worker
    for client in clients:
        await client.wait_for(lambda c=client: c.finished(1), timeout=90)
        await client.disconnect()

    stored = [m['text'] for m in (await carol.get('/memories')).json()]
    assert sorted(stored) == sorted(facts)
    attempts = [await store_attempts(temporal_client, s) for s in sessions]
    assert max(attempts) >= 2  # some first attempts really died with the worker


async def started_store(temporal_client, sessions: list[str]) -> None:
    """Returns once some session's store activity is started (on the frozen worker)."""
    while True:
        for session_id in sessions:
            description = await temporal_client.get_workflow_handle(workflow_id(session_id)).describe()
            for pending in description.raw_description.pending_activities:
                if (
                    pending.activity_type.name == STORE_MEMORY
                    and pending.state == PENDING_ACTIVITY_STATE_STARTED
                ):
                    return


async def store_attempts(temporal_client, session_id: str) -> int:
    handle = temporal_client.get_workflow_handle(workflow_id(session_id))
    events = [e async for e in handle.fetch_history_events()]
    stores = {
        e.event_id
        for e in events
        if e.HasField('activity_task_scheduled_event_attributes')
        and e.activity_task_scheduled_event_attributes.activity_type.name == STORE_MEMORY
    }
    return max(
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.HasField('activity_task_started_event_attributes')
        and e.activity_task_started_event_attributes.scheduled_event_id in stores
    )
