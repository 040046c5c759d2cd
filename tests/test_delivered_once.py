"""Every stream event of a turn reaches a client once, whatever reruns.

A message that arrives while a turn ends and its run continues as new fails that workflow task (the
server refuses to close a run with a signal it has not handled): the task runs again, and with it
the local activity that published RUN_FINISHED. Each reply here is sent the moment the previous
RUN_FINISHED arrives, and each turn takes its run over the growth budget: a run due to continue as
new waits for a quiet second and answers such a message in the same run, then rolls over once the
session is quiet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.services import api
from durable_chat.testing.stack import Workers
from tests.conftest import token_for
from tests.test_approval import eventually
from tests.test_long_sessions import runs_of

pytestmark = pytest.mark.integration

TURNS = 20


@pytest.fixture(scope='module')
def rollover_api(service_env: dict[str, str], workers: Workers) -> Iterator[str]:
    """Sessions whose run is due to continue as new within a few turns (no compaction): with the payload
    store a ~20 KB message is a reference, so a run grows a few KB a turn and is due after several."""
    workers.ensure_one()
    env = {
        **service_env,
        'DURABLE_CHAT_SESSION_MAX_RUN_GROWTH_BYTES': '50000',
        'DURABLE_CHAT_SESSION_HISTORY_BUDGET_BYTES': '10000000',
    }
    process = api(env).start()
    yield process.url
    process.stop()


async def test_replies_sent_as_runs_roll_over_are_each_delivered_once(
    rollover_api: str, temporal_client: Client
) -> None:
    token = token_for('wendy')
    headers = {'Authorization': f'Bearer {token}'}
    async with httpx.AsyncClient(base_url=rollover_api, timeout=30, headers=headers) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
    client = await ChatClient(rollover_api, session_id, token).connect()
    texts = [f'fact-{i}-' + 'x' * 20_000 for i in range(1, TURNS + 1)]
    for i, text in enumerate(texts, start=1):
        await client.send(f'm-{i}', text)
        await client.wait_for(lambda i=i: client.finished(i), timeout=60)
    assert client.close_code is None

    assert client.delivery_faults() == []
    assert Counter(f['turn'] for f in client.of_type('RUN_FINISHED')) == {i: 1 for i in range(1, TURNS + 1)}
    for turn, text in enumerate(texts, start=1):
        assert client.streamed_text(turn) == client.finished(turn)['result'] == expected_reply(text)
        kinds = Counter(f['type'] for f in client.frames if f.get('turn') == turn)
        assert (kinds['TEXT_MESSAGE_START'], kinds['TEXT_MESSAGE_END'], kinds['RUN_FINISHED']) == (1, 1, 1)
    await client.disconnect()

    async def rolled_over() -> list[str] | None:
        runs = await runs_of(temporal_client, session_id)
        return runs if len(runs) >= 2 else None

    await eventually(rolled_over)  # once quiet, the run that was due continues as new
