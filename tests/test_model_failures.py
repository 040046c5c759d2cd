"""A model that is down: the user reads what is happening while it is retried, the log has one line
per failed attempt, and stopping a worker after an interrupted turn prints nothing alarming."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from durable_chat.testing.services import api, running, worker
from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

UNREACHABLE = "the model server can't be reached"
ATTEMPTS = 8


@pytest.fixture(scope='module')
def stack(service_env: dict[str, str], workers: Workers) -> Iterator[tuple[Process, str]]:
    """A chat worker and API of their own, so the worker's log holds only these tests' turns."""
    env = {**service_env, 'DURABLE_CHAT_TASK_QUEUE': 'chat-model-failures'}
    chat, server = worker(env, 'chat'), api(env)
    with running(chat, server):
        yield chat, server.url


async def _new_session(api: str, user: str) -> ChatClient:
    async with httpx.AsyncClient(
        base_url=api, headers={'Authorization': f'Bearer {token_for(user)}'}
    ) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
    return await ChatClient(api, session_id, token_for(user)).connect()


async def test_a_model_that_is_down_is_reported_in_words_while_retried(stack: tuple[Process, str]) -> None:
    worker, api = stack
    client = await _new_session(api, 'xena')
    await client.send('m1', 'unreachable')
    await client.wait_for(lambda: client.of_type('RUN_ERROR', 1), timeout=90)

    errors = client.of_type('MODEL_ERROR', 1)
    assert [(f['step'], f['attempt'], f['reason'], f['retrying']) for f in errors] == [
        (1, attempt, UNREACHABLE, attempt < ATTEMPTS) for attempt in range(1, ATTEMPTS + 1)
    ]
    assert {f['max_attempts'] for f in errors} == {ATTEMPTS}
    assert client.of_type('RUN_ERROR', 1)[0]['message'] == (
        f'The model could not answer: {UNREACHABLE}. Try again in a moment.'
    )
    assert client.delivery_faults() == []
    # One log line per failed attempt, with its reason, and no traceback.
    failed = [line for line in worker.output if 'Completing activity as failed' in line]
    assert len(failed) == ATTEMPTS
    assert all('ConnectError: All connection attempts failed' in line for line in failed)
    assert not [line for line in worker.output if line.startswith('Traceback')]
    await client.disconnect()


async def test_stopping_a_worker_after_an_interrupted_turn_prints_no_stray_errors(
    stack: tuple[Process, str],
) -> None:
    worker, api = stack
    client = await _new_session(api, 'yara')
    await client.send('m1', 'slow 200')
    await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 5)
    async with httpx.AsyncClient(
        base_url=api, headers={'Authorization': f'Bearer {token_for("yara")}'}
    ) as http:
        assert (await http.post(f'/sessions/{client.session_id}/interrupt', json={})).status_code == 200
    await client.wait_for(lambda: client.of_type('TURN_INTERRUPTED', 1))
    await client.send('m2', 'hello again')
    await client.wait_for(lambda: client.finished(2))
    await client.disconnect()

    assert worker.popen is not None
    worker.popen.send_signal(signal.SIGINT)  # Ctrl-C
    assert worker.popen.wait(30) == 0
    assert not [line for line in worker.output if 'never retrieved' in line or 'Traceback' in line]
