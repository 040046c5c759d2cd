"""The real stack for a benchmark run: Temporal dev server, Valkey, workers and an API process."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from durable_chat.api.auth import issue_token
from durable_chat.embedded import start_temporal, start_valkey, stop_process
from durable_chat.testing.processes import Process, durable_chat, free_port, wait_for_port

WORKER_READY = 'worker polling task queue'
BENCH_SECRET = 'bench-secret'


@dataclass
class Stack:
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix='durable-chat-bench-')))
    env: dict[str, str] = field(default_factory=dict[str, str])
    workers: list[Process] = field(default_factory=list[Process])
    api_url: str = ''
    small_limits_api: str = ''
    pids: dict[str, int] = field(default_factory=dict[str, int])
    """The stack's own processes by role (chat workers are in `workers`), for resource sampling."""
    _stops: list = field(default_factory=list)

    def start(self, model: str = 'import:durable_chat.testing.scripted:model') -> Stack:
        temporal_port, redis_port, api_port = free_port(), free_port(), free_port()
        temporal = start_temporal(self.folder, temporal_port, free_port(), self.folder / 'temporal.log')
        self._stops.append(lambda: stop_process(temporal))
        self.pids['temporal'] = temporal.pid
        valkey = start_valkey(self.folder, redis_port)
        self._stops.append(valkey.stop)
        self.env = {
            'DURABLE_CHAT_TEMPORAL_ADDRESS': f'127.0.0.1:{temporal_port}',
            'DURABLE_CHAT_REDIS_URL': f'redis://127.0.0.1:{redis_port}/0',
            'DURABLE_CHAT_MODEL': model,
            'DURABLE_CHAT_DATA_DIR': str(self.folder),
            'DURABLE_CHAT_SECRET_KEY': BENCH_SECRET,
            # The fan-out scenario streams 5,000-token replies: past the default reply budget.
            'DURABLE_CHAT_MAX_REPLY_TOKENS': '100000',
            # Bench runs hundreds of turns as one user: per-user limits out of reach.
            'DURABLE_CHAT_LIMIT_MESSAGES_PER_MINUTE': '1000000',
            'DURABLE_CHAT_LIMIT_MESSAGE_BURST': '1000000',
            'DURABLE_CHAT_LIMIT_SESSIONS_PER_MINUTE': '1000000',
            'DURABLE_CHAT_LIMIT_SESSION_BURST': '1000000',
            'DURABLE_CHAT_LIMIT_WEBSOCKETS_PER_USER': '10000',
        }
        api = durable_chat('api', {**self.env, 'DURABLE_CHAT_PORT': str(api_port)}).start()
        self._stops.append(api.stop)
        self.pids['api'] = api.pid
        wait_for_port(api_port)
        self.api_url = f'http://127.0.0.1:{api_port}'
        # A second API whose sessions roll over to a new run every few turns (continue-as-new).
        small_port = free_port()
        small = durable_chat(
            'api',
            {**self.env, 'DURABLE_CHAT_PORT': str(small_port), 'DURABLE_CHAT_SESSION_MAX_RUN_EVENTS': '150'},
        ).start()
        self._stops.append(small.stop)
        wait_for_port(small_port)
        self.small_limits_api = f'http://127.0.0.1:{small_port}'
        # One memory worker owns Qdrant local mode; chat workers come and go around it.
        memory = durable_chat('worker', {**self.env, 'DURABLE_CHAT_WORKER_ROLES': 'memory'}).start()
        memory.wait_for_line(WORKER_READY)
        self._stops.append(memory.stop)
        self.pids['memory worker'] = memory.pid
        self.start_worker()
        return self

    def start_worker(self) -> Process:
        worker = durable_chat('worker', {**self.env, 'DURABLE_CHAT_WORKER_ROLES': 'chat'}).start()
        worker.wait_for_line(WORKER_READY)
        self.workers.append(worker)
        return worker

    def token(self, username: str = 'bench') -> str:
        return issue_token(BENCH_SECRET, username)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for stop in reversed(self._stops):
            stop()
