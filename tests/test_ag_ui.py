"""AG-UI clients chat with durable sessions: the official `@ag-ui/client` (HttpAgent, from npm, run
by Node) drives `POST /ag-ui/sessions[/{id}]` through plain turns, tool calls, approvals, a lost
connection, a worker killed mid-reply and tools the client runs itself."""

from __future__ import annotations

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
