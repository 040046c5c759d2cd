"""The chaos stack: the production shape on loopback, every process killable and restartable in place.

Two chat workers, one memory worker, two API processes, the Temporal dev server (restarted on the same
SQLite file and port) and Valkey (restarted on the same data dir, so its append-only file is replayed).
All of it is durable_chat.testing.stack; this only names the kinds the fault injector picks from.
The workers serve the delegation example's agents too: some users chat with the lead agent, whose
turns may run the researcher as a child workflow while the kills land.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from durable_chat.testing import stack
from durable_chat.workflows.agents.specs import BUILTIN_DIR

KINDS = ('chat_worker', 'memory_worker', 'api', 'temporal', 'redis')
DELEGATION_AGENTS = Path(__file__).resolve().parent.parent.parent / 'examples' / 'delegation'


class Killable(Protocol):
    """A process or server of the stack (Worker, Api, TemporalServer, Valkey)."""

    def kill(self) -> None: ...

    def restart(self) -> object: ...


class ChaosStack(stack.Stack):
    """The stack with the kinds of process addressed by name and index."""

    remove_folder_on_stop: bool = False

    def __init__(self) -> None:
        agents = {'DURABLE_CHAT_AGENTS_DIR': f'{BUILTIN_DIR}:{DELEGATION_AGENTS}'}
        folder = Path(tempfile.mkdtemp(prefix='durable-chat-chaos-'))
        super().__init__(folder, secret='chaos-secret', settings=agents)

    def start(self, chat_workers: int = 2, apis: Sequence[Mapping[str, str]] = ({}, {})) -> ChaosStack:
        super().start(chat_workers, apis)
        return self

    @property
    def api_urls(self) -> list[str]:
        return [process.url for process in self.apis]

    def _process(self, kind: str, index: int) -> Killable:
        match kind:
            case 'chat_worker':
                return self.workers.chat[index]
            case 'memory_worker':
                return self.workers.memory
            case 'api':
                return self.apis[index]
            case 'temporal':
                return self.temporal
            case 'redis':
                return self.valkey
        raise ValueError(kind)

    def kill(self, kind: str, index: int) -> None:
        """SIGKILL one process of a kind: no cleanup, exactly like a crashed machine."""
        self._process(kind, index).kill()

    def restart(self, kind: str, index: int) -> None:
        """Starts the killed process again on the same port and state, and waits until it serves."""
        self._process(kind, index).restart()

    def stop_memory_worker(self) -> None:
        """The embedded Qdrant belongs to one process: stop its owner before reading the store."""
        self.workers.memory.stop()

    def stop(self, kill: bool = True) -> None:
        # The run is judged by now: no graceful shutdown to wait for.
        super().stop(kill)
        if self.remove_folder_on_stop:
            shutil.rmtree(self.folder, ignore_errors=True)
