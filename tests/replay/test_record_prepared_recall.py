"""Records a session whose turns take the recall the API prepared (see test_record.py's docstring):

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record_prepared_recall.py

A user with memories asks twice: the first turn takes the API's recall (`prepared_recall`), the
second was queued behind a turn while another session stored a memory, so its prepared recall is
stale and it recalls itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from tests.conftest import token_for
from tests.replay.test_record import HISTORIES, save
from tests.replay.test_record_claim_check import keep_payloads
from tests.test_memory_sessions import new_session, say

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]


async def test_record_prepared_recall(
    api_url: str, worker: Process, temporal_client: Client, service_env: dict[str, str]
) -> None:
    HISTORIES.mkdir(exist_ok=True)
    user = 'rec-prepared'
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:
        await say(api_url, http, user, await new_session(http), 'remember that my car is red')
        session_id = await new_session(http)
        client = await ChatClient(api_url, session_id, token_for(user)).connect()
        await client.send('m-1', 'instructions: what colour is my car?')
        await client.wait_for(lambda: client.finished(1))
        await client.send('m-2', 'slow 300')
        await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 2))
        await client.send('m-3', 'instructions: what colour is my car?')
        await client.wait_for(lambda: [a for a in client.of_type('ACK') if a['id'] == 'm-3'])
        await say(api_url, http, user, await new_session(http), 'remember that my new car is blue')
        await http.post(f'/sessions/{session_id}/interrupt', json={})
        await client.wait_for(lambda: client.finished(3), timeout=60)
        await client.disconnect()
        await http.delete('/memories')
    await save(temporal_client, 'prepared-recall', session_id)
    keep_payloads('prepared-recall', Path(service_env['DURABLE_CHAT_DATA_DIR']))
