"""Real processes for the tests: workers and API servers started as `python -m durable_chat ...`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@dataclass
class Process:
    """A child process whose output is collected, so tests can wait for a line and show it on failure."""

    command: list[str]
    env: dict[str, str]
    popen: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list[str])
    url: str = ''
    cwd: Path = ROOT
    _seen: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> Process:
        self.output.clear()
        self.popen = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(self.popen,), daemon=True).start()
        return self

    def _pump(self, popen: subprocess.Popen[str]) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            with self._seen:
                self.output.append(line.rstrip('\n'))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for_line(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.output:
                    if needle in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (
                    self.popen is not None
                    and self.popen.poll() is not None
                    and not any(needle in line for line in self.output)
                ):
                    raise AssertionError(f'{needle!r} never appeared; output:\n' + '\n'.join(self.output))
                self._seen.wait(min(remaining, 0.5))

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def send_signal(self, signum: int) -> None:
        assert self.popen is not None
        self.popen.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, exactly like a crashed machine."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 15) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.popen.returncode


def durable_chat(command: str, env: dict[str, str]) -> Process:
    return Process([sys.executable, '-m', 'durable_chat', command], env={**os.environ, **env})


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(('127.0.0.1', port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f'nothing listens on port {port} after {timeout} s')
