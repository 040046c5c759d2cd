"""The API's memory reads: standalone activities on the memory queue, or the MemoryOperation workflow
on a server without them. Either way the caller gets the same answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import Client

from durable_chat import embedded
from durable_chat.memory.types import LIST_MEMORIES, RECALL_MEMORIES
from durable_chat.testing.servers import TemporalServer
from durable_chat.testing.services import api, running, worker
from durable_chat.testing.stack import Workers
from tests.test_memory_sessions import new_session, say, signed_in

pytestmark = pytest.mark.integration

FACTS = ('I have a cat named Miso', 'I work as a pilot')


async def tell(api_url: str, http: httpx.AsyncClient, username: str) -> None:
    session = await new_session(http)
    for fact in FACTS:
        await say(api_url, http, username, session, f'remember that {fact}')


async def read_back(http: httpx.AsyncClient) -> None:
    assert [m['text'] for m in (await http.get('/memories')).json()] == list(FACTS)
    found = (await http.get('/memories', params={'q': 'which pet do I have', 'k': 1})).json()
    assert [m['text'] for m in found] == ['I have a cat named Miso']
    assert found[0]['score'] > 0.3


async def activity_types(client: Client, prefix: str) -> set[str]:
    """The types of the standalone activities whose id starts with `prefix` (visibility lags a little)."""
    for _ in range(50):
        found = {
            a.activity_type async for a in client.list_activities('') if a.activity_id.startswith(prefix)
        }
        if found:
            return found
        await asyncio.sleep(0.1)
    return set()


async def memory_operations(client: Client, at_least: int = 0) -> int:
    """How many MemoryOperation workflows ran, once visibility shows `at_least` of them."""
    for _ in range(50):
        count = (await client.count_workflows("WorkflowType = 'MemoryOperation'")).count
        if count >= at_least:
            break
        await asyncio.sleep(0.1)
    return count


async def test_reads_run_as_standalone_activities(
    api_url: str, workers: Workers, temporal_client: Client
) -> None:
    workers.ensure_one()
    async with signed_in(api_url, 'grace') as grace:
        await tell(api_url, grace, 'grace')
        operations = await memory_operations(temporal_client)
        await read_back(grace)
        assert await activity_types(temporal_client, 'memory-read-') >= {LIST_MEMORIES, RECALL_MEMORIES}
        await asyncio.sleep(1)  # a workflow run by mistake would be visible by now
        assert await memory_operations(temporal_client) == operations
        # A write still runs the workflow.
        assert (await grace.delete('/memories')).json() == {'deleted': len(FACTS)}
        assert (await grace.get('/memories')).json() == []


@pytest.fixture
def without_standalone_activities(
    tmp_path: Path, service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """A Temporal server that refuses standalone activities, with a worker and an API on it:
    (API URL, Temporal address)."""
    monkeypatch.setitem(embedded.DEV_SERVER_CONFIG, 'activity.enableStandalone', 'false')
    server = TemporalServer(tmp_path / 'temporal').start()
    env = {
        **service_env,
        'DURABLE_CHAT_TEMPORAL_ADDRESS': server.address,
        'DURABLE_CHAT_DATA_DIR': str(tmp_path / 'data'),
    }
    both, server_api = worker(env, 'chat,memory'), api(env)
    try:
        with running(both, server_api):
            yield server_api.url, server.address
    finally:
        server.stop()


async def test_a_server_without_standalone_activities_answers_through_the_workflow(
    without_standalone_activities: tuple[str, str],
) -> None:
    api_url, address = without_standalone_activities
    client = await Client.connect(address, plugins=[PydanticAIPlugin()])
    async with signed_in(api_url, 'heidi') as heidi:
        await tell(api_url, heidi, 'heidi')
        await read_back(heidi)
        await read_back(heidi)  # the API remembers the server's answer and goes straight to the workflow
    assert await memory_operations(client, at_least=4) >= 4  # two reads, twice


async def test_a_server_without_standalone_activities_erases_a_user_through_the_workflow(
    without_standalone_activities: tuple[str, str],
) -> None:
    api_url, _address = without_standalone_activities
    async with signed_in(api_url, 'ivan') as ivan:
        await tell(api_url, ivan, 'ivan')
        erased = await ivan.delete('/me')
        assert erased.status_code == 200, erased.text
        assert erased.json()['memories'] == len(FACTS)
        assert (await ivan.get('/memories')).json() == []
