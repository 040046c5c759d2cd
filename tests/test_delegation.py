"""Sub-agents on the real stack: the lead agent (examples/delegation) delegates to the researcher, which
runs as a child workflow; its frames reach the page inside the parent turn, tagged with the call;
and a chat worker SIGKILLed while the researcher streams loses nothing and doubles nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from durable_chat.testing.chat_client import ChatClient, Frame
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.services import Api, api
from durable_chat.testing.stack import Workers
from durable_chat.workflows.agents.specs import BUILTIN_DIR
from durable_chat.workflows.contract import workflow_id
from durable_chat.workflows.delegation import DELEGATE_TOOL, STEPS_PER_PARENT_STEP
from durable_chat.workflows.events import PARENT_TOOL_CALL_ID
from tests.browser import axe_violations, browser, page, say
from tests.conftest import token_for
from tests.test_approval import eventually

pytestmark = pytest.mark.integration
__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py

REPO = Path(__file__).parent.parent
USER = 'dora'


@pytest.fixture(scope='module')
def lead_env(service_env: dict[str, str], workers: Workers) -> dict[str, str]:
    """The test stack's servers and memory worker, with chat workers of their own serving the lead
    and the researcher on a task queue of their own."""
    return {
        **service_env,
        'DURABLE_CHAT_TASK_QUEUE': 'delegation-tests',
        'DURABLE_CHAT_AGENTS_DIR': f'{BUILTIN_DIR}:{REPO / "examples" / "delegation"}',
    }


@pytest.fixture(scope='module')
def lead_workers(lead_env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(lead_env)
    pool.start()
    yield pool
    for process in pool.chat:
        process.stop()


@pytest.fixture(scope='module')
def lead_api(lead_env: dict[str, str], lead_workers: Workers) -> Iterator[Api]:
    process = api(lead_env).start()
    yield process
    process.stop()


@pytest.fixture
async def http(lead_api: Api) -> AsyncIterator[httpx.AsyncClient]:
    headers = {'Authorization': f'Bearer {token_for(USER)}'}
    async with httpx.AsyncClient(base_url=lead_api.url, timeout=60, headers=headers) as client:
        yield client


def delegating(task: str) -> str:
    """The scripted model calls `delegate` for this message, then answers `delegate said: <result>`."""
    return f'call {DELEGATE_TOOL} {json.dumps({"agent": "researcher", "task": task})}'


async def start(lead_api: Api, http: httpx.AsyncClient, text: str) -> ChatClient:
    created = await http.post('/sessions', json={'agent': 'lead'})
    assert created.status_code == 201, created.text
    client = await ChatClient(lead_api.url, created.json()['session_id'], token_for(USER)).connect()
    await client.send('m-1', text)
    return client


def nested(client: ChatClient, turn: int) -> list[Frame]:
    return [f for f in client.frames if f.get('turn') == turn and PARENT_TOOL_CALL_ID in f]


def nested_text(frames: list[Frame]) -> str:
    """The sub-agent's text as the card builds it: the latest attempt of each of its steps."""
    parts: dict[tuple[int, int, str], str] = {}
    for frame in frames:
        if frame['type'] == 'ATTEMPT_STARTED':
            parts = {key: text for key, text in parts.items() if key[0] != frame['step']}
        elif frame['type'] == 'TEXT_MESSAGE_CONTENT':
            key = (frame['step'], frame['attempt'], frame['messageId'])
            parts[key] = parts.get(key, '') + frame['delta']
    return ''.join(parts.values())


async def children(
    temporal_client: Client, session_id: str
) -> list[tuple[str, WorkflowExecutionStatus | None]]:
    """The session's child workflows (from its history) and their status now."""
    handle = temporal_client.get_workflow_handle(workflow_id(session_id))
    started = [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]
    return [(wid, (await temporal_client.get_workflow_handle(wid).describe()).status) for wid in started]


async def test_the_sub_agents_frames_come_inside_the_turn_tagged_with_the_call(
    lead_api: Api, http: httpx.AsyncClient
) -> None:
    client = await start(lead_api, http, delegating('slow 3 r'))
    await client.wait_for(lambda: client.finished(1), timeout=60)

    [call_start] = [f for f in client.of_type('TOOL_CALL_START', 1) if PARENT_TOOL_CALL_ID not in f]
    call = call_start['toolCallId']
    answer = expected_reply('slow 3 r')
    frames = [f for f in client.frames if f.get('turn') == 1]
    reply_tokens = [f for f in frames if f['type'] == 'TEXT_MESSAGE_CONTENT' and f['step'] == 2]
    shown = [(f['type'], f['step'], f['attempt'], f.get(PARENT_TOOL_CALL_ID, '')) for f in frames]
    inner = 1 * STEPS_PER_PARENT_STEP + 1  # the researcher's first step, delegated from the lead's first
    assert shown == [
        ('TEXT_MESSAGE_START', 1, 1, ''),  # the scripted model opens an empty text part first
        ('TEXT_MESSAGE_END', 1, 1, ''),
        ('TOOL_CALL_START', 1, 1, ''),
        ('TOOL_CALL_ARGS', 1, 1, ''),
        ('TOOL_CALL_END', 1, 1, ''),
        ('TEXT_MESSAGE_START', inner, 1, call),
        *[('TEXT_MESSAGE_CONTENT', inner, 1, call)] * 3,
        ('TEXT_MESSAGE_END', inner, 1, call),
        ('TOOL_CALL_RESULT', 1, 1, ''),
        ('TEXT_MESSAGE_START', 2, 1, ''),
        *[('TEXT_MESSAGE_CONTENT', 2, 1, '')] * len(reply_tokens),
        ('TEXT_MESSAGE_END', 2, 1, ''),
        ('RUN_FINISHED', 0, 1, ''),
    ]
    assert nested_text(nested(client, 1)) == answer
    [result] = client.of_type('TOOL_CALL_RESULT', 1)
    assert (result['toolCallId'], result['content']) == (call, answer)
    assert (
        client.finished(1) == client.frames[-1]
        and client.frames[-1]['result'] == f'{DELEGATE_TOOL} said: {answer}'
    )
    assert client.delivery_faults() == []

    # Reloaded after the turn: the call, its agent and its result, as the page's card shows them.
    turn = (await http.get(f'/sessions/{client.session_id}')).json()['turns'][0]
    assert [(c['name'], c['args'], c['result']) for c in turn['tool_calls']] == [
        (DELEGATE_TOOL, {'agent': 'researcher', 'task': 'slow 3 r'}, answer)
    ]
    await client.disconnect()


async def test_a_delegated_turn_survives_a_sigkilled_worker_once(
    lead_api: Api, http: httpx.AsyncClient, lead_workers: Workers, temporal_client: Client
) -> None:
    doomed = lead_workers.ensure_one()
    task = 'slow 60 r'
    client = await start(lead_api, http, delegating(task))
    await client.wait_for(
        lambda: sum(f['type'] == 'TEXT_MESSAGE_CONTENT' for f in nested(client, 1)) >= 10, timeout=60
    )

    doomed.kill()  # mid-child: the researcher's model activity and both workflows' cached runs die
    lead_workers.start()
    await client.wait_for(lambda: client.finished(1), timeout=90)

    answer = expected_reply(task)
    inner = nested(client, 1)
    # The researcher's interrupted step streamed again as attempt 2; the card shows it once.
    assert [(f['step'], f['attempt']) for f in inner if f['type'] == 'ATTEMPT_STARTED'] == [
        (STEPS_PER_PARENT_STEP + 1, 2)
    ]
    assert nested_text(inner) == answer
    assert client.delivery_faults() == []
    assert len(client.of_type('RUN_FINISHED', 1)) == 1
    [result] = client.of_type('TOOL_CALL_RESULT', 1)
    assert result['content'] == answer
    finished = client.finished(1)
    assert finished is not None and finished['result'] == f'{DELEGATE_TOOL} said: {answer}'

    # One child, completed; the reply holds the researcher's answer once.
    async def settled() -> list[tuple[str, WorkflowExecutionStatus | None]] | None:
        found = await children(temporal_client, client.session_id)
        return found if found and all(s != WorkflowExecutionStatus.RUNNING for _, s in found) else None

    assert [status for _, status in await eventually(settled)] == [WorkflowExecutionStatus.COMPLETED]
    turns: list[dict[str, Any]] = (await http.get(f'/sessions/{client.session_id}')).json()['turns']
    assert [(t['status'], t['reply'].count(answer)) for t in turns] == [('done', 1)]
    await client.disconnect()


async def test_the_page_shows_the_delegation_as_a_card_with_the_sub_agents_progress(
    lead_api: Api, http: httpx.AsyncClient, page: Page
) -> None:
    session_id = (await http.post('/sessions', json={'agent': 'lead'})).json()['session_id']
    await page.goto(f'{lead_api.url}/#token={token_for(USER)}')
    await expect(page.locator('#me')).to_have_text(USER)
    await page.evaluate(f'location.hash = "#/s/{session_id}"')
    task = 'slow 60 r'
    await say(page, delegating(task))

    card = page.locator('#turns .delegate-call')
    await expect(card.locator('summary .tool-name')).to_have_text('Delegated to researcher', timeout=30_000)
    await card.locator('summary').click()
    progress = card.locator('.delegate-progress pre')
    await expect(progress).to_contain_text('r5 ')
    # The researcher's words are the card's: the reply has none of them while it works.
    assert 'r5' not in await page.locator('#turns li .assistant').inner_text()
    assert await axe_violations(page) == []

    answer = expected_reply(task)
    reply = page.locator('#turns li .assistant')
    await expect(reply).to_have_attribute('data-status', 'done', timeout=30_000)
    await expect(reply).to_have_text(f'{DELEGATE_TOOL} said: {answer}'.strip())
    await expect(card.locator('.tool-result pre')).to_have_text(answer)

    await page.reload()
    card = page.locator('#turns .delegate-call')
    await card.locator('summary').click()
    await expect(card.locator('.tool-args pre')).to_have_text(task)
    await expect(card.locator('.tool-result pre')).to_have_text(answer)
    assert await axe_violations(page) == []
