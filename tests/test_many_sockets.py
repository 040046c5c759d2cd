"""One API process carries many websockets at once: each holds a Redis connection in its XREAD."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

WATCHERS = 150
"""Past redis-py's default pool of 100 connections, which used to drop every socket beyond it."""


async def test_a_hundred_and_fifty_sockets_on_one_api_all_see_the_reply(
    api_url: str, workers: Workers, http: httpx.AsyncClient
) -> None:
    workers.ensure_one()
    session_id = (await http.post('/sessions', json={})).json()['session_id']
    watchers = [ChatClient(api_url, session_id, token_for('alice')) for _ in range(WATCHERS)]
    await asyncio.gather(*(watcher.connect() for watcher in watchers))
    try:
        await asyncio.gather(*(w.wait_for(lambda w=w: w.of_type('SNAPSHOT')) for w in watchers))
        await watchers[0].send('m-1', 'hello, everyone')
        await asyncio.gather(*(w.wait_for(lambda w=w: w.finished(1), timeout=60) for w in watchers))
        assert {w.streamed_text(1) for w in watchers} == {expected_reply('hello, everyone')}
    finally:
        await asyncio.gather(*(watcher.disconnect() for watcher in watchers))
