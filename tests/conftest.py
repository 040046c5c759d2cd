"""Real services for the tests: a Temporal dev server, Valkey, a worker and an API process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import Client

from durable_chat.api.auth import Role, issue_token
from durable_chat.payload_store import data_converter, external_storage
from durable_chat.settings import Settings
from durable_chat.testing.processes import Process, output_marks, output_since
from durable_chat.testing.servers import TemporalServer, Valkey
from durable_chat.testing.services import Api, Worker, api
from durable_chat.testing.stack import HIGH_LIMITS, Workers, shared_env

SECRET = 'test-secret-key-not-for-production'


def token_for(username: str, role: Role = 'user') -> str:
    return issue_token(SECRET, username, role)


@pytest.fixture(scope='session')
def alice_token() -> str:
    return token_for('alice')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'runs_first: run before the rest (long, and best on a quiet machine)')


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker('runs_first') is None)


SHOWN_ON_FAILURE = pytest.StashKey[dict[Process, int]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    item.stash[SHOWN_ON_FAILURE] = output_marks()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report shows what the product's processes printed while it ran."""
    report: pytest.TestReport = yield
    if report.failed and SHOWN_ON_FAILURE in item.stash:
        for title, tail in output_since(item.stash[SHOWN_ON_FAILURE]):
            report.sections.append((f'output of {title}', tail))
    return report


@pytest.fixture(scope='session')
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    server = TemporalServer(tmp_path_factory.mktemp('temporal')).start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def temporal_address(temporal_server: TemporalServer) -> str:
    return temporal_server.address


@pytest.fixture(scope='session')
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    server = Valkey(tmp_path_factory.mktemp('valkey')).start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def service_env(
    temporal_server: TemporalServer, valkey: Valkey, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    # Tests send many messages fast as one user: per-user limits far out of reach (tests/test_limits.py
    # runs its own API with tiny ones).
    extra = {'DURABLE_CHAT_TASK_QUEUE': 'chat-tests', **HIGH_LIMITS}
    return shared_env(temporal_server, valkey, tmp_path_factory.mktemp('data'), SECRET, extra=extra)


@pytest.fixture(scope='session')
def workers(service_env: dict[str, str]) -> Iterator[Workers]:
    """The session's memory worker and chat workers; tests kill and start them at will."""
    pool = Workers(service_env).start_memory()
    yield pool
    pool.stop_all()


@pytest.fixture
def worker(workers: Workers) -> Worker:
    return workers.ensure_one()


@pytest.fixture(scope='session')
def api_process(service_env: dict[str, str]) -> Iterator[Api]:
    process = api(service_env).start()
    yield process
    process.stop()


@pytest.fixture(scope='session')
def api_url(api_process: Api) -> str:
    return api_process.url


@pytest.fixture
async def http(api_url: str, alice_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in as alice, an ordinary user."""
    headers = {'Authorization': f'Bearer {alice_token}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers) as client:
        yield client


@pytest.fixture(scope='session')
async def temporal_client(temporal_address: str, service_env: dict[str, str]) -> Client:
    """Reads what the session's workers wrote: their converter, their payload store."""
    storage = await external_storage(Settings(data_dir=Path(service_env['DURABLE_CHAT_DATA_DIR'])))
    return await Client.connect(
        temporal_address, data_converter=data_converter(storage), plugins=[PydanticAIPlugin()]
    )


@pytest.fixture(scope='session')
def small_limits_api(service_env: dict[str, str], workers: Workers) -> Iterator[str]:
    """An API that starts sessions with tiny budgets, so a few turns cross every threshold."""
    workers.ensure_one()
    budgets = {
        'DURABLE_CHAT_SESSION_MAX_RUN_EVENTS': '150',
        'DURABLE_CHAT_SESSION_KEEP_TURNS': '5',
        'DURABLE_CHAT_SESSION_HISTORY_BUDGET_BYTES': '6000',
    }
    process = api({**service_env, **budgets}).start()
    yield process.url
    process.stop()
