"""Records the compensation history the replay tests replay (see test_record.py's docstring):

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record_compensation.py

A trip turn books a flight and a hotel and is stopped: the session cancels both (undo activities),
then a turn that fails after booking is undone the same way, and a last turn finishes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.stack import Stack
from tests.replay.test_record import HISTORIES, save

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]

FLIGHT = 'book_flight {"to": "Oslo", "date": "2026-12-01"}'
HOTEL = 'book_hotel {"city": "Oslo", "nights": 2}'


async def test_record_compensation(tmp_path: Path) -> None:
    repo = Path(__file__).parent.parent.parent
    settings = {
        'DURABLE_CHAT_AGENTS_MODULE': 'tests.workflows.shop_agents',
        'PYTHONPATH': str(repo),
        'MCP_PYTHON': sys.executable,
        'SHOP_LEDGER': str(tmp_path / 'ledger.json'),
        'TRIP_BOOKINGS': str(tmp_path / 'bookings.json'),
    }
    stack = Stack(tmp_path / 'stack', settings=settings).start(apis=[{}])
    try:
        api_url, token = stack.apis[0].url, stack.token('rec')
        headers = {'Authorization': f'Bearer {token}'}
        async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:
            session_id = (await http.post('/sessions', json={'agent': 'trip'})).json()['session_id']
            client = await ChatClient(api_url, session_id, token).connect()
            await client.send('m-1', f'tools {FLIGHT}; {HOTEL} then slow 300')
            await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
            await http.post(f'/sessions/{session_id}/interrupt', json={})
            await client.wait_for(lambda: len(client.of_type('TOOL_UNDONE', 1)) == 2)
            await client.send('m-2', f'tools {FLIGHT} then rejected')
            await client.wait_for(lambda: client.of_type('TOOL_UNDONE', 2))
            await client.send('m-3', 'hello')
            await client.wait_for(lambda: client.finished(3))
            await client.disconnect()
        temporal = await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)
        HISTORIES.mkdir(exist_ok=True)
        await save(temporal, 'compensation', session_id)
    finally:
        stack.stop()
