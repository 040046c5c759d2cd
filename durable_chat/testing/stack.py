"""The one way tests, benchmarks and chaos runs start the product: a Temporal dev server, Valkey, the
memory worker, chat workers and API processes, each killable and restartable in place, each ready
when the servers say so (durable_chat.testing.readiness)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from durable_chat.api.auth import Role, issue_token
from durable_chat.testing.servers import TemporalServer, Valkey
from durable_chat.testing.services import Api, Worker, api, worker
from durable_chat.testing.valkey_cluster import ValkeyCluster

SCRIPTED_MODEL = 'import:durable_chat.testing.scripted:model'
"""The scripted chat model (durable_chat.testing.scripted): replies follow from the message."""

HIGH_LIMITS = {
    'DURABLE_CHAT_LIMIT_MESSAGES_PER_MINUTE': '1000000',
    'DURABLE_CHAT_LIMIT_MESSAGE_BURST': '1000000',
    'DURABLE_CHAT_LIMIT_SESSIONS_PER_MINUTE': '1000000',
    'DURABLE_CHAT_LIMIT_SESSION_BURST': '1000000',
    'DURABLE_CHAT_LIMIT_WEBSOCKETS_PER_USER': '10000',
}
"""Per-user limits out of reach, for runs that send many messages fast as a few users."""


def shared_env(
    temporal: TemporalServer,
    valkey: Valkey,
    data_dir: Path,
    secret: str,
    model: str = SCRIPTED_MODEL,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The settings every worker and API of one stack share: its servers, data dir, key and model."""
    return {
        'DURABLE_CHAT_TEMPORAL_ADDRESS': temporal.address,
        'DURABLE_CHAT_TEMPORAL_NAMESPACE': temporal.namespace,
        'DURABLE_CHAT_REDIS_URL': valkey.url,
        'DURABLE_CHAT_MODEL': model,
        'DURABLE_CHAT_DATA_DIR': str(data_dir),
        'DURABLE_CHAT_SECRET_KEY': secret,
        **(extra or {}),
    }


class Workers:
    """The workers on one set of settings: one memory worker (the embedded Qdrant allows one process, it
    owns the store under the data dir) and chat workers that come and go around it."""

    def __init__(self, env: Mapping[str, str], cwd: Path | None = None, logs: Path | None = None) -> None:
        self.env, self.cwd, self.logs = dict(env), cwd, logs
        self.chat: list[Worker] = []
        self._started = 0
        self.memory = worker(self.env, 'memory', cwd, self._log('memory-worker'))

    def start_memory(self) -> Self:
        """Starts the memory worker; it polls when this returns."""
        self.memory.start()
        return self

    def _log(self, name: str) -> Path | None:
        if self.logs is None:
            return None
        self.logs.mkdir(parents=True, exist_ok=True)
        return self.logs / f'{name}.log'

    def start(self) -> Worker:
        """Another chat worker, polling when this returns."""
        self._started += 1
        started = worker(self.env, 'chat', self.cwd, self._log(f'chat-worker-{self._started}')).start()
        self.chat.append(started)
        return started

    def ensure_one(self) -> Worker:
        """A running chat worker: the first still alive, or a new one."""
        self.chat = [process for process in self.chat if not process.exited()]
        return self.chat[0] if self.chat else self.start()

    def restart_memory(self) -> Worker:
        """SIGKILL the memory worker (stopped or not) and start it again on the same store."""
        return self.memory.restart()

    def stop_all(self, kill: bool = False) -> None:
        for process in [*self.chat, self.memory]:
            process.kill() if kill else process.stop()
        self.chat.clear()


@dataclass
class Stack:
    """A whole stack in one folder: its data dir (Qdrant, Valkey, the Temporal database), its
    processes' cwd and their logs (`logs/`). `start` brings up the servers and the workers; `api`
    adds API processes; `stop` ends everything."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix='durable-chat-stack-')))
    secret: str = 'stack-secret'
    model: str = SCRIPTED_MODEL
    settings: dict[str, str] = field(default_factory=dict[str, str])
    """Environment for every worker and API beyond the shared settings (limits, budgets, PYTHONPATH)."""
    apis: list[Api] = field(default_factory=list[Api])
    cluster_nodes: int = 0
    """Above 0: Redis is a Valkey cluster of that many nodes (`cluster`) instead of `valkey`."""

    def __post_init__(self) -> None:
        # Ports are chosen now, so the settings are known before anything runs.
        self.temporal = TemporalServer(self.folder / 'temporal')
        self.valkey = Valkey(self.folder)
        self.cluster = (
            ValkeyCluster(self.folder / 'cluster', self.cluster_nodes) if self.cluster_nodes else None
        )
        redis = {}
        if self.cluster is not None:
            redis = {'DURABLE_CHAT_REDIS_URL': self.cluster.url, 'DURABLE_CHAT_REDIS_CLUSTER': '1'}
        settings = {**redis, **self.settings}
        self.env = shared_env(self.temporal, self.valkey, self.folder, self.secret, self.model, settings)
        self.workers = Workers(self.env, self.folder, self.folder / 'logs')

    def start(self, chat_workers: int = 1, apis: Sequence[Mapping[str, str]] = ()) -> Self:
        """The servers, the memory worker, `chat_workers` chat workers and an API for each of `apis`
        (its settings over the stack's), all ready on return; on failure, nothing left running."""
        try:
            self.temporal.start()
            (self.cluster or self.valkey).start()
            self.workers.start_memory()
            for _ in range(chat_workers):
                self.workers.start()
            for settings in apis:
                self.api(settings)
        except BaseException:
            self.stop(kill=True)
            raise
        return self

    def api(self, settings: Mapping[str, str] | None = None, port: int | None = None) -> Api:
        """Another API process, serving when this returns; `settings` over the stack's."""
        env = {**self.env, **(settings or {})}
        process = api(env, port, self.folder, self.folder / 'logs' / f'api-{len(self.apis) + 1}.log')
        self.apis.append(process.start())
        return process

    def token(self, username: str, role: Role = 'user') -> str:
        return issue_token(self.secret, username, role)

    def stop(self, kill: bool = False) -> None:
        """Stops everything (`kill`: SIGKILL the product's processes, for a run already judged)."""
        for process in self.apis:
            process.kill() if kill else process.stop()
        self.workers.stop_all(kill)
        (self.cluster or self.valkey).stop()
        self.temporal.stop()
