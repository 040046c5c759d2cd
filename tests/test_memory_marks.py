"""A stored memory marks the user's memories changed (the generation that voids a "known empty" hint):
in the store activity when the memory worker reaches Redis, else in the session's local activity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Replayer

from durable_chat.memory.types import STORE_MEMORY
from durable_chat.memory.workflows import MemoryOperation
from durable_chat.testing.processes import free_port
from durable_chat.testing.services import api, running, worker
from durable_chat.testing.stack import Workers
from durable_chat.workflows.contract import workflow_id
from durable_chat.workflows.session import ChatSession
from tests.replay.conftest import registry
from tests.test_memory_hints import recalled_after_a_store_elsewhere

# The replays below need the agents installed, as a worker installs them.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures('registry')]
__all__ = ['registry']


async def marks(temporal_client: Client, session_id: str) -> tuple[list[bool], list[str]]:
    """Each store's `marked_changed`, and the session's local activities, in history order (which
    replays on today's code)."""
    history = await temporal_client.get_workflow_handle(workflow_id(session_id)).fetch_history()
    stores: dict[int, str] = {}
    marked: list[bool] = []
    local: list[str] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            stores[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if stores.get(done.scheduled_event_id) == STORE_MEMORY:
                marked.append(json.loads(done.result.payloads[0].data)['marked_changed'])
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            details = event.marker_recorded_event_attributes.details
            if 'data' in details:
                local.append(json.loads(details['data'].payloads[0].data)['activity_type'])
    # The workers' converter and payload store: the history refers to its large payloads there.
    replayer = Replayer(
        workflows=[ChatSession, MemoryOperation],
        plugins=[PydanticAIPlugin()],
        data_converter=temporal_client.data_converter,
    )
    await replayer.replay_workflow(history)
    return marked, local


async def test_the_store_activity_marks_the_change(
    api_url: str, workers: Workers, temporal_client: Client
) -> None:
    workers.ensure_one()
    _, telling = await recalled_after_a_store_elsewhere(api_url, 'marks-in-store')
    marked, local = await marks(temporal_client, telling)
    assert marked == [True]
    assert 'memory_changed' not in local


@pytest.fixture
def memory_worker_without_redis(
    tmp_path: Path, service_env: dict[str, str], workers: Workers
) -> Iterator[str]:
    """An API whose sessions use a memory worker that cannot reach Redis (on a queue of its own)."""
    workers.ensure_one()
    env = {
        **service_env,
        'DURABLE_CHAT_MEMORY_TASK_QUEUE': 'memory-without-redis',
        'DURABLE_CHAT_DATA_DIR': str(tmp_path),
    }
    unreachable = {'DURABLE_CHAT_REDIS_URL': f'redis://127.0.0.1:{free_port()}/0'}
    memory, server = worker({**env, **unreachable}, 'memory'), api(env)
    with running(memory, server):
        yield server.url


async def test_a_store_that_cannot_mark_leaves_it_to_the_session(
    memory_worker_without_redis: str, temporal_client: Client
) -> None:
    _, telling = await recalled_after_a_store_elsewhere(memory_worker_without_redis, 'marks-in-session')
    marked, local = await marks(temporal_client, telling)
    assert marked == [False]
    assert 'memory_changed' in local
