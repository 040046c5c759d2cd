"""Check-ins on the real stack: a check-in's schedule keeps coming, each time once, after every chat
worker is SIGKILLed and started again (the schedule lives in Temporal, the session's turns in its
history)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

USER = 'cora'


@pytest.fixture
async def cora(api_url: str, workers: Workers) -> AsyncIterator[httpx.AsyncClient]:
    workers.ensure_one()
    headers = {'Authorization': f'Bearer {token_for(USER)}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield http


async def test_a_check_in_keeps_coming_once_each_time_across_a_sigkilled_worker(
    api_url: str, cora: httpx.AsyncClient, workers: Workers
) -> None:
    session_id = (await cora.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(api_url, session_id, token_for(USER)).connect()
    args = {'text': 'stretch', 'every_seconds': 2}
    await client.send('m-1', f'call check_in {json.dumps(args)}')
    await client.wait_for(lambda: client.finished(2), timeout=60)  # the first check-in turn

    # Every chat worker dies: the session's cached run and any CheckInDue run in flight go with them.
    for doomed in [w for w in workers.chat if not w.exited()]:
        doomed.kill()
    killed_after = max(f['turn'] for f in client.of_type('RUN_FINISHED'))
    workers.start()
    # Two more check-in turns after the restart: the schedule kept going.
    await client.wait_for(lambda: client.finished(killed_after + 2), timeout=120)

    turns = (await cora.get(f'/sessions/{session_id}')).json()['turns']
    check_ins = [t for t in turns if t['kind'] == 'check_in']
    assert [t['number'] for t in turns] == list(range(1, len(turns) + 1))
    assert [t['kind'] for t in turns[1:]] == ['check_in'] * (len(turns) - 1)
    assert len({t['message_id'] for t in check_ins}) == len(check_ins)  # each scheduled time once
    assert all(t['status'] in ('done', 'running', 'queued') for t in check_ins)
    finished = [f['turn'] for f in client.of_type('RUN_FINISHED')]
    assert len(finished) == len(set(finished))  # no turn streamed its end twice
    assert client.delivery_faults() == []

    cancelled = await cora.delete(f'/sessions/{session_id}/check-ins/c1-1')
    assert cancelled.status_code == 200, cancelled.text
    await client.disconnect()
