"""Records the AG-UI histories the replay tests replay (see test_record.py's docstring):

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record_ag_ui.py

`ag-ui`: a session an AG-UI client started from its thread id, chatting through `@ag-ui/client`: a
plain turn, a tool call, and an approval answered by resuming. `ag-ui-client-tool`: a turn whose
model calls a tool the client runs itself, waiting for the client's result. The blobs their
histories name (the payload store) are copied to histories/payloads/.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from durable_chat.testing.ag_ui_client import AguiClient
from durable_chat.testing.stack import Stack
from tests.replay.test_record import HISTORIES, save
from tests.replay.test_record_claim_check import keep_payloads

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]

CHANGE_BACKGROUND = {
    'name': 'change_background',
    'description': "Sets the page's background colour.",
    'parameters': {'type': 'object', 'properties': {'color': {'type': 'string'}}, 'required': ['color']},
}


async def test_record_ag_ui(tmp_path: Path) -> None:
    stack = Stack(tmp_path / 'stack').start(apis=[{}])
    clients: list[AguiClient] = []
    try:
        url, token = f'{stack.apis[0].url}/ag-ui/sessions', stack.token('rec')
        chat = await AguiClient(url, token).start()
        clients.append(chat)
        for text in ('hello', 'remember that my kayak is red', 'forget my kayak is red'):
            await chat.say(text)
            done = await chat.run()
            assert 'error' not in done
        [interrupt] = done['pendingInterrupts']
        resume = [{'interruptId': interrupt['id'], 'status': 'resolved', 'payload': {'approved': True}}]
        assert 'error' not in await chat.run(resume=resume)

        tools = await AguiClient(url, token).start()
        clients.append(tools)
        await tools.say('call change_background {"color": "teal"}')
        asked = await tools.run(tools=[CHANGE_BACKGROUND])
        [call] = [c for m in asked['messages'] for c in m.get('toolCalls') or []]
        await tools.add(
            {'id': 'r-1', 'role': 'tool', 'toolCallId': call['id'], 'content': 'the page is teal'}
        )
        assert 'error' not in await tools.run(tools=[CHANGE_BACKGROUND])

        temporal = await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)
        HISTORIES.mkdir(exist_ok=True)
        await save(temporal, 'ag-ui', uuid.UUID(chat.thread_id).hex)
        await save(temporal, 'ag-ui-client-tool', uuid.UUID(tools.thread_id).hex)
        keep_payloads('ag-ui', stack.folder)
    finally:
        for client in clients:
            await client.close()
        stack.stop()
