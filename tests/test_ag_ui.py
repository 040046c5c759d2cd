"""AG-UI clients chat with durable sessions: the official `@ag-ui/client` (HttpAgent, from npm, run
by Node) drives `POST /ag-ui/sessions[/{id}]` through plain turns, tool calls, approvals, a lost
connection, a worker killed mid-reply and tools the client runs itself."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from durable_chat.testing.ag_ui_client import AguiClient, Line, reply_text
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

MakeClient = Callable[..., Awaitable[AguiClient]]


@pytest.fixture
async def agui(api_url: str, workers: Workers) -> AsyncIterator[MakeClient]:
    """AG-UI clients of the user `ada` (or another), on a new thread or a session's own route."""
    workers.ensure_one()
    clients: list[AguiClient] = []

    async def make(user: str = 'ada', thread_id: str | None = None, session_id: str = '') -> AguiClient:
        url = f'{api_url}/ag-ui/sessions' + (f'/{session_id}' if session_id else '')
        client = await AguiClient(url, token_for(user), thread_id).start()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def session_of(client: AguiClient) -> str:
    return uuid.UUID(client.thread_id).hex


async def turns(api_url: str, session_id: str, user: str = 'ada') -> list[dict[str, Any]]:
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        return (await http.get(f'/sessions/{session_id}')).json()['turns']


def types(events: list[Line]) -> list[str]:
    return [e['type'] for e in events]


async def test_a_thread_starts_a_session_and_chats_on(agui: MakeClient, api_url: str) -> None:
    client = await agui()
    await client.say('hello there')
    first = await client.run()
    assert 'error' not in first
    assert reply_text(first['messages']) == [
        ('user', 'hello there'),
        ('assistant', expected_reply('hello there')),
    ]
    assert first['result'] == expected_reply('hello there')
    kinds = types(client.events(0))
    assert kinds[0] == 'RUN_STARTED' and kinds[-1] == 'RUN_FINISHED' and 'TEXT_MESSAGE_CONTENT' in kinds

    await client.say('and once more')
    second = await client.run()
    assert reply_text(second['messages']) == [
        ('user', 'hello there'),
        ('assistant', expected_reply('hello there')),
        ('user', 'and once more'),
        ('assistant', expected_reply('and once more')),
    ]
    assert client.warnings() == []
    # The thread is a session like any other: the REST API and the page see its turns.
    done = await turns(api_url, session_of(client))
    assert [(t['user_text'], t['reply'], t['status']) for t in done] == [
        ('hello there', expected_reply('hello there'), 'done'),
        ('and once more', expected_reply('and once more'), 'done'),
    ]

    # Another user's thread is no thread of theirs.
    intruder = await agui('mallory', thread_id=client.thread_id)
    await intruder.say('let me in')
    refused = await intruder.run()
    assert 'HTTP 404' in refused['error']
    other_route = await agui('mallory', session_id=session_of(client))
    await other_route.say('let me in')
    assert 'HTTP 404' in (await other_route.run())['error']


def last_run_finished(client: AguiClient, run: int) -> Line:
    [finished] = [e for e in client.events(run) if e['type'] == 'RUN_FINISHED']
    return finished


async def test_tool_calls_and_an_approval_answered_by_resuming(agui: MakeClient, api_url: str) -> None:
    client = await agui('bea')
    await client.say('remember that my bike is blue')
    remembered = await client.run()
    calls = [c for m in remembered['messages'] for c in m.get('toolCalls') or []]
    assert [c['function']['name'] for c in calls] == ['remember']
    results = [m for m in remembered['messages'] if m['role'] == 'tool']
    assert [r['toolCallId'] for r in results] == [calls[0]['id']]
    assert remembered['messages'][-1]['role'] == 'assistant' and remembered['messages'][-1]['content']

    # `forget` needs the user's yes: the run ends on an interrupt, and resuming answers it.
    await client.say('forget my bike is blue')
    asked = await client.run()
    [interrupt] = asked['pendingInterrupts']
    assert interrupt['reason'] == 'tool_call' and interrupt['toolCallId'] == interrupt['id']
    assert last_run_finished(client, 1)['outcome']['type'] == 'interrupt'
    assert (await turns(api_url, session_of(client), 'bea'))[-1]['status'] == 'running'

    resume = [{'interruptId': interrupt['id'], 'status': 'resolved', 'payload': {'approved': True}}]
    resumed = await client.run(resume=resume)
    assert 'error' not in resumed and resumed['pendingInterrupts'] == []
    kinds = types(client.events(2))
    assert kinds[0] == 'RUN_STARTED' and kinds[-1] == 'RUN_FINISHED' and 'TOOL_CALL_RESULT' in kinds
    forgotten = [m for m in resumed['messages'] if m['role'] == 'tool' and m['toolCallId'] == interrupt['id']]
    assert len(forgotten) == 1  # the approved call's result, once
    assert client.warnings() == []
    last = (await turns(api_url, session_of(client), 'bea'))[-1]
    assert last['status'] == 'done' and last['reply'] == resumed['messages'][-1]['content']
    headers = {'Authorization': f'Bearer {token_for("bea")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        approvals = (await http.get(f'/sessions/{session_of(client)}')).json()['approvals']
        assert [(a['id'], a['status']) for a in approvals] == [(interrupt['id'], 'approved')]
        await http.delete('/memories')


async def test_a_lost_connection_asks_again_with_the_same_message_and_gets_the_rest(
    agui: MakeClient, api_url: str
) -> None:
    client = await agui()
    await client.say('slow 40')
    # The connection drops after five tokens: the client keeps the part it was shown.
    cut = await client.run(abortAfter={'type': 'TEXT_MESSAGE_CONTENT', 'count': 5})
    [(_, partial)] = [m for m in reply_text(cut['messages']) if m[0] == 'assistant']
    assert partial == expected_reply('slow 40')[: len(partial)] and len(partial) < len(
        expected_reply('slow 40')
    )

    again = await client.run()  # the same input: the same user message id
    assert reply_text(again['messages']) == [('user', 'slow 40'), ('assistant', expected_reply('slow 40'))]
    assert 'MESSAGES_SNAPSHOT' in types(client.events(1))
    # Asked once more after the turn has ended: the same run, nothing doubled, no second turn.
    once_more = await client.run()
    assert reply_text(once_more['messages']) == [
        ('user', 'slow 40'),
        ('assistant', expected_reply('slow 40')),
    ]
    assert client.warnings() == []
    done = await turns(api_url, session_of(client))
    assert [(t['user_text'], t['reply'], t['status']) for t in done] == [
        ('slow 40', expected_reply('slow 40'), 'done')
    ]


async def test_a_worker_killed_mid_reply_shows_the_retried_attempt_once(
    agui: MakeClient, api_url: str, workers: Workers
) -> None:
    doomed = workers.ensure_one()
    client = await agui()
    await client.say('slow 50')
    started = await client.start_run()
    await client.wait_for(lambda: types(client.events(0)).count('TEXT_MESSAGE_CONTENT') >= 10)

    doomed.kill()
    workers.start()
    done = await client.finished(started, timeout=120)
    assert 'error' not in done
    # The first attempt's message is gone from the client; the retried attempt's is the reply.
    assert reply_text(done['messages']) == [('user', 'slow 50'), ('assistant', expected_reply('slow 50'))]
    custom = [e for e in client.events(0) if e['type'] == 'CUSTOM']
    [retry] = [e for e in custom if e['name'] == 'durable_chat.attempt_started']
    assert retry['value']['attempt'] == 2 and retry['value']['dropped']
    assert 'MESSAGES_SNAPSHOT' in types(client.events(0))
    assert client.warnings() == []
    [turn] = await turns(api_url, session_of(client))
    assert (turn['reply'], turn['status']) == (expected_reply('slow 50'), 'done')


CHANGE_BACKGROUND = {
    'name': 'change_background',
    'description': "Sets the page's background colour.",
    'parameters': {'type': 'object', 'properties': {'color': {'type': 'string'}}, 'required': ['color']},
}


async def test_a_tool_the_client_runs_waits_for_its_result(agui: MakeClient, api_url: str) -> None:
    client = await agui()
    args = {'color': 'teal'}
    await client.say(f'call change_background {json.dumps(args)}')
    asked = await client.run(tools=[CHANGE_BACKGROUND])
    [call] = [c for m in asked['messages'] for c in m.get('toolCalls') or []]
    assert (call['function']['name'], json.loads(call['function']['arguments'])) == (
        'change_background',
        args,
    )
    finished = last_run_finished(client, 0)
    assert finished['outcome'] == {'type': 'success', 'pendingToolCallIds': [call['id']]}
    assert (await turns(api_url, session_of(client)))[-1]['status'] == 'running'  # waiting, durably

    await client.add(
        {'id': 'r-1', 'role': 'tool', 'toolCallId': call['id'], 'content': 'the page is teal now'}
    )
    answered = await client.run(tools=[CHANGE_BACKGROUND])
    assert 'error' not in answered
    assert answered['messages'][-1]['content'] == 'change_background said: the page is teal now'
    assert [m['id'] for m in answered['messages'] if m['role'] == 'tool'] == ['r-1']
    # The same request again (a lost answer): the turn is not answered twice.
    again = await client.run(tools=[CHANGE_BACKGROUND])
    assert reply_text(again['messages']) == reply_text(answered['messages'])
    assert client.warnings() == []
    [turn] = await turns(api_url, session_of(client))
    assert (turn['status'], turn['reply']) == ('done', 'change_background said: the page is teal now')
    assert [(c['name'], c['result']) for c in turn['tool_calls']] == [
        ('change_background', 'the page is teal now')
    ]


async def test_a_client_tool_named_as_the_agents_own_is_not_offered(agui: MakeClient, api_url: str) -> None:
    """Two tools of one name would fail every request of the turn: the agent's own tool wins."""
    client = await agui()
    remember = {'name': 'remember', 'description': 'Remember it in the browser.', 'parameters': {}}
    await client.say('hello with tools')
    done = await client.run(tools=[remember, CHANGE_BACKGROUND, CHANGE_BACKGROUND])
    assert reply_text(done['messages'])[-1] == ('assistant', expected_reply('hello with tools'))
    [turn] = await turns(api_url, session_of(client))
    assert turn['status'] == 'done'
