"""A thousand turns of ~2 KB in one session: every run within Temporal's limits, every model input
within budget, the whole conversation readable. On a stack of its own, so nothing else competes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import Client

from durable_chat.payload_store import data_converter, external_storage, inline
from durable_chat.settings import Settings
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.stack import HIGH_LIMITS, Stack
from durable_chat.workflows.contract import SessionLimits
from tests.conftest import SECRET, token_for
from tests.test_long_sessions import run_histories

pytestmark = pytest.mark.integration

MODEL_ACTIVITY = 'agent__chat__model_request_stream'
QUEUE_AHEAD = 40
EVENT_LIMIT, SIZE_LIMIT = 51_200, 50 * 1024 * 1024  # Temporal's hard limits per run


@dataclass
class OwnStack:
    api_url: str
    temporal_client: Client


@pytest.fixture
async def own_stack(tmp_path: Path) -> AsyncIterator[OwnStack]:
    stack = Stack(tmp_path, secret=SECRET, settings=HIGH_LIMITS).start()
    try:
        api = stack.api()
        # The stack's converter and payload store: model inputs are references in the history.
        storage = await external_storage(Settings(data_dir=stack.folder))
        client = await Client.connect(
            stack.temporal.address, data_converter=data_converter(storage), plugins=[PydanticAIPlugin()]
        )
        yield OwnStack(api.url, client)
    finally:
        stack.stop()


@pytest.mark.timeout(900)
@pytest.mark.runs_first
async def test_a_thousand_turns_of_two_kilobytes(own_stack: OwnStack) -> None:
    api_url, temporal_client = own_stack.api_url, own_stack.temporal_client
    headers = {'Authorization': f'Bearer {token_for("ivy")}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as ivy:
        await a_thousand_turns(ivy, api_url, temporal_client)


async def a_thousand_turns(ivy: httpx.AsyncClient, api_url: str, temporal_client: Client) -> None:
    session_id = (await ivy.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(api_url, session_id, token_for('ivy')).connect()
    texts = [f'long t{i}' for i in range(1, 1001)]
    for i, text in enumerate(texts):  # one after another: the order of delivery is the order of turns
        if i >= QUEUE_AHEAD:  # stay under the session's queue limit (50): beyond it messages are dropped
            await client.wait_for(lambda i=i: client.finished(i - QUEUE_AHEAD + 1), timeout=60)
        response = await ivy.post(f'/sessions/{session_id}/messages', json={'id': f'm{i}', 'text': text})
        assert response.status_code == 202
    await client.wait_for(lambda: client.finished(1000), timeout=900)

    history = (await ivy.get(f'/sessions/{session_id}/history')).json()['turns']
    assert [t['number'] for t in history] == list(range(1, 1001))
    assert all(t['reply'] == expected_reply(text) for t, text in zip(history, texts, strict=True))

    budget = SessionLimits().history_budget_bytes
    storage = temporal_client.data_converter.external_storage
    histories = await run_histories(temporal_client, session_id)
    model_inputs = []
    for events in histories:
        assert len(events) < EVENT_LIMIT
        assert sum(e.ByteSize() for e in events) < SIZE_LIMIT
        model_inputs += [
            sum(
                len(p.data)
                for p in await inline(storage, e.activity_task_scheduled_event_attributes.input.payloads)
            )
            for e in events
            if e.HasField('activity_task_scheduled_event_attributes')
            and e.activity_task_scheduled_event_attributes.activity_type.name == MODEL_ACTIVITY
        ]
    assert len(model_inputs) == 1000
    # The history before a turn is within budget; the turn adds its own message and the run context.
    assert max(model_inputs) < budget + 12_000
    assert len(histories) > 1
    events = sum(len(h) for h in histories)
    size = sum(e.ByteSize() for h in histories for e in h)
    print(
        f'\n1000 turns: {len(histories)} runs, {events / 1000:.1f} events and {size / 1000 / 1024:.1f} KiB of history '
        f'per turn; model input max {max(model_inputs)} B (budget {budget} B)'
    )
    await client.disconnect()
