"""A reply that never stops ends at the reply budget; a turn that runs too long ends at the time budget.

Both keep what was written and say why, and the session is free for the next message at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.services import api, running, worker
from durable_chat.testing.stack import Workers
from durable_chat.workflows.session import STOPPED_MARKER, TIME_BUDGET
from tests.conftest import token_for
from tests.test_control import model_inputs

pytestmark = pytest.mark.integration

REPLY_TOKENS = 40
TURN_SECONDS = 5


@pytest.fixture(scope='module')
def budget_api(service_env: dict[str, str], workers: Workers) -> Iterator[str]:
    """A chat worker and API of their own: a tiny reply budget and a 5 s turn budget."""
    env = {
        **service_env,
        'DURABLE_CHAT_TASK_QUEUE': 'chat-turn-limits',
        'DURABLE_CHAT_MAX_REPLY_TOKENS': str(REPLY_TOKENS),
        'DURABLE_CHAT_SESSION_TURN_SECONDS': str(TURN_SECONDS),
    }
    server = api(env)
    with running(worker(env, 'chat'), server):
        yield server.url


@asynccontextmanager
async def _session(api: str, user: str) -> AsyncIterator[tuple[httpx.AsyncClient, ChatClient]]:
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    async with httpx.AsyncClient(base_url=api, timeout=30, headers=headers) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(api, session_id, token_for(user)).connect()
        yield http, client
        await client.disconnect()


async def test_a_reply_that_never_stops_ends_at_the_reply_budget(budget_api: str) -> None:
    async with _session(budget_api, 'una') as (http, client):
        await client.send('m1', 'endless')
        await client.send('m2', 'and after that?')
        await client.wait_for(lambda: client.finished(2), timeout=60)

        finished = client.finished(1)
        assert finished is not None
        words = [f'e{i} ' for i in range(1, REPLY_TOKENS + 1)]
        assert client.streamed_text(1) == finished['result'] == ''.join(words)
        assert finished['note'] == f'Cut off: a reply may be at most {REPLY_TOKENS} tokens long.'
        # One attempt, one message: cut cleanly, not failed and retried.
        assert {(f['step'], f['attempt']) for f in client.of_type('TEXT_MESSAGE_CONTENT', 1)} == {(1, 1)}
        assert [f['type'] for f in client.frames if f.get('turn') == 1 and 'START' in f['type']] == [
            'TEXT_MESSAGE_START'
        ]
        assert len(client.of_type('TEXT_MESSAGE_END', 1)) == 1
        assert client.streamed_text(2) == expected_reply('and after that?')
        turns = (await http.get(f'/sessions/{client.session_id}')).json()['turns']
        assert [(t['status'], t['note']) for t in turns] == [('done', finished['note']), ('done', '')]
        assert client.delivery_faults() == []


async def test_a_turn_past_its_time_budget_stops_with_what_it_wrote(
    budget_api: str, temporal_client: Client
) -> None:
    async with _session(budget_api, 'vic') as (http, client):
        await client.send('m1', 'drip 30')  # 15 s of tokens, well under the reply budget
        await client.send('m2', 'still there?')
        await client.wait_for(lambda: client.finished(2), timeout=60)

        stopped = client.of_type('TURN_INTERRUPTED', 1)
        assert len(stopped) == 1 and stopped[0]['by'] == TIME_BUDGET
        assert stopped[0]['note'] == 'Stopped: a reply may take at most 5 seconds.'
        seen = client.streamed_text(1)
        assert seen.startswith('d1 d2 ') and stopped[0]['reply'] == seen
        assert len(seen.split()) < 30
        turns = (await http.get(f'/sessions/{client.session_id}')).json()['turns']
        assert [(t['status'], t['reply'], t['note']) for t in turns] == [
            ('interrupted', seen, stopped[0]['note']),
            ('done', expected_reply('still there?'), ''),
        ]
        last_input = (await model_inputs(temporal_client, client.session_id))[-1]
        assert f'{seen}\\n\\n{STOPPED_MARKER}' in last_input
        assert client.delivery_faults() == []
