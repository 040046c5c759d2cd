"""The product's own processes, `durable-chat worker` and `durable-chat api`, each knowing when it serves:
a worker once Temporal lists its pollers, an API once its `/readyz` says its dependencies answer."""

from __future__ import annotations

import os
import socket
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from durable_chat.settings import Settings
from durable_chat.testing.processes import DURABLE_CHAT, Process, free_port
from durable_chat.testing.readiness import NotReady, wait_for_pollers, wait_for_readyz

START_TIMEOUT = 120.0
"""A memory worker loads the embedder first, and the full suite keeps the machine busy."""

ENV_PREFIX = 'DURABLE_CHAT_'


def settings_of(env: Mapping[str, str]) -> Settings:
    """The settings a child started with `env` reads (validated without the environment and `.env`
    of this process: `env` is the child's whole environment)."""
    given = {name: env.get(f'{ENV_PREFIX}{name.upper()}') for name in Settings.model_fields}
    return Settings.model_validate({name: value for name, value in given.items() if value is not None})


@dataclass(eq=False, repr=False)
class Service(Process):
    """A process that says when it serves by what the servers report, never by a log line."""

    timeout: float = START_TIMEOUT

    def _ready(self) -> None:
        raise NotImplementedError

    def wait_ready(self) -> None:
        try:
            self._ready()
        except NotReady as error:
            raise NotReady(f'{error}; {self.describe()}') from None

    def _gone(self) -> str | None:
        code = self.popen.poll() if self.popen is not None else None
        return None if code is None else f'{" ".join(self.command[-2:])} exited with {code}'


@dataclass(eq=False, repr=False)
class Worker(Service):
    """`durable-chat worker`: ready once Temporal lists its pollers (`pid@host`, the SDK's default
    identity, as the Docker healthcheck checks) for workflow and activity tasks on the task queue of
    each of its roles."""

    def _ready(self) -> None:
        settings = settings_of(self.env)
        queues = {'chat': settings.task_queue, 'memory': settings.memory_task_queue}
        wait_for_pollers(
            settings.temporal_target,
            settings.temporal_namespace,
            [queues[role] for role in sorted(settings.roles)],
            f'{self.pid}@{socket.gethostname()}',
            self._gone,
            self.timeout,
        )


@dataclass(eq=False, repr=False)
class Api(Service):
    """`durable-chat api` at `url`: ready once `/readyz` reports `checks` true. Temporal and Redis by
    default; the memory check is the memory worker's own readiness, awaited on that worker."""

    checks: tuple[str, ...] = ('temporal', 'redis')
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f'http://127.0.0.1:{settings_of(self.env).port}'

    def _ready(self) -> None:
        wait_for_readyz(self.url, self.checks, self._gone, self.timeout)


def worker(
    env: Mapping[str, str], roles: str = 'chat', cwd: Path | None = None, log: Path | None = None
) -> Worker:
    """A worker serving `roles` (`chat`, `memory` or both) with `env` (not started)."""
    full_env = {**os.environ, **env, 'DURABLE_CHAT_WORKER_ROLES': roles}
    return Worker([*DURABLE_CHAT, 'worker'], full_env, cwd, log)


def api(
    env: Mapping[str, str], port: int | None = None, cwd: Path | None = None, log: Path | None = None
) -> Api:
    """An API on `port` (else `env`'s DURABLE_CHAT_PORT, else a free one) with `env` (not started)."""
    port = port or int(env.get('DURABLE_CHAT_PORT') or free_port())
    return Api([*DURABLE_CHAT, 'api'], {**os.environ, **env, 'DURABLE_CHAT_PORT': str(port)}, cwd, log)


def start_together(*processes: Process) -> None:
    """Launches every process, then waits until each is ready (a worker and an API come up side by
    side); kills them all if one fails."""
    try:
        for process in processes:
            process.launch()
        for process in processes:
            process.wait_ready()
    except BaseException:
        for process in processes:
            process.kill()
        raise


@contextmanager
def running(*processes: Process) -> Generator[None]:
    """The processes started together (`start_together`), and stopped again on leaving, last first."""
    start_together(*processes)
    try:
        yield
    finally:
        for process in reversed(processes):
            process.stop()
