"""Records the delegation histories the replay tests replay. Skipped unless asked for:

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record_delegation.py

A lead session (examples/delegation) whose first turn delegates to the researcher and gets its
answer, and whose second turn delegates and is interrupted while the researcher streams: the
session's history (`delegation.json`) and each child workflow's (`delegation-child1.json`, the one
that answered; `delegation-child2.json`, the one cancelled).
"""

from __future__ import annotations

import os

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from durable_chat.testing.services import Api
from durable_chat.workflows.contract import workflow_id
from tests.conftest import token_for
from tests.replay.test_record import HISTORIES, save
from tests.test_approval import eventually
from tests.test_delegation import (  # noqa: F401  (fixtures: a chat worker and an API serving the lead)
    USER,
    delegating,
    lead_api,
    lead_env,
    lead_workers,
    nested,
    start,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]


async def closed_history(temporal_client: Client, wid: str) -> WorkflowHistory:
    handle = temporal_client.get_workflow_handle(wid)

    async def closed() -> bool:
        return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING

    await eventually(closed)
    return await handle.fetch_history()


async def test_record_delegation(lead_api: Api, temporal_client: Client) -> None:  # noqa: F811
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for(USER)}'}
    async with httpx.AsyncClient(base_url=lead_api.url, headers=headers, timeout=60) as http:
        client = await start(lead_api, http, delegating('slow 3 r'))
        await client.wait_for(lambda: client.finished(1), timeout=60)
        await client.send('m-2', delegating('slow 300 r'))
        await client.wait_for(lambda: any(f['type'] == 'TEXT_MESSAGE_CONTENT' for f in nested(client, 2)))
        await http.post(f'/sessions/{client.session_id}/interrupt', json={})
        await client.wait_for(lambda: client.of_type('TURN_INTERRUPTED', 2))
        await client.disconnect()

        async def idle() -> bool:
            shown = (await http.get(f'/sessions/{client.session_id}')).json()
            return shown['status'] == 'idle'

        await eventually(idle)
    session_id = client.session_id
    handle = temporal_client.get_workflow_handle(workflow_id(session_id))
    children = [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]
    assert len(children) == 2
    for index, child_id in enumerate(children, start=1):
        history = await closed_history(temporal_client, child_id)
        (HISTORIES / f'delegation-child{index}.json').write_text(history.to_json())
    await save(temporal_client, 'delegation', session_id)
