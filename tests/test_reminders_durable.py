"""Reminders on the real stack: a reminder set for a few seconds arrives once (one reminder turn, its
frames once) although the chat worker holding the session is SIGKILLed, or the Temporal server is
restarted, while it is pending; and one set before the session continues as new fires in the new run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.servers import TemporalServer
from durable_chat.testing.stack import Workers
from durable_chat.workflows.contract import workflow_id
from durable_chat.workflows.offline_model import LABEL
from tests.conftest import token_for
from tests.test_approval import eventually

pytestmark = pytest.mark.integration

USER = 'rosa'


@pytest.fixture
async def rosa(api_url: str, workers: Workers) -> AsyncIterator[httpx.AsyncClient]:
    workers.ensure_one()
    headers = {'Authorization': f'Bearer {token_for(USER)}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield http


async def snapshot(http: httpx.AsyncClient, session_id: str) -> dict[str, Any] | None:
    """The session as `GET /sessions/{id}` shows it; None while the API can't ask (Temporal restarting)."""
    response = await http.get(f'/sessions/{session_id}')
    return response.json() if response.status_code == 200 else None


async def pending_after(http: httpx.AsyncClient, session_id: str, turn: int, set_in: int) -> dict[str, Any]:
    """Waits until turn `turn` is recorded and the session idles; its one reminder (set in turn
    `set_in`) is pending.

    A query is answered once the workflow task in flight is completed, so from then on the turn's end
    and the reminder's timer are in Temporal's history: a crash can no longer undo or redo that turn."""

    async def idle() -> dict[str, Any] | None:
        shown = await snapshot(http, session_id)
        if shown is None or shown['status'] != 'idle' or shown['turns'][-1]['number'] != turn:
            return None
        return shown

    shown = await eventually(idle)
    assert [(r['set_in_turn'], r['status']) for r in shown['reminders']] == [(set_in, 'pending')]
    return shown['reminders'][0]


async def start(api_url: str, http: httpx.AsyncClient, text: str) -> tuple[str, ChatClient]:
    session_id = (await http.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(api_url, session_id, token_for(USER)).connect()
    await client.send('m-1', text)
    await client.wait_for(lambda: client.finished(1))
    assert client.streamed_text(1).startswith(f'{LABEL} Reminder r1-1 set for ')
    return session_id, client


async def assert_arrived_once(
    http: httpx.AsyncClient, client: ChatClient, reminder: dict[str, Any], turn: int, reply: str
) -> None:
    """The reminder came as turn `turn`, streamed once; the next message is the next turn (no second
    reminder turn in between), and the transcript holds exactly one reminder turn."""
    await client.wait_for(lambda: client.finished(turn), timeout=120)
    assert client.streamed_text(turn) == reply
    await client.send('m-after', 'hello')
    await client.wait_for(lambda: client.finished(turn + 1))

    assert len(client.of_type('RUN_FINISHED', turn)) == 1
    assert [f['turn'] for f in client.of_type('RUN_FINISHED')] == list(range(1, turn + 2))
    assert client.delivery_faults() == []

    history = (await http.get(f'/sessions/{client.session_id}/history')).json()['turns']
    reminders = [t for t in history if t['kind'] == 'reminder']
    assert [(t['number'], t['user_text'], t['message_id'], t['status'], t['reply']) for t in reminders] == [
        (turn, '', f'reminder:{reminder["id"]}', 'done', reply)
    ]
    assert [t['number'] for t in history] == list(range(1, turn + 2))
    assert (history[-1]['user_text'], history[-1]['kind']) == ('hello', 'message')
    shown = await snapshot(http, client.session_id)
    assert shown is not None
    assert [(r['id'], r['status'], r['fired_turn']) for r in shown['reminders']] == [
        (reminder['id'], 'fired', turn)
    ]
    await client.disconnect()


async def test_a_reminder_arrives_once_across_a_sigkilled_worker(
    api_url: str, rosa: httpx.AsyncClient, workers: Workers
) -> None:
    session_id, client = await start(api_url, rosa, 'remind me in 4 seconds to stretch')
    reminder = await pending_after(rosa, session_id, 1, set_in=1)

    # Every chat worker dies: the session's cached run and its timer's wait go with them.
    for doomed in [w for w in workers.chat if not w.exited()]:
        doomed.kill()
    workers.start()
    await assert_arrived_once(rosa, client, reminder, 2, f'{LABEL} Reminder: stretch')


async def test_a_reminder_arrives_once_across_a_restarted_temporal_server(
    api_url: str, rosa: httpx.AsyncClient, workers: Workers, temporal_server: TemporalServer
) -> None:
    session_id, client = await start(api_url, rosa, 'remind me in 4 seconds to drink water')
    reminder = await pending_after(rosa, session_id, 1, set_in=1)

    temporal_server.restart()  # SIGKILL, then the same database again
    workers.ensure_one()  # a worker that gave up on the lost server is started again, as a supervisor would
    await assert_arrived_once(rosa, client, reminder, 2, f'{LABEL} Reminder: drink water')


NEAR_THE_END_OF_A_RUN = 100
"""Events into a run (of `small_limits_api`'s 150) after which the reminder is set: the run then
continues as new within a few turns, long before the reminder is due."""


async def test_a_reminder_set_before_a_continue_as_new_fires_once_in_the_next_run(
    small_limits_api: str, temporal_client: Client
) -> None:
    headers = {'Authorization': f'Bearer {token_for(USER)}'}
    async with httpx.AsyncClient(base_url=small_limits_api, timeout=60, headers=headers) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
        client = await ChatClient(small_limits_api, session_id, token_for(USER)).connect()
        handle = temporal_client.get_workflow_handle(workflow_id(session_id))
        turn = 0

        async def chat(text: str) -> None:
            nonlocal turn
            turn += 1
            await client.send(f'm-{turn}', text)
            await client.wait_for(lambda: client.finished(turn))

        while (await handle.describe()).history_length < NEAR_THE_END_OF_A_RUN:
            await chat(f'long c{turn + 1}')
        first_run = (await handle.describe()).run_id
        await chat('remind me in 20 seconds to call Ana')
        set_in = turn
        reminder = await pending_after(http, session_id, set_in, set_in)
        while (await handle.describe()).run_id == first_run:
            await chat(f'long c{turn + 1}')

        # Carried into the new run still pending: it can only fire there.
        carried = await pending_after(http, session_id, turn, set_in)
        assert carried == reminder
        await assert_arrived_once(http, client, reminder, turn + 1, f'{LABEL} Reminder: call Ana')
