"""`durable-chat up | worker | api`: the product's processes."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import ExitStack

import uvicorn

from durable_chat.api.auth import issue_token
from durable_chat.settings import Settings, get_settings
from durable_chat.temporal import TracingUnavailable

DEMO_USER = 'demo'
DEMO_OPERATOR = 'operator'

WS_MAX_BYTES = 1024 * 1024
"""Websocket frames above this are refused by the server (close code 1009)."""


def _uvicorn_server(settings: Settings) -> uvicorn.Server:
    from durable_chat.api.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=WS_MAX_BYTES,
        log_level='warning',
        log_config=None,  # our handler and format (text or JSON) for uvicorn's loggers too
        access_log=False,  # request lines would carry the websocket's ?token=: never logged
        timeout_graceful_shutdown=3,
    )
    return uvicorn.Server(config)


async def _serve_all(settings: Settings, announce: Callable[[], None]) -> None:
    """Worker and API in one process: the embedded Qdrant allows one process (docs/architecture.md, "Processes")."""
    from durable_chat.workflows.worker import run_worker

    stop_worker = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop_worker))
    server = _uvicorn_server(settings)
    serving = asyncio.create_task(server.serve())  # returns on Ctrl-C / SIGTERM (uvicorn's handlers)
    try:
        # uvicorn exposes `started` only as a flag, so poll it.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if server.started:
            announce()
        await serving
    finally:
        stop_worker.set()
        await worker


def _raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def up(settings: Settings) -> int:
    from durable_chat.embedded import (
        StartupError,
        ensure_port_free,
        start_temporal,
        start_valkey,
        stop_process,
    )

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as started:
        try:
            ensure_port_free(settings.port, 'web page')
            if settings.temporal_address is None:
                temporal = start_temporal(
                    settings.data_dir / 'temporal',
                    settings.temporal_port,
                    settings.temporal_ui_port,
                    settings.data_dir / 'temporal.log',
                )
                started.callback(stop_process, temporal)
            if settings.redis_url is None:
                valkey = start_valkey(settings.data_dir, settings.redis_port)
                started.callback(valkey.stop)
        except StartupError as error:
            print(f'durable-chat: cannot start: {error}', file=sys.stderr)
            return 1

        def announce() -> None:
            page = f'http://localhost:{settings.port}'
            print(f'durable-chat is up: open {page}', flush=True)
            print(
                f'  sign in as {DEMO_USER}: {page}/#token={issue_token(settings.secret, DEMO_USER)}',
                flush=True,
            )
            operator_token = issue_token(settings.secret, DEMO_OPERATOR, 'operator')
            print(f'  operator console: {page}/operator.html#token={operator_token}', flush=True)
            if settings.temporal_address is None:
                print(f'Temporal UI: http://localhost:{settings.temporal_ui_port}', flush=True)
            print('Press Ctrl-C to stop.', flush=True)

        # uvicorn re-raises the signal it caught once it has shut down; turn SIGTERM into an
        # exception like Ctrl-C's, so the servers started above are stopped on the way out.
        signal.signal(signal.SIGTERM, _raise_system_exit)
        try:
            asyncio.run(_serve_all(settings, announce))
        except (KeyboardInterrupt, SystemExit):
            pass
    print('durable-chat stopped.', flush=True)
    return 0


def worker(settings: Settings) -> int:
    from durable_chat.workflows.worker import run_worker

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(main())
    return 0


def api(settings: Settings) -> int:
    signal.signal(signal.SIGTERM, _raise_system_exit)  # uvicorn re-raises it after its graceful stop
    try:
        asyncio.run(_uvicorn_server(settings).serve())
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


def token(settings: Settings, username: str, operator: bool, days: int) -> int:
    role = 'operator' if operator else 'user'
    print(issue_token(settings.secret, username, role, ttl_seconds=days * 24 * 3600))
    return 0


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (`DURABLE_CHAT_LOG_FORMAT=json`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            'time': self.formatTime(record),
            'level': record.levelname,
            'logger': record.name,
            'message': record.getMessage(),
        }
        if record.exc_info:
            entry['exception'] = self.formatException(record.exc_info)
        return json.dumps(entry)


class _OneLineActivityFailures(logging.Filter):
    """Temporal logs each failed activity attempt with its whole traceback (~150 lines for a model
    request): one line with the reason says what an operator needs, and the failure stays in history."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, '__temporal_error_identifier', None) == 'ActivityFailure' and record.exc_info:
            error = record.exc_info[1]
            if error is not None:
                record.msg, record.args = f'{record.getMessage()}: {_failure_reason(error)}', None
                record.exc_info, record.exc_text = None, None
        return True


def _failure_reason(error: BaseException) -> str:
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    reason = f'{type(error).__name__}: {error}'
    return reason if root is error else f'{reason} (from {type(root).__name__}: {root})'


def _configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_OneLineActivityFailures())
    if settings.log_format == 'json':
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='durable-chat', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('up', help='start everything on embedded defaults and serve the page')
    commands.add_parser('worker', help='run a worker (settings name the Temporal and Redis servers)')
    commands.add_parser('api', help='run the API and page (settings name the Temporal and Redis servers)')
    minting = commands.add_parser('token', help='print a signed access token for a user')
    minting.add_argument('username')
    minting.add_argument('--operator', action='store_true', help='give the token the operator role')
    minting.add_argument('--days', type=int, default=30, help='days until it expires (default 30)')
    args = parser.parse_args(argv)
    settings = get_settings()
    _configure_logging(settings)
    if args.command == 'token':
        return token(settings, args.username, args.operator, args.days)
    handlers = {'up': up, 'worker': worker, 'api': api}
    try:
        return handlers[args.command](settings)
    except TracingUnavailable as error:
        print(f'durable-chat: {error}', file=sys.stderr)
        return 2


def run() -> None:
    """The `durable-chat` command: `main`, then exit without the interpreter's teardown, where the
    Temporal client's native threads can abort the process (SIGABRT in PyGILState_Release) and turn
    a clean stop into a crash a service manager would see."""
    code = main()
    if 'logfire' in sys.modules:
        sys.exit(code)  # tracing's exporters send their last spans at exit
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == '__main__':
    run()
