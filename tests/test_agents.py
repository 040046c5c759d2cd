"""The deployer's agents end to end, on a stack of their own: the catalogue behind `GET /agents`, a
choice of agent and model at `POST /sessions`, a new spec picked up at a worker restart, and workers
SIGKILLed during an MCP call and right after a side-effect tool acted."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.mcp_servers import EverythingServer, everything_server
from durable_chat.testing.services import running
from durable_chat.testing.stack import SCRIPTED_MODEL, Stack
from durable_chat.workflows.agents.specs import BUILTIN_DIR
from durable_chat.workflows.contract import workflow_id

pytestmark = pytest.mark.integration

REPO = Path(__file__).parent.parent
TEST_AGENTS = REPO / 'tests' / 'workflows' / 'agents'
SECRET = 'agents-secret'
MCP_CALL = 'agent__everything__mcp_server__everything__call_tool'


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    """Temporal's view of a workflow has no push: it is asked again until `condition` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        await asyncio.sleep(0.05)


@pytest.fixture(scope='module')
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EverythingServer]:
    server = everything_server(log=tmp_path_factory.mktemp('everything') / 'server.log')
    with running(server):
        yield server


@pytest.fixture(scope='module')
def stack(tmp_path_factory: pytest.TempPathFactory, everything: EverythingServer) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp('agents-stack')
    (folder / 'more-agents').mkdir()
    settings = {
        'DURABLE_CHAT_AGENTS_DIR': f'{BUILTIN_DIR}:{TEST_AGENTS}:{folder / "more-agents"}',
        'DURABLE_CHAT_AGENTS_MODULE': 'tests.workflows.shop_agents',
        'PYTHONPATH': str(REPO),
        'MCP_PYTHON': sys.executable,
        'EVERYTHING_URL': everything.url,
        'SHOP_LEDGER': str(folder / 'ledger.json'),
        'SHOP_CRASH_AFTER_ORDER': str(folder / 'crashed-once'),
    }
    stack = Stack(folder / 'stack', secret=SECRET, settings=settings).start(apis=[{}])
    yield stack
    stack.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {'Authorization': f'Bearer {stack.token("ana")}'}
    async with httpx.AsyncClient(base_url=stack.apis[0].url, timeout=30, headers=headers) as client:
        yield client


async def new_session(http: httpx.AsyncClient, stack: Stack, **choice: str) -> ChatClient:
    created = await http.post('/sessions', json=choice)
    assert created.status_code == 201, created.text
    return await ChatClient(stack.apis[0].url, created.json()['session_id'], stack.token('ana')).connect()


async def test_the_agents_and_their_models_are_listed_and_chosen_at_creation(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    listed = (await http.get('/agents')).json()
    assert [(a['name'], a['models'], a['default']) for a in listed] == [
        ('chat', [SCRIPTED_MODEL, 'offline'], True),
        ('clock', [SCRIPTED_MODEL], False),
        ('everything', [SCRIPTED_MODEL], False),
        ('shop', [SCRIPTED_MODEL, 'offline'], False),
        ('trip', [SCRIPTED_MODEL], False),
    ]
    assert next(a for a in listed if a['name'] == 'clock')['mcp_servers'] == ['time']

    created = await http.post('/sessions', json={'agent': 'shop', 'model': 'offline'})
    assert created.json() | {'session_id': ''} == {'session_id': '', 'agent': 'shop', 'model': 'offline'}
    default = (await http.post('/sessions', json={})).json()
    assert (default['agent'], default['model']) == ('chat', SCRIPTED_MODEL)

    unknown_agent = await http.post('/sessions', json={'agent': 'nobody'})
    assert unknown_agent.status_code == 422
    assert (
        unknown_agent.json()['detail']
        == "there is no agent 'nobody' (agents: chat, clock, everything, shop, trip)"
    )
    unknown_model = await http.post('/sessions', json={'agent': 'clock', 'model': 'offline'})
    assert unknown_model.status_code == 422
    assert (
        unknown_model.json()['detail']
        == f"'offline' is not a model of the agent 'clock' (models: {SCRIPTED_MODEL})"
    )

    session_id = created.json()['session_id']
    switched = await http.post(f'/sessions/{session_id}/model', json={'model': SCRIPTED_MODEL})
    assert switched.json() == {'session_id': session_id, 'agent': 'shop', 'model': SCRIPTED_MODEL}
    assert (await http.get(f'/sessions/{session_id}')).json()['model'] == SCRIPTED_MODEL
    refused = await http.post(f'/sessions/{session_id}/model', json={'model': 'gpt-none'})
    assert refused.status_code == 422 and 'gpt-none' in refused.json()['detail']

    operator = {'Authorization': f'Bearer {stack.token("op", "operator")}'}
    rows = (await http.get('/operator/sessions', params={'user': 'ana'}, headers=operator)).json()
    row = next(r for r in rows if r['session_id'] == session_id)
    assert (row['agent'], row['model']) == ('shop', SCRIPTED_MODEL)


async def test_a_spec_dropped_into_the_agents_directory_is_served_after_a_worker_restart(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    spec = (
        'name: poet\ndescription: Writes short poems.\ninstructions: Rhyme.\nmetadata: {models: [offline]}\n'
    )
    (stack.folder.parent / 'more-agents' / 'poet.yaml').write_text(spec)
    assert 'poet' not in [a['name'] for a in (await http.get('/agents')).json()]

    old = stack.workers.ensure_one()
    stack.workers.start()
    old.stop()

    listed = {a['name']: a for a in (await http.get('/agents')).json()}
    assert (listed['poet']['description'], listed['poet']['models']) == ('Writes short poems.', ['offline'])
    chat = await new_session(http, stack, agent='poet')
    await chat.send('m-1', 'hello')
    finished = await chat.wait_for(lambda: chat.finished(1))
    assert finished['type'] == 'RUN_FINISHED'
    await chat.disconnect()


async def test_a_worker_killed_during_an_mcp_call_over_http_retries_the_call_and_finishes_once(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    doomed = stack.workers.ensure_one()
    chat = await new_session(http, stack, agent='everything')
    args = {'duration': 3, 'steps': 3}
    await chat.send('m-1', f'call everything_trigger-long-running-operation {json.dumps(args)}')
    temporal = await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)
    handle = temporal.get_workflow_handle(workflow_id(chat.session_id))

    async def calling() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return any(
            a.activity_type.name == MCP_CALL
            and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for a in pending
        )

    await eventually(calling, 'the MCP call to be running on the worker')
    doomed.kill()
    stack.workers.start()
    await chat.wait_for(lambda: chat.finished(1), timeout=90)

    finished = chat.finished(1)
    assert finished is not None and finished['type'] == 'RUN_FINISHED'
    assert len(chat.of_type('RUN_FINISHED', 1)) == 1
    [turn] = (await http.get(f'/sessions/{chat.session_id}')).json()['turns']
    [call] = turn['tool_calls']
    assert (turn['status'], call['name'], call['server']) == (
        'done',
        'everything_trigger-long-running-operation',
        'everything',
    )
    assert 'completed' in call['result'].lower()

    temporal = await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)
    events = [
        e async for e in temporal.get_workflow_handle(workflow_id(chat.session_id)).fetch_history_events()
    ]
    calls = [
        e
        for e in events
        if e.HasField('activity_task_scheduled_event_attributes')
        and e.activity_task_scheduled_event_attributes.activity_type.name == MCP_CALL
    ]
    [started] = [
        e.activity_task_started_event_attributes
        for e in events
        if e.HasField('activity_task_started_event_attributes')
        and e.activity_task_started_event_attributes.scheduled_event_id == calls[0].event_id
    ]
    assert len(calls) == 1 and started.attempt == 2  # one call, retried once on the new worker
    await chat.disconnect()


async def test_a_worker_killed_right_after_a_side_effect_tool_acted_orders_once(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    stack.workers.ensure_one()
    chat = await new_session(http, stack, agent='shop')
    await chat.send('m-1', 'call place_order {"item": "tea", "quantity": 2}')
    await chat.wait_for(lambda: chat.of_type('APPROVAL_REQUESTED', 1))
    [approval] = chat.of_type('APPROVAL_REQUESTED', 1)
    answered = await http.post(
        f'/sessions/{chat.session_id}/approvals/{approval["id"]}', json={'approve': True}
    )
    assert answered.status_code == 200

    # The tool writes the order, then its worker dies (SHOP_CRASH_AFTER_ORDER): Temporal retries the
    # activity on a new worker, with the same tool call id, so the same idempotency key.
    crashed = stack.folder.parent / 'crashed-once'

    async def crashed_once() -> bool:
        return crashed.exists()

    await eventually(crashed_once, 'the tool to act and its worker to die')
    stack.workers.start()
    await chat.wait_for(lambda: chat.finished(1), timeout=90)

    ledger = json.loads((stack.folder.parent / 'ledger.json').read_text())
    mine = {k: v for k, v in ledger.items() if k.startswith(chat.session_id)}
    assert list(mine.values()) == [{'item': 'tea', 'quantity': 2, 'user': 'ana'}]
    [turn] = (await http.get(f'/sessions/{chat.session_id}')).json()['turns']
    assert turn['status'] == 'done' and turn['tool_calls'][0]['result'].endswith('2 x tea')
    await chat.disconnect()
