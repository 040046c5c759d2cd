"""The product on a real model: sessions of agents whose model is Qwen2.5 0.5B on llama.cpp's server,
through the API and the websocket, real Temporal and real worker processes. Tokens stream and a later
turn sees an earlier one, a tool called through the OpenAI protocol runs as an activity, a model server
killed mid-reply costs a retried attempt and the turn finishes once, Stop stops the tokens, and a
message the model's context cannot hold fails at once, in words."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.model_server import DEFAULT_CTX_SIZE
from durable_chat.testing.readiness import POLL_SECONDS
from durable_chat.testing.real_model import MODEL_NAME, ModelServer
from durable_chat.testing.stack import HIGH_LIMITS, Stack
from durable_chat.workflows.contract import workflow_id
from tests.real_model.conftest import kill_and_restart

pytestmark = [pytest.mark.real_model, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
AGENTS_DIR = Path(__file__).with_name('agents_dir')
AGENTS = {'local', 'storyteller', 'codes'}
TURN_SECONDS = 180.0
"""Generous: a 400-token reply on a busy 2-core machine, or a retry waiting for the server to load."""
CONTEXT_WINDOW = "the conversation does not fit the model's context window"
TOOL_ACTIVITY = 'agent__codes__toolset__<agent>__call_tool'
CODE = 'ZEBRA-4417'
"""What the tool of tests.real_model.agents answers (that module builds its agent on import, which
needs the model server's address in the settings: the workers import it, not this process)."""


@pytest.fixture(scope='module')
def stack(real_model_server: ModelServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own (its agents catalogue is the only one in its Redis) serving this tier's
    agents on the session's model server."""
    settings = {
        'DURABLE_CHAT_MODEL_BASE_URL': real_model_server.base_url,
        'DURABLE_CHAT_AGENTS_DIR': str(AGENTS_DIR),
        'DURABLE_CHAT_AGENTS_MODULE': 'tests.real_model.agents',
        # The workers run in the stack's folder: the agents module is found from the repository.
        'PYTHONPATH': os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])),
        **HIGH_LIMITS,
    }
    started = Stack(folder=tmp_path_factory.mktemp('real-model-stack'), settings=settings).start(apis=[{}])
    try:
        _wait_for_catalogue(started)
        yield started
    finally:
        started.stop()


def _wait_for_catalogue(stack: Stack, timeout: float = 60) -> None:
    """The chat worker publishes its agents just after it starts polling: sessions of them can be
    created once the API lists them."""
    deadline = time.monotonic() + timeout
    headers = {'Authorization': f'Bearer {stack.token("catalogue")}'}
    with httpx.Client(base_url=stack.apis[0].url, headers=headers, timeout=10) as http:
        while True:
            answer = http.get('/agents')  # 503 until a chat worker has published its agents
            listed = {agent['name'] for agent in answer.json()} if answer.status_code == 200 else set[str]()
            if AGENTS <= listed:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f'the API lists {sorted(listed)}, not {sorted(AGENTS)}')
            time.sleep(POLL_SECONDS)


@pytest.fixture(scope='module')
async def temporal(stack: Stack) -> Client:
    return await Client.connect(
        stack.temporal.address, namespace=stack.temporal.namespace, plugins=[PydanticAIPlugin()]
    )


@pytest.fixture
async def http(stack: Stack, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in as a user of the test's own (no other test's memories or limits)."""
    headers = {'Authorization': f'Bearer {stack.token(request.node.name[:64])}'}
    async with httpx.AsyncClient(base_url=stack.apis[0].url, headers=headers, timeout=30) as client:
        yield client


async def open_session(stack: Stack, http: httpx.AsyncClient, agent: str) -> ChatClient:
    """A new session of `agent` on the real model, its websocket connected and its snapshot read."""
    response = await http.post('/sessions', json={'agent': agent, 'model': MODEL_NAME})
    assert response.status_code == 201, response.text
    assert response.json()['agent'] == agent and response.json()['model'] == MODEL_NAME
    token = http.headers['Authorization'].removeprefix('Bearer ')
    client = await ChatClient(stack.apis[0].url, response.json()['session_id'], token).connect()
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))
    return client


async def turns_of(http: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    return (await http.get(f'/sessions/{session_id}')).json()['turns']


async def activities(temporal: Client, session_id: str) -> dict[str, list[str]]:
    """The session's activities in Temporal's own history: names as scheduled, completed and failed,
    and `started` as `name#attempt` (a start event records the attempt that ended the activity)."""
    events = [e async for e in temporal.get_workflow_handle(workflow_id(session_id)).fetch_history_events()]
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField('activity_task_scheduled_event_attributes')
    }
    return {
        'scheduled': list(scheduled.values()),
        'started': [
            f'{scheduled[e.activity_task_started_event_attributes.scheduled_event_id]}'
            f'#{e.activity_task_started_event_attributes.attempt}'
            for e in events
            if e.HasField('activity_task_started_event_attributes')
        ],
        'completed': [
            scheduled[e.activity_task_completed_event_attributes.scheduled_event_id]
            for e in events
            if e.HasField('activity_task_completed_event_attributes')
        ],
        'failed': [
            scheduled[e.activity_task_failed_event_attributes.scheduled_event_id]
            for e in events
            if e.HasField('activity_task_failed_event_attributes')
        ],
    }


def index_of(client: ChatClient, frame: dict[str, Any]) -> int:
    return next(i for i, f in enumerate(client.frames) if f is frame)


async def test_tokens_stream_and_the_second_turn_sees_the_first(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    client = await open_session(stack, http, 'local')
    await client.send('m1', 'My favourite word is walrus.')
    await client.wait_for(lambda: client.finished(1), timeout=TURN_SECONDS)

    tokens = client.of_type('TEXT_MESSAGE_CONTENT', 1)
    assert len(tokens) >= 3, tokens  # token by token, not one block at the end
    assert max(index_of(client, f) for f in tokens) < index_of(client, client.of_type('RUN_FINISHED', 1)[0])
    assert {(f['step'], f['attempt']) for f in tokens} == {(1, 1)}
    first_reply = client.streamed_text(1)
    assert first_reply.strip() and client.of_type('RUN_FINISHED', 1)[0]['result'] == first_reply

    # The word is not in the question: the reply can only have it from the first turn.
    await client.send('m2', 'What is my favourite word?')
    await client.wait_for(lambda: client.finished(2), timeout=TURN_SECONDS)
    assert 'walrus' in client.streamed_text(2).lower(), client.streamed_text(2)

    turns = await turns_of(http, client.session_id)
    assert [(t['status'], t['reply'], t['model']) for t in turns] == [
        ('done', first_reply, MODEL_NAME),
        ('done', client.streamed_text(2), MODEL_NAME),
    ]
    assert client.delivery_faults() == []
    await client.disconnect()


async def test_a_tool_call_runs_as_an_activity_and_its_result_reaches_the_turn(
    stack: Stack, http: httpx.AsyncClient, temporal: Client
) -> None:
    client = await open_session(stack, http, 'codes')
    await client.send('m1', 'What is the access code for the front door?')
    await client.wait_for(lambda: client.finished(1), timeout=TURN_SECONDS)

    # Temporal ran the tool: its own activity, scheduled and completed, beside the model's requests.
    record = await activities(temporal, client.session_id)
    assert TOOL_ACTIVITY in record['scheduled'] and TOOL_ACTIVITY in record['completed'], record
    assert record['failed'] == []
    assert record['completed'].count('agent__codes__model_request_stream') >= 2  # the call, then the answer

    (call,) = (await turns_of(http, client.session_id))[0]['tool_calls']
    assert call['name'] == 'lookup_code' and CODE in call['result'], call
    assert 'door' in str(call['args'].get('name', '')).lower(), call
    results = client.of_type('TOOL_CALL_RESULT', 1)
    assert [r['toolCallId'] for r in results] == [call['id']] and CODE in results[0]['content']
    # Whether the 0.5B model quotes the result back is its own affair (it does, for this prompt at
    # temperature 0); that the run ends with its reply is the product's.
    assert client.finished(1) is not None and client.streamed_text(1).strip()
    assert client.delivery_faults() == []
    await client.disconnect()


async def test_model_server_killed_mid_reply_the_turn_finishes_once(
    stack: Stack, http: httpx.AsyncClient, temporal: Client, real_model_server: ModelServer
) -> None:
    client = await open_session(stack, http, 'storyteller')
    await client.send('m1', 'Write a long story about a lighthouse keeper.')
    await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1), timeout=TURN_SECONDS)

    # Off the event loop, so the websocket keeps reading while the server comes back.
    await asyncio.to_thread(kill_and_restart, real_model_server)
    await client.wait_for(lambda: client.finished(1), timeout=TURN_SECONDS)

    assert len(client.of_type('RUN_FINISHED', 1)) == 1
    assert client.of_type('RUN_ERROR', 1) == []
    # The broken attempt was reported, retried, and the retry told the page to start the step over.
    errors = client.of_type('MODEL_ERROR', 1)
    assert errors and all(e['step'] == 1 and e['retrying'] for e in errors), errors
    retried = client.of_type('ATTEMPT_STARTED', 1)
    assert [(f['step'], f['attempt']) for f in retried] == [(1, errors[-1]['attempt'] + 1)]
    assert {f['attempt'] for f in client.of_type('TEXT_MESSAGE_CONTENT', 1)} == {1, retried[0]['attempt']}
    assert client.delivery_faults() == []

    turns = await turns_of(http, client.session_id)
    assert [(t['status'], t['reply']) for t in turns] == [('done', client.streamed_text(1))]
    assert turns[0]['reply'] == client.of_type('RUN_FINISHED', 1)[0]['result']
    # One model request in Temporal's record, scheduled and completed once: the retries are inside it.
    record = await activities(temporal, client.session_id)
    stream = 'agent__storyteller__model_request_stream'
    assert record['scheduled'].count(stream) == record['completed'].count(stream) == 1, record
    assert f'{stream}#{retried[0]["attempt"]}' in record['started']
    await client.disconnect()


async def test_interrupt_while_tokens_stream_stops_them(stack: Stack, http: httpx.AsyncClient) -> None:
    client = await open_session(stack, http, 'storyteller')
    await client.send('m1', 'Write a long story about a lighthouse keeper.')
    await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 5, timeout=TURN_SECONDS)

    response = await http.post(f'/sessions/{client.session_id}/interrupt', json={})
    assert response.status_code == 200, response.text
    assert response.json() == {'turn': 1, 'dropped': []}
    await client.wait_for(lambda: client.of_type('TURN_INTERRUPTED', 1), timeout=TURN_SECONDS)
    # A later turn runs on the same model server once the stopped request has let go of it; by its
    # end, anything the stopped turn could still have streamed would be in.
    await client.send('m2', 'Reply with just the word OK.')
    await client.wait_for(lambda: client.finished(2), timeout=TURN_SECONDS)

    stopped = client.of_type('TURN_INTERRUPTED', 1)[0]
    tokens = [index_of(client, f) for f in client.of_type('TEXT_MESSAGE_CONTENT', 1)]
    assert max(tokens) < index_of(client, stopped)
    assert client.of_type('RUN_FINISHED', 1) == []
    seen = client.streamed_text(1)
    assert seen.strip() and stopped['reply'] == seen
    turns = await turns_of(http, client.session_id)
    assert [(t['status'], t['reply']) for t in turns] == [
        ('interrupted', seen),
        ('done', client.streamed_text(2)),
    ]
    assert client.delivery_faults() == []
    await client.disconnect()


async def test_a_message_longer_than_the_context_window_fails_at_once_in_words(
    stack: Stack, http: httpx.AsyncClient, temporal: Client
) -> None:
    client = await open_session(stack, http, 'local')
    # About one token per character (digits are a token each): far past the server's context.
    await client.send('m1', '0123456789 ' * (DEFAULT_CTX_SIZE // 4))
    await client.wait_for(lambda: client.of_type('RUN_ERROR', 1), timeout=TURN_SECONDS)

    errors = client.of_type('MODEL_ERROR', 1)
    assert [(e['step'], e['attempt'], e['retrying'], e['reason']) for e in errors] == [
        (1, 1, False, CONTEXT_WINDOW)
    ]
    assert client.of_type('RUN_ERROR', 1)[0]['message'] == f'The model could not answer: {CONTEXT_WINDOW}.'
    assert client.of_type('ATTEMPT_STARTED', 1) == [] and client.of_type('TEXT_MESSAGE_CONTENT', 1) == []
    record = await activities(temporal, client.session_id)
    stream = 'agent__local__model_request_stream'
    assert [name for name in record['started'] if name.startswith(stream)] == [f'{stream}#1'], record
    assert record['failed'] == [stream]

    # The session goes on: the overlong message is not part of what the model sees next.
    await client.send('m2', 'Say hello.')
    await client.wait_for(lambda: client.finished(2), timeout=TURN_SECONDS)
    turns = await turns_of(http, client.session_id)
    assert [t['status'] for t in turns] == ['failed', 'done']
    assert turns[0]['reply'] == f'The model could not answer: {CONTEXT_WINDOW}.'
    assert client.delivery_faults() == []
    await client.disconnect()
