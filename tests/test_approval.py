"""Tool approval: the session waits durably, across a worker and a Temporal server restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.servers import TemporalServer
from durable_chat.testing.stack import Workers
from durable_chat.workflows.offline_model import LABEL
from tests.conftest import token_for

pytestmark = pytest.mark.integration


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
    """Polls a condition that another system makes true on its own time (e.g. Temporal visibility)."""

    async def poll() -> Any:
        # No push for these: Temporal visibility and a restarting server only answer when asked.
        while not (result := await probe()):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        return result

    return await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def frank(api_url: str, workers: Workers) -> httpx.AsyncClient:
    workers.ensure_one()
    headers = {'Authorization': f'Bearer {token_for("frank")}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield http
        await http.delete('/memories')


@pytest.fixture
async def operator(api_url: str) -> httpx.AsyncClient:
    headers = {'Authorization': f'Bearer {token_for("olga", "operator")}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield http


async def ask_to_forget(api_url: str, http: httpx.AsyncClient, fact: str) -> tuple[str, ChatClient, dict]:
    session_id = (
        await http.post('/sessions', json={'message': {'id': 'm-1', 'text': f'remember that {fact}'}})
    ).json()['session_id']
    client = await ChatClient(api_url, session_id, token_for('frank')).connect()
    await client.wait_for(lambda: client.finished(1))
    await client.send('m-2', f'forget {fact}')
    [request] = await client.wait_for(lambda: client.of_type('APPROVAL_REQUESTED'))
    return session_id, client, request


async def test_approval_waits_through_worker_kill_and_temporal_restart_then_runs_the_tool(
    api_url: str,
    frank: httpx.AsyncClient,
    operator: httpx.AsyncClient,
    workers: Workers,
    temporal_server: TemporalServer,
) -> None:
    session_id, client, request = await ask_to_forget(api_url, frank, 'my bike lock code is 3141')
    assert (request['tool_name'], request['status']) == ('forget', 'pending')
    assert request['args'] == {'memory_id': (await frank.get('/memories')).json()[0]['id']}
    assert (await frank.get(f'/sessions/{session_id}')).json()['status'] == 'awaiting_approval'

    workers.ensure_one().kill()
    temporal_server.restart()
    workers.start()

    async def approve() -> httpx.Response | None:
        response = await operator.post(
            f'/sessions/{session_id}/approvals/{request["id"]}', json={'approve': True}
        )
        return response if response.status_code != 503 else None  # 503 while Temporal comes back

    response = await eventually(approve)
    assert response.status_code == 200, response.text
    assert (response.json()['status'], response.json()['answered_by']) == ('approved', 'olga')
    await client.wait_for(lambda: client.finished(2), timeout=60)
    assert client.streamed_text(2) == f"{LABEL} Done: I've forgotten it."
    assert client.delivery_faults() == []
    # The run resumed after the approval numbers its model steps on from the first run's.
    turn_two = [f for f in client.frames if f.get('turn') == 2 and f.get('step', 0) > 0]
    answered = client.frames.index(client.of_type('APPROVAL_ANSWERED', 2)[0])
    before = {f['step'] for f in turn_two if client.frames.index(f) < answered}
    after = [f for f in turn_two if client.frames.index(f) > answered]
    # The approved call's result belongs to the step that asked for it; the answer is a new step.
    assert {f['type'] for f in after if f['step'] <= max(before)} == {'TOOL_CALL_RESULT'}
    assert min(f['step'] for f in after if f['type'] == 'TEXT_MESSAGE_START') > max(before)
    assert (await frank.get('/memories')).json() == []
    snapshot = (await frank.get(f'/sessions/{session_id}')).json()
    assert snapshot['status'] == 'idle' and snapshot['approvals'][0]['status'] == 'approved'

    again = await frank.post(f'/sessions/{session_id}/approvals/{request["id"]}', json={'approve': False})
    assert (again.status_code, again.json()['detail']) == (
        409,
        f'approval {request["id"]} was already answered (approved)',
    )
    unknown = await frank.post(f'/sessions/{session_id}/approvals/nope', json={'approve': True})
    assert (unknown.status_code, unknown.json()['detail']) == (409, 'no approval request nope')
    await client.disconnect()


async def test_denied_tool_call_tells_the_model_why_and_keeps_the_memory(
    api_url: str, frank: httpx.AsyncClient
) -> None:
    session_id, client, request = await ask_to_forget(api_url, frank, 'my gym is on Elm Street')
    response = await frank.post(
        f'/sessions/{session_id}/approvals/{request["id"]}',
        json={'approve': False, 'reason': 'keep it please'},
    )
    assert response.json()['status'] == 'denied'
    await client.wait_for(lambda: client.finished(2))
    assert (
        client.streamed_text(2)
        == f"{LABEL} All right, I'll keep it. (The user denied this tool call. keep it please)"
    )
    assert [m['text'] for m in (await frank.get('/memories')).json()] == ['my gym is on Elm Street']
    await client.disconnect()


async def test_operator_listing_follows_a_session_through_its_statuses(
    api_url: str, frank: httpx.AsyncClient, operator: httpx.AsyncClient
) -> None:
    async def listed_as(session_id: str, status: str) -> bool:
        response = await operator.get('/operator/sessions', params={'status': status, 'user': 'frank'})
        return session_id in [s['session_id'] for s in response.json()]

    session_id = (await frank.post('/sessions', json={'message': {'id': 'm-1', 'text': 'slow 150'}})).json()[
        'session_id'
    ]
    assert await eventually(lambda: listed_as(session_id, 'thinking'))
    await frank.post(f'/sessions/{session_id}/interrupt', json={})
    assert await eventually(lambda: listed_as(session_id, 'idle'))

    await frank.post(
        f'/sessions/{session_id}/messages', json={'id': 'm-2', 'text': 'remember that I own a red kayak'}
    )
    await frank.post(f'/sessions/{session_id}/messages', json={'id': 'm-3', 'text': 'forget my red kayak'})
    assert await eventually(lambda: listed_as(session_id, 'awaiting_approval'))
    assert not await listed_as(session_id, 'idle')

    listing = (await operator.get('/operator/sessions', params={'user': 'frank'})).json()
    entry = next(s for s in listing if s['session_id'] == session_id)
    assert entry['temporal_ui'].endswith(f'/namespaces/default/workflows/chat-{session_id}')
    assert (await operator.post(f'/sessions/{session_id}/close')).status_code == 200
    assert await eventually(lambda: listed_as(session_id, 'closed'))
