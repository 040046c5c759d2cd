"""The recall before a turn of a user with memories is prepared by the API as it signals the
message (`workflows/prepared_recall.py`): the turn takes it in a local activity instead of sending
the memory worker a recall of its own, and never one that a memory stored meanwhile made stale."""

from __future__ import annotations

import json

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from durable_chat.memory.types import RECALL_MEMORIES
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.stack import Workers
from durable_chat.workflows.contract import workflow_id
from tests.conftest import token_for
from tests.test_memory_sessions import new_session, say, signed_in

pytestmark = pytest.mark.integration


async def recalls(temporal_client: Client, session_id: str) -> tuple[int, list[bool]]:
    """The session's recall activities, and whether each `prepared_recall` it ran found one."""
    history = await temporal_client.get_workflow_handle(workflow_id(session_id)).fetch_history()
    activities = 0
    prepared: list[bool] = []
    for event in history.events:
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name == RECALL_MEMORIES
        ):
            activities += 1
        marker = event.marker_recorded_event_attributes
        if (
            event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and marker.marker_name == 'core_local_activity'
        ):
            if json.loads(marker.details['data'].payloads[0].data)['activity_type'] == 'prepared_recall':
                result = marker.details['result'].payloads[0]  # None is `binary/null`, no data
                prepared.append(bool(result.data) and json.loads(result.data) is not None)
    return activities, prepared


async def test_a_turn_takes_the_recall_the_api_prepared_for_its_message(
    api_url: str, workers: Workers, temporal_client: Client
) -> None:
    workers.ensure_one()
    async with signed_in(api_url, 'prepared') as http:
        try:
            await say(api_url, http, 'prepared', await new_session(http), 'remember that my car is red')
            asking = await new_session(http)
            reply = await say(api_url, http, 'prepared', asking, 'instructions: what colour is my car?')
            assert reply == 'Instructed: my car is red'
            assert await recalls(temporal_client, asking) == (0, [True])
        finally:
            await http.delete('/memories')


async def test_a_prepared_recall_a_newer_memory_made_stale_is_not_taken(
    api_url: str, workers: Workers, temporal_client: Client
) -> None:
    workers.ensure_one()
    async with signed_in(api_url, 'prepared-stale') as http:
        try:
            await say(api_url, http, 'prepared-stale', await new_session(http), 'remember that my car is red')
            asking = await new_session(http)
            client = await ChatClient(api_url, asking, token_for('prepared-stale')).connect()
            await client.send('m-1', 'slow 300')
            await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
            # Queued behind turn 1: the API prepares its recall now, before the next memory exists.
            await client.send('m-2', 'instructions: what colour is my car?')
            await client.wait_for(lambda: [a for a in client.of_type('ACK') if a['id'] == 'm-2'])
            await say(
                api_url, http, 'prepared-stale', await new_session(http), 'remember that my new car is blue'
            )
            assert (await http.post(f'/sessions/{asking}/interrupt', json={})).status_code == 200
            await client.wait_for(lambda: client.finished(2), timeout=60)
            await client.disconnect()
            assert 'my new car is blue' in client.streamed_text(2)
            # Turn 1 took its prepared recall; turn 2's was stale, and it recalled itself.
            assert await recalls(temporal_client, asking) == (1, [True, False])
        finally:
            await http.delete('/memories')
