"""Records a session whose tool events go out in local activities (see test_record.py's docstring):

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record_tool_events.py

A remember turn (the tool's call event is not delivered, its result in a local activity), a recall
turn, a forget that waits for an approval, then a plain turn, on code with `tool-events-local`.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.processes import Process
from tests.conftest import token_for
from tests.replay.test_record import HISTORIES, conversation, save
from tests.replay.test_record_claim_check import keep_payloads

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]


async def test_record_tool_events(
    api_url: str, worker: Process, temporal_client: Client, service_env: dict[str, str]
) -> None:
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for("rec")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await conversation(
            api_url, session_id, 'remember that my locker is 12', 'what do you remember', 'forget my locker'
        )
        [request] = client.of_type('APPROVAL_REQUESTED')
        await http.post(f'/sessions/{session_id}/approvals/{request["id"]}', json={'approve': True})
        await client.wait_for(lambda: client.finished(3))
        await client.send('m-4', 'hello')
        await client.wait_for(lambda: client.finished(4))
        await client.disconnect()
    await save(temporal_client, 'tool-events', session_id)
    keep_payloads('tool-events', Path(service_env['DURABLE_CHAT_DATA_DIR']))
