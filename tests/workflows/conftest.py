"""The ChatSession workflow in this process: a chat worker and a memory worker inside the test, on
the test session's Temporal dev server and Valkey (tests/conftest.py), with the scripted model.

Sessions are started as the API starts them and driven by `driver.Chat`.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import pytest
import redis.asyncio as aioredis
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.memory.activities import open_store
from durable_chat.memory.store import MemoryStore
from durable_chat.memory.transcripts import TranscriptStore
from durable_chat.settings import Settings, get_settings
from durable_chat.workflows import events
from durable_chat.workflows.agents.specs import BUILTIN_DIR
from durable_chat.workflows.contract import (
    WORKFLOW_NAME,
    DoubleTexting,
    NewSession,
    SessionLimits,
    SessionOptions,
    search_attributes,
    workflow_id,
)
from durable_chat.workflows.worker import chat_worker, connect, ensure_search_attributes, memory_worker
from tests.workflows.driver import Chat, NewChat

SCRIPTED_MODEL = 'import:durable_chat.testing.scripted:model'
DELEGATION_AGENTS = Path(__file__).parent.parent.parent / 'examples' / 'delegation'


class Served(Protocol):
    """What this package needs of tests/conftest.py's `valkey` fixture: where it listens."""

    port: int


@pytest.fixture(scope='package')
def settings(
    temporal_address: str, valkey: Served, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """This package's settings, also what the activities read through `get_settings()`."""
    queue = f'chat-workflow-tests-{uuid.uuid4().hex[:8]}'
    env = {
        'DURABLE_CHAT_TEMPORAL_ADDRESS': temporal_address,
        'DURABLE_CHAT_REDIS_URL': f'redis://127.0.0.1:{valkey.port}/0',
        'DURABLE_CHAT_MODEL': SCRIPTED_MODEL,
        'DURABLE_CHAT_TASK_QUEUE': queue,
        'DURABLE_CHAT_MEMORY_TASK_QUEUE': f'{queue}-memory',
        'DURABLE_CHAT_DATA_DIR': str(tmp_path_factory.mktemp('workflow-data')),
        # The built-in agent and this package's: a spec with an MCP server, a Python agent; the
        # delegation example (a lead agent and the researcher it delegates to).
        'DURABLE_CHAT_AGENTS_DIR': f'{BUILTIN_DIR}:{Path(__file__).parent / "agents"}:{DELEGATION_AGENTS}',
        'DURABLE_CHAT_AGENTS_MODULE': 'tests.workflows.shop_agents',
        'MCP_PYTHON': sys.executable,
        'SHOP_LEDGER': str(tmp_path_factory.mktemp('shop') / 'ledger.json'),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope='package')
async def client(settings: Settings) -> Client:
    # The product's own connection: pydantic JSON payloads and pydantic-ai's converter plugin.
    connected = await connect(settings)
    await ensure_search_attributes(connected, settings.temporal_namespace)
    return connected


@pytest.fixture(scope='package')
async def memory_store(settings: Settings) -> AsyncIterator[MemoryStore]:
    store = await open_store(settings)
    yield store
    await store.close()


@pytest.fixture(scope='package')
async def workers(client: Client, settings: Settings, memory_store: MemoryStore) -> AsyncIterator[None]:
    """A chat worker and a memory worker (Qdrant local mode, the transcript archive) in this process."""
    # The activities' Redis client is made once per event loop: drop one made for other settings.
    clients = events._clients  # pyright: ignore[reportPrivateUsage]  (no public reset)
    loop = id(asyncio.get_running_loop())
    clients.pop(loop, None)
    transcripts = TranscriptStore(memory_store.client, run=memory_store.run_qdrant)
    await transcripts.ensure_collection()
    async with memory_worker(client, settings, memory_store, transcripts), chat_worker(client, settings):
        yield
    if (writer := clients.pop(loop, None)) is not None:
        await writer.aclose()


@pytest.fixture(scope='package')
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    reader = aioredis.Redis.from_url(settings.redis_target)
    yield reader
    await reader.aclose()


@pytest.fixture
async def new_chat(
    client: Client, settings: Settings, workers: None, redis: aioredis.Redis
) -> AsyncIterator[NewChat]:
    """Starts sessions as the API does (`create_session`), with the limits a test asks for."""
    started: list[Chat] = []

    async def start(
        limits: SessionLimits | None = None,
        own_user: bool = False,
        agent: str = 'chat',
        model: str = '',
        timezone: str = '',
        double_texting: DoubleTexting = 'enqueue',
    ) -> Chat:
        """`own_user`: a user of its own, for a test of memories. Others share one user without
        memories, whose sessions skip the recall after the first (the memory hint)."""
        session_id = uuid.uuid4().hex
        user = f'user-{session_id[:8]}' if own_user else f'{settings.task_queue}-user'
        options = SessionOptions(
            session_id=session_id,
            user_id=user,
            memory_task_queue=settings.memory_task_queue,
            limits=limits or SessionLimits(),
            agent=agent,
            model=model,
            timezone=timezone,
            double_texting=double_texting,
        )
        first = await client.start_workflow(
            WORKFLOW_NAME,
            NewSession(state=options),
            id=workflow_id(session_id),
            task_queue=settings.task_queue,
            search_attributes=search_attributes(user, 'idle', agent=agent, model=model),
        )
        # By workflow id, as the API addresses a session: always its current run.
        current = client.get_workflow_handle(workflow_id(session_id))
        chat = Chat(client, current, session_id, user, redis, first_run_id=first.first_execution_run_id or '')
        started.append(chat)
        return chat

    yield start
    # Sessions never end on their own: end this test's, so none runs on into the next.
    for chat in started:
        try:
            await chat.handle.terminate('test over')
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise  # NOT_FOUND: the test closed it already
