"""Sessions that outlive Temporal's per-run limits: continue-as-new, compaction, the archive."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from durable_chat.payload_store import inline
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.services import api
from durable_chat.testing.stack import Workers
from durable_chat.workflows.contract import workflow_id
from tests.conftest import token_for

pytestmark = pytest.mark.integration


async def runs_of(temporal_client: Client, session_id: str) -> list[str]:
    executions = temporal_client.list_workflows(f'WorkflowId = "{workflow_id(session_id)}"')
    return [e.run_id async for e in executions]


async def run_histories(temporal_client: Client, session_id: str) -> list[list[HistoryEvent]]:
    histories = []
    for run_id in await runs_of(temporal_client, session_id):
        handle = temporal_client.get_workflow_handle(workflow_id(session_id), run_id=run_id)
        histories.append([e async for e in handle.fetch_history_events()])
    return histories


async def test_continue_as_new_while_messages_arrive_loses_and_doubles_nothing(
    small_limits_api: str, temporal_client: Client
) -> None:
    headers = {'Authorization': f'Bearer {token_for("ivy")}'}
    async with httpx.AsyncClient(base_url=small_limits_api, timeout=60, headers=headers) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(small_limits_api, session_id, token_for('ivy')).connect()
        texts = [f'message number {i}' for i in range(1, 41)]
        for i, text in enumerate(texts, start=1):
            await client.send(f'm-{i}', text)
            await client.send(f'm-{i}', text)  # a redelivery on top, across runs
            if i % 4 == 0:
                await client.wait_for(lambda i=i: client.finished(i - 2))  # keep sending while turns run
        await client.wait_for(lambda: client.finished(40), timeout=120)
        assert client.close_code is None  # one connection saw it all, across every run
        assert client.delivery_faults() == []

        assert [f['turn'] for f in client.of_type('RUN_FINISHED')] == list(range(1, 41))
        for turn, text in enumerate(texts, start=1):
            assert client.streamed_text(turn) == expected_reply(text)
        history = (await http.get(f'/sessions/{session_id}/history')).json()['turns']
        assert [(t['number'], t['user_text'], t['reply']) for t in history] == [
            (i, text, expected_reply(text)) for i, text in enumerate(texts, start=1)
        ]
        snapshot = (await http.get(f'/sessions/{session_id}')).json()
        assert snapshot['archived_turns'] > 0 and len(snapshot['turns']) < 40
        assert len(await runs_of(temporal_client, session_id)) >= 3
        await client.disconnect()


async def test_no_payload_nears_the_limit_whatever_users_send(
    small_limits_api: str, temporal_client: Client
) -> None:
    headers = {'Authorization': f'Bearer {token_for("ivy")}'}
    async with httpx.AsyncClient(base_url=small_limits_api, timeout=60, headers=headers) as http:
        session_id = (
            await http.post('/sessions', json={'message': {'id': 'slow', 'text': 'slow 60'}})
        ).json()['session_id']
        big = [f'{i:03d}' + 'x' * 31_990 for i in range(60)]  # just under the 32,000-character limit
        for i, text in enumerate(big):
            response = await http.post(
                f'/sessions/{session_id}/messages', json={'id': f'big-{i}', 'text': text}
            )
            assert response.status_code == 202
        too_big = await http.post(
            f'/sessions/{session_id}/messages', json={'id': 'huge', 'text': 'x' * 32_001}
        )
        assert too_big.status_code == 413

        # Whether a message waits or is dropped is decided when it arrives: the last waiting one ends it.
        waiting = [
            t['number']
            for t in (await http.get(f'/sessions/{session_id}/history')).json()['turns']
            if t['status'] in ('queued', 'running')
        ]
        client = await ChatClient(small_limits_api, session_id, token_for('ivy')).connect()
        await client.wait_for(lambda: client.finished(max(waiting)), timeout=120)

        history = (await http.get(f'/sessions/{session_id}/history')).json()['turns']
        assert len(history) == 61
        answered = [t for t in history if t['status'] == 'done']
        dropped = [t for t in history if t['status'] == 'dropped']
        assert answered and dropped and len(answered) + len(dropped) == 61
        assert all(t['reply'] == expected_reply(big[int(t['message_id'][4:])]) for t in answered[1:])
        assert all('too many messages were waiting' in t['reply'] for t in dropped)
        snapshot_bytes = len((await http.get(f'/sessions/{session_id}')).content)
        await client.disconnect()

    limit = 2 * 1024 * 1024
    assert snapshot_bytes < limit // 2
    largest = 0
    # Measured as a history without the payload store would hold them (it keeps references).
    storage = temporal_client.data_converter.external_storage
    for events in await run_histories(temporal_client, session_id):
        for event in events:
            for field in (
                'workflow_execution_started_event_attributes',
                'activity_task_scheduled_event_attributes',
            ):
                if event.HasField(field):
                    payloads = await inline(storage, getattr(event, field).input.payloads)
                    largest = max(largest, sum(len(p.data) for p in payloads))
    assert largest < limit // 2, largest


RUN_GROWTH_BYTES = 50_000


@pytest.fixture(scope='module')
def growth_limited_api(service_env: dict[str, str], workers: Workers) -> Iterator[str]:
    """An API whose sessions roll over once a run's history grows past RUN_GROWTH_BYTES (and on no
    other budget: the event count and the model history stay far from theirs)."""
    workers.ensure_one()
    env = {**service_env, 'DURABLE_CHAT_SESSION_MAX_RUN_GROWTH_BYTES': str(RUN_GROWTH_BYTES)}
    process = api(env).start()
    yield process.url
    process.stop()


async def test_a_run_ends_once_its_history_passes_the_growth_budget(
    growth_limited_api: str, temporal_client: Client
) -> None:
    """A worker holds a cached run's history while the run lasts: the session must move to a new run
    once its history has grown past the budget (with the payload store on, a model call's input adds a
    reference, not the whole model history), and chat on unchanged."""
    headers = {'Authorization': f'Bearer {token_for("ivy")}'}
    async with httpx.AsyncClient(base_url=growth_limited_api, timeout=60, headers=headers) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(growth_limited_api, session_id, token_for('ivy')).connect()
        # Under the payload store's threshold (4 KiB): each message and reply stays in the history.
        texts = [f'message {i} ' + 'word ' * 560 for i in range(1, 17)]
        for turn, text in enumerate(texts, start=1):
            await client.send(f'g-{turn}', text)
            await client.wait_for(lambda t=turn: client.finished(t), timeout=60)
            assert client.streamed_text(turn) == expected_reply(text)
        history = (await http.get(f'/sessions/{session_id}/history')).json()['turns']
        assert [t['reply'] for t in history] == [expected_reply(text) for text in texts]
        await client.disconnect()

    runs = await run_histories(temporal_client, session_id)
    ended = [e for e in runs if e[-1].HasField('workflow_execution_continued_as_new_event_attributes')]
    assert len(ended) >= 2
    for events in ended:
        # Each run ended for its budget: its history (the carried state's start event aside) grew past
        # it. It may answer a few more messages that come at once (the session continues as new once
        # quiet, at most MAX_DEFERRED_TURNS turns later), so the end is not the first turn past it.
        grown = sum(e.ByteSize() for e in events[1:])
        assert grown > RUN_GROWTH_BYTES, grown
