"""Records the histories the replay tests replay. Skipped unless asked for:

    DURABLE_CHAT_RECORD_HISTORIES=1 pytest tests/replay/test_record.py

Re-record only to add a scenario (or after a deliberate, migrated change): the recorded files are
what running sessions look like, and the replay test holds every future release to them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from durable_chat.testing.stack import Stack
from durable_chat.workflows.agents.specs import BUILTIN_DIR
from durable_chat.workflows.contract import (
    SIGNAL_SEND,
    UPDATE_CANCEL_REMINDER,
    UPDATE_SET_DOUBLE_TEXTING,
    CancelReminder,
    DoubleTexting,
    Reminder,
    SetDoubleTexting,
    UserMessage,
    workflow_id,
)
from tests.conftest import token_for
from tests.test_approval import eventually
from tests.test_turn_limits import budget_api  # noqa: F401  (a fixture: reply and time budgets)

HISTORIES = Path(__file__).parent / 'histories'

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get('DURABLE_CHAT_RECORD_HISTORIES') != '1', reason='records histories only when asked to'
    ),
]


async def conversation(api_url: str, session_id: str, *steps: str) -> ChatClient:
    client = await ChatClient(api_url, session_id, token_for('rec')).connect()
    for turn, text in enumerate(steps, start=1):
        await client.send(f'm-{turn}', text)
        await client.wait_for(lambda t=turn: client.finished(t) or client.of_type('APPROVAL_REQUESTED', t))
    return client


async def save(temporal_client: Client, name: str, session_id: str) -> None:
    executions = temporal_client.list_workflows(f'WorkflowId = "{workflow_id(session_id)}"')
    runs = [e.run_id async for e in executions]
    for index, run_id in enumerate(reversed(runs), start=1):
        handle = temporal_client.get_workflow_handle(workflow_id(session_id), run_id=run_id)
        history = await handle.fetch_history()
        suffix = f'-run{index}' if len(runs) > 1 else ''
        (HISTORIES / f'{name}{suffix}.json').write_text(history.to_json())


async def test_record_histories(api_url: str, worker: Process, temporal_client: Client) -> None:
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for("rec")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:

        async def new() -> str:
            return (await http.post('/sessions', json={})).json()['session_id']

        plain = await new()
        await (await conversation(api_url, plain, 'hello', 'slow 5')).disconnect()
        tool = await new()
        await (
            await conversation(api_url, tool, 'remember that I like green tea', 'what do you remember')
        ).disconnect()

        interrupted = await new()
        client = await ChatClient(api_url, interrupted, token_for('rec')).connect()
        await client.send('m-1', 'slow 200')
        await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
        await http.post(f'/sessions/{interrupted}/interrupt', json={})
        await client.send('m-2', 'after the interrupt')
        await client.wait_for(lambda: client.finished(2))
        await client.disconnect()

        approval = await new()
        client = await conversation(api_url, approval, 'remember that my bike is red', 'forget my bike')
        [request] = client.of_type('APPROVAL_REQUESTED')
        await http.post(f'/sessions/{approval}/approvals/{request["id"]}', json={'approve': True})
        await client.wait_for(lambda: client.finished(2))
        await client.disconnect()
        await http.post(f'/sessions/{approval}/close')

        for name, session_id in [
            ('plain', plain),
            ('tool-call', tool),
            ('interrupt', interrupted),
            ('approval', approval),
        ]:
            await save(temporal_client, name, session_id)


async def test_record_continue_as_new(
    small_limits_api: str, worker: Process, temporal_client: Client
) -> None:
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for("rec")}'}
    async with httpx.AsyncClient(base_url=small_limits_api, headers=headers, timeout=60) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
    steps = [f'long c{i}' for i in range(1, 13)]
    await (await conversation(small_limits_api, session_id, *steps)).disconnect()
    await save(temporal_client, 'continue-as-new', session_id)


async def test_record_turn_endings(budget_api: str, temporal_client: Client) -> None:  # noqa: F811
    """Turns that end otherwise than by answering: Stop with the partial text kept, the reply budget,
    the time budget, a model that is down; and a remember turn."""
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for("rec")}'}
    async with httpx.AsyncClient(base_url=budget_api, headers=headers, timeout=60) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(budget_api, session_id, token_for('rec')).connect()
        await client.send('m-1', 'slow 30')
        await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 5)
        await http.post(f'/sessions/{session_id}/interrupt', json={})
        await client.wait_for(lambda: client.of_type('TURN_INTERRUPTED', 1))
        for turn, text in enumerate(['endless', 'drip 30', 'unreachable', 'remember that I row'], start=2):
            await client.send(f'm-{turn}', text)
            await client.wait_for(
                lambda t=turn: (
                    client.finished(t)
                    or client.of_type('TURN_INTERRUPTED', t)
                    or client.of_type('RUN_ERROR', t)
                ),
                timeout=90,
            )
        await client.disconnect()
    await save(temporal_client, 'turn-endings', session_id)


async def test_record_agents(tmp_path: Path) -> None:
    """A spec agent's MCP tool call (mcp-server-time over stdio), and a model switch between turns."""
    HISTORIES.mkdir(exist_ok=True)
    repo = Path(__file__).parent.parent.parent
    settings = {
        'DURABLE_CHAT_AGENTS_DIR': f'{BUILTIN_DIR}:{repo / "tests" / "workflows" / "agents"}',
        'DURABLE_CHAT_AGENTS_MODULE': 'tests.workflows.shop_agents',
        'PYTHONPATH': str(repo),
        'MCP_PYTHON': sys.executable,
    }
    stack = Stack(tmp_path, settings=settings).start(apis=[{}])
    try:
        api_url, token = stack.apis[0].url, stack.token('rec')
        async with httpx.AsyncClient(
            base_url=api_url, headers={'Authorization': f'Bearer {token}'}, timeout=60
        ) as http:
            mcp = (await http.post('/sessions', json={'agent': 'clock'})).json()['session_id']
            client = await ChatClient(api_url, mcp, token).connect()
            await client.send('m-1', 'call time_get_current_time {"timezone": "UTC"}')
            await client.wait_for(lambda: client.finished(1))
            await client.disconnect()

            switch = (await http.post('/sessions', json={})).json()['session_id']
            client = await ChatClient(api_url, switch, token).connect()
            await client.send('m-1', 'hello')
            await client.wait_for(lambda: client.finished(1))
            await http.post(f'/sessions/{switch}/model', json={'model': 'offline'})
            await client.send('m-2', 'hello again')
            await client.wait_for(lambda: client.finished(2))
            await client.disconnect()
        temporal = await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)
        await save(temporal, 'mcp-tool-call', mcp)
        await save(temporal, 'model-switch', switch)
    finally:
        stack.stop()


async def test_record_session_management(api_url: str, worker: Process, temporal_client: Client) -> None:
    """A rename, turns back to back, an edit and a regenerate of the last turn; a session deleted
    while a turn runs."""
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for("rec")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:
        redo = (await http.post('/sessions', json={})).json()['session_id']
        await http.patch(f'/sessions/{redo}', json={'title': 'Chosen title'})
        client = await ChatClient(api_url, redo, token_for('rec')).connect()
        await client.send('m-1', 'slow 10')
        await client.send('m-2', 'first try')  # waits behind turn 1: the turns run back to back
        await client.wait_for(lambda: client.finished(2))
        for turn, text, replaces in [(3, 'second try', 2), (4, 'second try', 3)]:
            frame = {'type': 'message', 'id': f'm-{turn}', 'text': text, 'replaces': replaces}
            await client.send_raw(json.dumps(frame))
            await client.wait_for(lambda t=turn: client.finished(t))
        await http.patch(f'/sessions/{redo}', json={'title': 'Renamed later'})
        await client.disconnect()

        deleted = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(api_url, deleted, token_for('rec')).connect()
        await client.send('m-1', 'slow 200')
        await client.send('m-2', 'queued behind')
        await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
        await http.delete(f'/sessions/{deleted}')
        await client.wait_for(lambda: client.of_type('SESSION_CLOSED'))
        await client.disconnect()

    await save(temporal_client, 'redo-and-rename', redo)
    await save(temporal_client, 'delete', deleted)


async def idle(http: httpx.AsyncClient, session_id: str, turns: int) -> None:
    """Until the session idles after `turns` turns: its last workflow task is in the history."""

    async def probe() -> dict[str, Any] | None:
        shown = (await http.get(f'/sessions/{session_id}')).json()
        done = shown['status'] == 'idle' and len(shown['turns']) == turns
        return shown if done else None

    await eventually(probe)


async def test_record_reminders_and_double_texting(
    api_url: str, worker: Process, temporal_client: Client
) -> None:
    """A reminder set and posted as a reminder turn, another set and cancelled; a message that
    interrupts the running turn (`interrupt`), one kept unanswered (`reject`)."""
    HISTORIES.mkdir(exist_ok=True)
    headers = {'Authorization': f'Bearer {token_for("rec")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:

        async def new(policy: DoubleTexting = 'enqueue') -> str:
            session_id = (await http.post('/sessions', json={})).json()['session_id']
            if policy != 'enqueue':  # the workflow's own update (the API's way to it may differ)
                handle = temporal_client.get_workflow_handle(workflow_id(session_id))
                request = SetDoubleTexting(policy, by='rec')
                await handle.execute_update(UPDATE_SET_DOUBLE_TEXTING, request, result_type=str)
            return session_id

        reminder = await new()
        client = await conversation(api_url, reminder, 'remind me in 2 seconds to stretch')
        await client.wait_for(lambda: client.finished(2), timeout=60)  # the reminder turn
        await client.send('m-3', 'remind me in 1 hour to call Ana')
        await client.wait_for(lambda: client.finished(3))
        await idle(http, reminder, 3)
        handle = temporal_client.get_workflow_handle(workflow_id(reminder))
        cancel = CancelReminder('r3-1', by='rec')
        await handle.execute_update(UPDATE_CANCEL_REMINDER, cancel, result_type=Reminder)
        await client.send('m-4', 'hello')
        await client.wait_for(lambda: client.finished(4))
        await idle(http, reminder, 4)
        await client.disconnect()

        interrupting = await new('interrupt')
        client = await ChatClient(api_url, interrupting, token_for('rec')).connect()
        await client.send('m-1', 'slow 200')
        await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
        await client.send('m-2', 'hello')
        await client.wait_for(lambda: client.finished(2))
        await idle(http, interrupting, 2)
        await client.disconnect()

        rejecting = await new('reject')
        client = await ChatClient(api_url, rejecting, token_for('rec')).connect()
        await client.send('m-1', 'slow 40')
        await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
        # Signalled past the API, which refuses it first: one that raced past it is kept, unanswered.
        handle = temporal_client.get_workflow_handle(workflow_id(rejecting))
        await handle.signal(SIGNAL_SEND, UserMessage('m-2', 'hello'))
        await client.wait_for(lambda: client.finished(1))
        await idle(http, rejecting, 2)
        await client.send('m-3', 'hello again')
        await client.wait_for(lambda: client.finished(3))
        await idle(http, rejecting, 3)
        await client.disconnect()

    for name, session_id in [
        ('reminder', reminder),
        ('double-texting-interrupt', interrupting),
        ('double-texting-reject', rejecting),
    ]:
        await save(temporal_client, name, session_id)
