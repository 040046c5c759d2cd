"""The official AG-UI client, `@ag-ui/client`'s HttpAgent from npm, run by Node for the tests.

A Node process (`npm/ag_ui_driver.cjs`) holds one HttpAgent: a thread, its messages as the client
keeps them, and the runs it makes. Each event it receives, each finished run and each warning it
printed (the client warns on events it had to strip or could not place) comes back as a line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from durable_chat.testing.mcp_servers import NPM_PROJECT, install_npm_servers

DRIVER = NPM_PROJECT / 'ag_ui_driver.cjs'
Line = dict[str, Any]


class AguiClient:
    """`await AguiClient(url, token).start()`; `say(...)` adds a user message, `run()` makes a run."""

    def __init__(self, url: str, token: str, thread_id: str | None = None) -> None:
        self.url = url
        self.token = token
        self.thread_id = thread_id or str(uuid.uuid4())
        self.lines: list[Line] = []
        self._changed = asyncio.Event()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Self:
        node = shutil.which('node')
        if node is None:
            raise RuntimeError('node is not on PATH: the AG-UI client cannot run')
        modules = install_npm_servers() / 'node_modules'
        env = {**os.environ, 'NODE_PATH': str(modules)}
        self._process = await asyncio.create_subprocess_exec(
            node, str(DRIVER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
        )
        self._reader = asyncio.create_task(self._read())
        await self._command({'op': 'new', 'url': self.url, 'token': self.token, 'threadId': self.thread_id})
        await self.wait_for(lambda: any(line['kind'] == 'ready' for line in self.lines))
        return self

    async def close(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for raw in self._process.stdout:
            self.lines.append(json.loads(raw))
            self._changed.set()

    async def _command(self, command: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(json.dumps(command).encode() + b'\n')
        await self._process.stdin.drain()

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> None:
        async def until() -> None:
            while not condition():
                self._changed.clear()
                if condition():
                    return
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def add(self, message: dict[str, Any]) -> None:
        await self._command({'op': 'add', 'message': message})
        await self.wait_for(
            lambda: any(line.get('id') == message['id'] for line in self.lines if line['kind'] == 'added')
        )

    async def say(self, text: str, message_id: str | None = None) -> str:
        message_id = message_id or f'u-{uuid.uuid4()}'
        await self.add({'id': message_id, 'role': 'user', 'content': text})
        return message_id

    async def start_run(self, **options: Any) -> int:
        """Starts a run (options: `tools`, `resume`, `abortAfter`); returns its index for `finished`."""
        index = len(self.done())
        await self._command({'op': 'run', **options})
        return index

    async def run(self, timeout: float = 60, **options: Any) -> Line:
        """Makes a run and waits for it to end; its `done` line (messages, result, error)."""
        index = await self.start_run(**options)
        return await self.finished(index, timeout)

    async def finished(self, index: int, timeout: float = 60) -> Line:
        await self.wait_for(lambda: len(self.done()) > index, timeout)
        return self.done()[index]

    def done(self) -> list[Line]:
        return [line for line in self.lines if line['kind'] == 'done']

    def events(self, run: int | None = None) -> list[Line]:
        """The events the client received (of one run: the `run`-th, counting from 0)."""
        events: list[list[Line]] = [[]]
        for line in self.lines:
            if line['kind'] == 'event':
                events[-1].append(line['event'])
            elif line['kind'] == 'done':
                events.append([])
        return [e for chunk in events for e in chunk] if run is None else events[run]

    def warnings(self) -> list[str]:
        return [line['text'] for line in self.lines if line['kind'] == 'warn']


def reply_text(messages: list[Line]) -> list[tuple[str, str]]:
    """The conversation as the client holds it: (role, text) per message with text."""
    return [
        (m['role'], m.get('content') or '')
        for m in messages
        if m['role'] in ('user', 'assistant') and m.get('content')
    ]


def driver_path() -> Path:
    return DRIVER
