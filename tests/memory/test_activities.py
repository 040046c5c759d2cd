"""The memory activities on a real Temporal dev server and worker, called by name from a workflow."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import Client
from temporalio.worker import Worker

from durable_chat.memory.activities import MemoryActivities, open_store
from durable_chat.memory.store import MemoryStore
from durable_chat.settings import Settings
from tests.memory.probe_workflow import MemoryProbe


def test_activity_names_are_the_persisted_ones(store: MemoryStore) -> None:
    names = [fn.__temporal_activity_definition.name for fn in MemoryActivities(store).all()]  # pyright: ignore[reportFunctionMemberAccess]
    assert names == [
        'recall_memories',
        'store_memory',
        'forget_memory',
        'list_memories',
        'memory_history',
        'undo_memory_change',
        'purge_expired_memories',
    ]


async def test_activities_through_a_workflow(store: MemoryStore, temporal_address: str) -> None:
    # The production client's converter (pydantic-ai's plugin), so the dataclasses cross as they will.
    client = await Client.connect(temporal_address, plugins=[PydanticAIPlugin()])
    queue = f'memory-tests-{uuid.uuid4()}'
    async with Worker(
        client, task_queue=queue, workflows=[MemoryProbe], activities=MemoryActivities(store).all()
    ):
        outcome = await client.execute_workflow(
            MemoryProbe.run, 'alice', id=f'memory-probe-{uuid.uuid4()}', task_queue=queue
        )

    assert [s.action for s in outcome.stored] == ['added', 'unchanged', 'updated', 'added']
    home = outcome.stored[0].memory
    assert outcome.stored[2].memory.id == home.id
    assert isinstance(home.created_at, datetime)
    # A session's recall (the probe's request is not `plain`) gets each text with the day it was said.
    said = outcome.stored[2].memory.updated_at.date().isoformat()
    assert [(m.id, m.text) for m in outcome.recalled] == [(home.id, f'{said}\tI moved to Lyon')]
    assert outcome.recalled[0].score is not None
    assert [m.text for m in outcome.listed_before] == ['I moved to Lyon', 'I have a dog named Rex']
    assert outcome.forgot == 1
    assert [m.text for m in outcome.listed_after] == ['I have a dog named Rex']
    assert outcome.forgot_all == 1
    # Bad input fails at once, without retries.
    assert outcome.errors == ['InvalidMemory non_retryable=True retried=False'] * 2
    assert await store.list('alice') == []


async def test_open_store_from_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / 'data', memory_collection='facts')
    store = await open_store(settings)
    try:
        assert store.dimension == 384
        assert store.embedder_name == 'onnxruntime:all-MiniLM-L6-v2-onnx-int8'
        assert (await store.remember('alice', 'I live in Paris')).action == 'added'
    finally:
        await store.close()
    assert (tmp_path / 'data' / 'qdrant').is_dir()
