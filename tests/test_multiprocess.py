"""The production shape on loopback: two chat workers, one memory worker, two API processes.

Twenty sessions chat while one chat worker and one API are killed with SIGKILL mid-stream; clients
of the dead API reconnect to the surviving one with their last event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from durable_chat.testing import services
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.services import Api
from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

SESSIONS = 20
USER = 'multi'


@pytest.fixture
def two_apis(service_env: dict[str, str]) -> Iterator[list[Api]]:
    apis = [services.api(service_env) for _ in range(2)]
    with services.running(*apis):
        yield apis


def script(index: int) -> list[str]:
    return [
        f'slow 25 s{index}a',
        f'remember that session {index} likes the number {index * 11}',
        f'slow 25 s{index}b',
    ]


async def chat(client: ChatClient, index: int, survivor: str) -> None:
    """Sends the session's messages one by one; reconnects to the survivor if its API dies."""
    for turn, text in enumerate(script(index), start=1):
        await client.send(f'{index}-{turn}', text)
        while True:
            try:
                await client.wait_for(lambda t=turn: client.done(t), timeout=90)
                break
            except AssertionError:  # the socket closed under us: resume on the surviving API
                client.ws_url = survivor.replace('http', 'ws', 1) + f'/ws/sessions/{client.session_id}'
                await client.connect(after=client.last_event_id)
                # A message the dead API never acknowledged may be lost with it: send it again, as
                # the page does; the same id makes a second delivery harmless.
                await client.send(f'{index}-{turn}', text)


async def test_twenty_sessions_survive_a_killed_worker_and_a_killed_api(
    two_apis: list[Api], workers: Workers
) -> None:
    workers.ensure_one()
    doomed_worker = workers.start()
    doomed_api, survivor = two_apis
    headers = {'Authorization': f'Bearer {token_for(USER)}'}
    async with httpx.AsyncClient(base_url=survivor.url, headers=headers, timeout=60) as http:
        await http.delete('/memories')
        sessions = [(await http.post('/sessions', json={})).json()['session_id'] for _ in range(SESSIONS)]
        clients = [
            await ChatClient((doomed_api if i % 2 else survivor).url, s, token_for(USER)).connect()
            for i, s in enumerate(sessions)
        ]
        chats = [asyncio.create_task(chat(c, i, survivor.url)) for i, c in enumerate(clients)]
        await clients[1].wait_for(lambda: len(clients[1].of_type('TEXT_MESSAGE_CONTENT', 1)) >= 5)
        doomed_worker.kill()
        doomed_api.kill()
        await asyncio.gather(*chats)

        for index, (session_id, client) in enumerate(zip(sessions, clients, strict=True)):
            texts = script(index)
            turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
            assert [(t['user_text'], t['status']) for t in turns] == [(text, 'done') for text in texts]
            for turn, text in ((1, texts[0]), (3, texts[2])):
                assert turns[turn - 1]['reply'] == expected_reply(text)
                assert client.rendered_text(turn) == expected_reply(text), (index, turn)
            await client.disconnect()
        memories = sorted(m['text'] for m in (await http.get('/memories')).json())
        assert memories == sorted(f'session {i} likes the number {i * 11}' for i in range(SESSIONS))
    assert any(c.ws_url.startswith(survivor.url.replace('http', 'ws', 1)) for c in clients[1::2])
