"""Records the check-in history the replay tests replay (tests/replay/histories/check-in.json): a
check-in set every 2 seconds, two of its turns, its cancel; a second check-in left active, deleted by
the session's close. Skipped unless asked for:

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record_check_ins.py
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from tests.conftest import token_for
from tests.replay.test_record import HISTORIES, save
from tests.test_approval import eventually

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]


async def test_record_check_ins(api_url: str, worker: Process, temporal_client: Client) -> None:
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for("rec")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:
        session_id = (await http.post('/sessions', json={'timezone': 'Europe/Lisbon'})).json()['session_id']
        client = await ChatClient(api_url, session_id, token_for('rec')).connect()
        every = {'text': 'drink water', 'every_seconds': 2}
        await client.send('m-1', f'call check_in {json.dumps(every)}')
        await client.wait_for(lambda: client.finished(3), timeout=60)  # two check-in turns
        cancelled = await http.delete(f'/sessions/{session_id}/check-ins/c1-1')
        assert cancelled.status_code == 200, cancelled.text

        async def settled() -> dict[str, Any] | None:
            shown = (await http.get(f'/sessions/{session_id}')).json()
            waiting = any(t['status'] in ('queued', 'running') for t in shown['turns'])
            return None if waiting or shown['status'] != 'idle' else shown

        turns = len((await eventually(settled))['turns'])
        weekly = {'text': 'my week', 'cron': '0 9 * * 1'}
        await client.send('m-2', f'call check_in {json.dumps(weekly)}')
        await client.wait_for(lambda: client.finished(turns + 1))
        await eventually(settled)
        assert (await http.post(f'/sessions/{session_id}/close')).status_code == 200
        await client.disconnect()
    await save(temporal_client, 'check-in', session_id)
