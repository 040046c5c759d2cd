"""A session whose snapshot the worker cannot answer (its query fails, as it does when a history does
not replay) is a 503 that says so over REST, and an ERROR frame then a try-again close on the
websocket: never a 500 or a dropped connection without a word."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from durable_chat.testing.chat_client import ChatClient
from durable_chat.workflows.contract import QUERY_SNAPSHOT, WORKFLOW_NAME, search_attributes, workflow_id
from tests.conftest import token_for

pytestmark = pytest.mark.integration

TASK_QUEUE = f'unreadable-{uuid.uuid4().hex[:8]}'


@workflow.defn(name=WORKFLOW_NAME)
class UnreadableSession:
    """Stands in for a session whose history no longer replays: its snapshot query fails."""

    @workflow.run
    async def run(self, start: object) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query(name=QUERY_SNAPSHOT)
    def snapshot(self) -> None:
        raise RuntimeError('history did not replay')


@pytest.fixture
async def unreadable(temporal_client: Client) -> AsyncIterator[str]:
    session_id = uuid.uuid4().hex
    async with Worker(
        temporal_client,
        task_queue=TASK_QUEUE,
        workflows=[UnreadableSession],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await temporal_client.start_workflow(
            WORKFLOW_NAME,
            {},
            id=workflow_id(session_id),
            task_queue=TASK_QUEUE,
            search_attributes=search_attributes('ursula', 'idle'),
        )
        yield session_id
        await handle.terminate('test over')


async def test_an_unreadable_session_is_a_503_with_a_reason(api_url: str, unreadable: str) -> None:
    headers = {'Authorization': f'Bearer {token_for("ursula")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as ursula:
        answer = await ursula.get(f'/sessions/{unreadable}')
        assert answer.status_code == 503
        assert answer.json()['detail'] == (f'session {unreadable} could not be read: history did not replay')
        # Another user still learns nothing: not even that it exists.
        other = {'Authorization': f'Bearer {token_for("victor")}'}
        assert (await ursula.get(f'/sessions/{unreadable}', headers=other)).status_code == 404


async def test_an_unreadable_sessions_websocket_says_so_and_asks_to_come_back(
    api_url: str, unreadable: str
) -> None:
    client = await ChatClient(api_url, unreadable, token_for('ursula')).connect()
    await client.wait_for(lambda: client.close_code is not None)
    [error] = client.of_type('ERROR')
    assert (error['status'], error['reason']) == (
        503,
        f'session {unreadable} could not be read: history did not replay',
    )
    assert client.close_code == 1013
