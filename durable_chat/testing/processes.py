"""Child processes for tests, benchmarks and chaos runs: output kept, killable, restartable in place."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Self

TAIL_LINES = 60
"""Lines of a process's output a failure report shows."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@cache
def scratch_dir() -> Path:
    """The default working directory of child processes: settings read `.env` and `.data` relative to
    it, so never the caller's cwd nor wherever this package happens to be installed."""
    folder = Path(tempfile.mkdtemp(prefix='durable-chat-cwd-'))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


_launched: weakref.WeakSet[Process] = weakref.WeakSet()


@dataclass(eq=False, repr=False)  # the repr would show the whole environment
class Process:
    """A child process whose output is collected (and copied to `log` if set), to wait for a line and
    to show on failure. Output survives restarts; `wait_for_line` reads the current run's only."""

    command: list[str]
    env: dict[str, str]
    cwd: Path | None = None
    log: Path | None = None
    popen: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list[str])
    _run_starts_at: int = 0
    _ended: set[int] = field(default_factory=set[int])
    """Pids whose output has been read to the end."""
    _seen: threading.Condition = field(default_factory=threading.Condition)

    def launch(self) -> Self:
        """Spawns the process (in a session of its own, so `kill` takes its children too)."""
        with self._seen:
            self._run_starts_at = len(self.output)
        self.popen = subprocess.Popen(
            self.command,
            cwd=self.cwd or scratch_dir(),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        _launched.add(self)
        threading.Thread(target=self._pump, args=(self.popen,), daemon=True).start()
        return self

    def wait_ready(self) -> None:
        """Returns once the process serves; a plain process has nothing to wait for."""

    def start(self) -> Self:
        """Launches the process and waits until it is ready; kills it if it never is."""
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def restart(self) -> Self:
        """SIGKILL and start again with the same command, settings and ports."""
        self.kill()
        return self.start()

    def _pump(self, popen: subprocess.Popen[str]) -> None:
        assert popen.stdout is not None
        log = self.log.open('a') if self.log is not None else None
        try:
            for line in popen.stdout:
                if log is not None:
                    log.write(line)
                    log.flush()
                with self._seen:
                    self.output.append(line.rstrip('\n'))
                    self._seen.notify_all()
        finally:
            if log is not None:
                log.close()
            with self._seen:
                self._ended.add(popen.pid)
                self._seen.notify_all()

    def wait_for_line(self, needle: str, timeout: float = 60) -> str:
        """The first line of the current run holding `needle` (for what a test asserts a process says)."""
        with self._seen:
            self._seen.wait_for(lambda: self._line(needle) or self._read_to_end(), timeout)
            line = self._line(needle)
            if line is None:
                raise AssertionError(f'{needle!r} never appeared; {self.describe()}')
            return line

    def _line(self, needle: str) -> str | None:
        return next((line for line in self.output[self._run_starts_at :] if needle in line), None)

    def _read_to_end(self) -> bool:
        return self.popen is not None and self.popen.pid in self._ended

    def exited(self) -> bool:
        return self.popen is not None and self.popen.poll() is not None

    def describe(self) -> str:
        """What a failure message shows: the command, its exit code if any and its last lines."""
        code = self.popen.poll() if self.popen is not None else None
        state = f'exited with {code}' if code is not None else 'running'
        tail = '\n'.join(self.output[-TAIL_LINES:])
        return f'{" ".join(self.command[-2:])} ({state}); output:\n{tail}'

    def __repr__(self) -> str:
        pid = self.popen.pid if self.popen is not None else None
        return f'{type(self).__name__}({" ".join(self.command[-2:])}, pid={pid})'

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


DURABLE_CHAT = [sys.executable, '-m', 'durable_chat']
"""The `durable-chat` command, run by this interpreter (whose venv may not be on PATH)."""


def durable_chat(
    command: str, env: dict[str, str], cwd: Path | None = None, log: Path | None = None
) -> Process:
    """`durable-chat <command>` with `env` over this process's environment (not started)."""
    return Process([*DURABLE_CHAT, command], {**os.environ, **env}, cwd, log)


def output_marks() -> dict[Process, int]:
    """How much output every process launched so far has printed: `output_since` shows what follows."""
    return {process: len(process.output) for process in list(_launched)}


def output_since(marks: dict[Process, int]) -> list[tuple[str, str]]:
    """(title, last lines) of each launched process that printed something after `marks`."""
    sections = []
    for process in list(_launched):
        new = process.output[marks.get(process, 0) :]
        if new:
            title = f'{" ".join(process.command[-2:])} pid {process.popen.pid if process.popen else "-"}'
            sections.append((title, '\n'.join(new[-TAIL_LINES:])))
    return sections
