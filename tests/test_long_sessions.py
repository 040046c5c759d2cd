"""Sessions that outlive Temporal's per-run limits: continue-as-new, compaction, the archive."""

from __future__ import annotations

import httpx
from temporalio.client import Client

from tests.chat_client import ChatClient
from tests.conftest import token_for
from tests.scripted import expected_reply
from workflows.shared import workflow_id


async def runs_of(temporal_client: Client, session_id: str) -> list[str]:
    executions = temporal_client.list_workflows(f'WorkflowId = "{workflow_id(session_id)}"')
    return [e.run_id async for e in executions]


async def run_histories(temporal_client: Client, session_id: str) -> list[list]:
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
    for events in await run_histories(temporal_client, session_id):
        for event in events:
            for field in (
                'workflow_execution_started_event_attributes',
                'activity_task_scheduled_event_attributes',
            ):
                if event.HasField(field):
                    largest = max(largest, sum(len(p.data) for p in getattr(event, field).input.payloads))
    assert largest < limit // 2, largest
