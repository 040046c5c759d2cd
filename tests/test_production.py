"""The production shape's edges: readiness follows its dependencies, workers and APIs stop gracefully."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from durable_chat.testing import services
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.servers import TemporalServer, Valkey
from durable_chat.testing.stack import Workers

pytestmark = pytest.mark.integration


async def ready(http: httpx.AsyncClient) -> tuple[int, dict]:
    response = await http.get('/readyz')
    return response.status_code, response.json()['checks']


async def until_ready(http: httpx.AsyncClient, want: dict[str, bool], timeout: float = 30) -> None:
    async def poll() -> None:
        while (await ready(http))[1] != want:  # noqa: ASYNC110 - readiness is only known by asking
            await asyncio.sleep(0.2)

    await asyncio.wait_for(poll(), timeout)


async def test_readyz_reports_each_dependency_down_and_recovers(
    api_url: str, workers: Workers, valkey: Valkey, temporal_server: TemporalServer
) -> None:
    workers.ensure_one()
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as http:
        assert (await http.get('/healthz')).json() == {'status': 'ok'}
        await until_ready(http, {'temporal': True, 'redis': True, 'memory': True})
        assert (await ready(http))[0] == 200

        valkey.stop()
        status, checks = await ready(http)
        assert (status, checks) == (503, {'temporal': True, 'redis': False, 'memory': True})
        valkey.start()
        await until_ready(http, {'temporal': True, 'redis': True, 'memory': True})

        temporal_server.kill()
        status, checks = await ready(http)
        assert (status, checks['temporal'], checks['redis']) == (503, False, True)
        temporal_server.start()
        await until_ready(http, {'temporal': True, 'redis': True, 'memory': True})


async def test_sigterm_of_a_worker_mid_turn_lets_the_turn_complete(
    http: httpx.AsyncClient, api_url: str, workers: Workers, alice_token: str
) -> None:
    stopping = workers.ensure_one()
    session_id = (await http.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(api_url, session_id, alice_token).connect()
    await client.send('m-1', 'slow 60')
    await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 5)
    workers.start()  # the other worker, taking over what the stopping one hands back
    stopping.send_signal(signal.SIGTERM)
    await client.wait_for(lambda: client.finished(1), timeout=60)
    assert client.streamed_text(1) == expected_reply('slow 60')
    assert stopping.popen is not None and stopping.popen.wait(30) == 0
    turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
    assert [(t['status'], t['reply']) for t in turns] == [('done', expected_reply('slow 60'))]
    await client.disconnect()


async def test_sigterm_of_an_api_closes_websockets_with_a_code_the_page_reconnects_on(
    service_env: dict[str, str], workers: Workers, http: httpx.AsyncClient, alice_token: str
) -> None:
    workers.ensure_one()
    api = services.api(service_env).start()
    session_id = (await http.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(api.url, session_id, alice_token).connect()
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))
    api.send_signal(signal.SIGTERM)
    await client.wait_for(lambda: client.close_code is not None, timeout=15)
    assert client.close_code in (1001, 1012)  # going away / service restart: the page reconnects
    assert api.popen is not None and api.popen.wait(15) == 0
