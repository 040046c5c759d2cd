"""Redis lost mid-reply: Valkey comes back EMPTY (a new data dir) while a long reply streams.

The stream is only the live tail; the workflow holds the truth. A connected client still ends with
the whole reply and never doubled text; a client that reconnects with an event id the new Redis never
had gets a fresh snapshot. (A restart that keeps the append-only file is the chaos runner's case.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.chaos.render import is_gap, view
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.servers import Valkey
from durable_chat.testing.services import Api, api, worker
from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

REPLY = 'slow 150 loss'
"""150 tokens, 40 ms apart: six seconds of streaming to lose Redis in."""


class OwnRedis:
    """A chat worker and an API on a Valkey of their own, so losing it touches no other test."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.valkey = Valkey(folder / 'first').start()
        self.env = {**env, 'DURABLE_CHAT_REDIS_URL': self.valkey.url}
        self.env['DURABLE_CHAT_TASK_QUEUE'] = 'chat-redis-loss'
        self.worker = worker(self.env, 'chat').start()
        self.api: Api = api(self.env).start()

    def lose_redis(self) -> None:
        """Valkey gone with everything it held: it starts again on the same port with an empty data dir."""
        self.valkey.stop()
        self.valkey = Valkey(self.folder / 'second', self.valkey.port).start()

    def stop(self) -> None:
        self.api.stop()
        self.worker.stop()
        self.valkey.stop()


@pytest.fixture
def own_redis(tmp_path: Path, service_env: dict[str, str], workers: Workers) -> Iterator[OwnRedis]:
    assert workers.memory is not None  # the suite's memory worker serves recall for this worker's turns
    stack = OwnRedis(tmp_path, service_env)
    yield stack
    stack.stop()


async def test_redis_restarted_empty_mid_stream_clients_end_with_the_whole_reply(own_redis: OwnRedis) -> None:
    token = token_for('redis-loss')
    url = own_redis.api.url
    async with httpx.AsyncClient(base_url=url, headers={'Authorization': f'Bearer {token}'}) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        staying = await ChatClient(url, session_id, token).connect()
        leaving = await ChatClient(url, session_id, token).connect()
        await staying.send('m-1', REPLY)
        await leaving.wait_for(lambda: len(leaving.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 10)
        await leaving.disconnect()
        gone_id = leaving.last_event_id
        seen_before = len(leaving.frames)

        own_redis.lose_redis()
        # Reconnects with an id the new Redis never had, while the turn still streams.
        await leaving.connect(after=gone_id)
        await leaving.wait_for(lambda: len(leaving.frames) > seen_before)
        assert leaving.frames[seen_before]['type'] == 'SNAPSHOT'

        full = expected_reply(REPLY)
        for client in (staying, leaving):
            await client.wait_for(lambda c=client: c.done(1), timeout=90)
            shown = view(client.frames, 1)
            assert shown.rendered == full
            # Tokens the lost stream held may be missing from the live text (RUN_FINISHED fills them in),
            # but none is ever shown twice or out of order.
            assert is_gap(shown.streamed, full), shown.streamed
            await client.disconnect()

        turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
        assert [(t['reply'], t['status']) for t in turns] == [(full, 'done')]
        # A page loaded now, with the old id, gets the snapshot: the whole reply and nothing after it.
        late = await ChatClient(url, session_id, token).connect(after=gone_id)
        await late.wait_for(lambda: late.of_type('SNAPSHOT'))
        assert view(late.frames, 1).rendered == full
        assert late.of_type('TEXT_MESSAGE_CONTENT', 1) == []
        await late.disconnect()
