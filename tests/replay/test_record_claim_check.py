"""Records the claim-check histories the replay tests replay (see test_record.py's docstring):

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record_claim_check.py

A session of ~2 KB turns and a tool turn with the payload store on, on small budgets so it compacts,
archives and continues as new: its model inputs, archive pages, summaries and carried states are
references in the history. The blobs they name are copied to histories/payloads/, where the
replay test's store reads them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from durable_chat.payload_store import FileStorageDriver
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.stack import Stack
from tests.replay.test_record import HISTORIES, save

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]

PAYLOADS = HISTORIES / 'payloads'
SMALL_BUDGETS = {
    'DURABLE_CHAT_SESSION_MAX_RUN_EVENTS': '150',
    'DURABLE_CHAT_SESSION_KEEP_TURNS': '5',
    'DURABLE_CHAT_SESSION_HISTORY_BUDGET_BYTES': '6000',
}
REFERENCE_TYPE = 'temporal.api.sdk.v1.ExternalStorageReference'


def keep_payloads(name: str, data_dir: Path) -> set[str]:
    """Copies the blobs the recorded histories `<name>*.json` refer to from the store under
    `data_dir` into PAYLOADS, where the replay reads them; returns their digests."""
    recorded, store = FileStorageDriver(PAYLOADS), FileStorageDriver(data_dir / 'payloads')
    digests = {
        d for path in HISTORIES.glob(f'{name}*.json') for d in references(json.loads(path.read_text()))
    }
    for digest in digests:
        recorded.path(digest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.path(digest), recorded.path(digest))
    return digests


def references(node: Any) -> Iterator[str]:
    """The sha256 of every reference in a history as JSON (payload metadata and data are base64)."""
    if isinstance(node, dict):
        metadata = node.get('metadata')
        if isinstance(metadata, dict) and metadata.get('messageType') == _b64(REFERENCE_TYPE):
            yield json.loads(_unb64(node['data']))['claimData']['sha256']
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


async def test_record_claim_check(tmp_path: Path) -> None:
    stack = Stack(tmp_path / 'stack').start(apis=[SMALL_BUDGETS])
    try:
        api_url, token = stack.apis[0].url, stack.token('rec')
        headers = {'Authorization': f'Bearer {token}'}
        async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:
            session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(api_url, session_id, token).connect()
        steps = [*(f'long k{i}' for i in range(1, 9)), 'remember that I like green tea', 'hello']
        for turn, text in enumerate(steps, start=1):
            await client.send(f'm-{turn}', text)
            await client.wait_for(lambda t=turn: client.finished(t))
        await client.disconnect()
        temporal = await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)
        HISTORIES.mkdir(exist_ok=True)
        await save(temporal, 'claim-check', session_id)
        assert keep_payloads('claim-check', stack.folder), 'no payload went to the store'
    finally:
        stack.stop()
