"""Records a session whose runs decide their patches up front (see test_record.py's docstring):

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record_up_front.py

Turns of a user without memories (the memory hint's local activity, then the model), an interrupt,
a remember turn and a continue-as-new (small limits), all on code that decides patches at a run's start.
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
from tests.test_approval import eventually

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]


async def test_record_patches_up_front(
    small_limits_api: str, worker: Process, temporal_client: Client, service_env: dict[str, str]
) -> None:
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for("rec-up-front")}'}
    async with httpx.AsyncClient(base_url=small_limits_api, headers=headers, timeout=60) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(small_limits_api, session_id, token_for('rec-up-front')).connect()
        await client.send('m-1', 'slow 200')
        await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
        await http.post(f'/sessions/{session_id}/interrupt', json={})
        await client.wait_for(lambda: client.of_type('TURN_INTERRUPTED', 1))
        await client.disconnect()
        steps = ['hello', 'remember that I row', *(f'long u{i}' for i in range(1, 9))]
        client = await ChatClient(small_limits_api, session_id, token_for('rec-up-front')).connect()
        for turn, text in enumerate(steps, start=2):
            await client.send(f'm-{turn}', text)
            await client.wait_for(lambda t=turn: client.finished(t), timeout=60)
        await client.disconnect()
        last = len(steps) + 1

        async def quiet() -> bool | None:
            shown = (await http.get(f'/sessions/{session_id}')).json()
            return shown['status'] == 'idle' and shown['turns'][-1]['number'] == last or None

        await eventually(quiet)
    await save(temporal_client, 'patches-up-front', session_id)
    keep_payloads('patches-up-front', Path(service_env['DURABLE_CHAT_DATA_DIR']))
