"""MCP servers nobody here wrote, for tests: the Python ones of the test extra (stdio) and
`@modelcontextprotocol/server-everything` from npm over streamable HTTP; and the npm project's other
test tool, axe-core (`axe_script()`), which the page tests run in Chromium.

The npm packages are pinned by `npm/package-lock.json` and installed once per lockfile into a cache
outside the work tree (a changed lockfile is a fresh folder, so a package added to it is installed);
`python -m durable_chat.testing.mcp_servers` installs them ahead of the tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

from durable_chat.testing.processes import free_port, scratch_dir
from durable_chat.testing.readiness import Gone, wait_for_http
from durable_chat.testing.services import Service

NPM_PROJECT = Path(__file__).parent / 'npm'
EVERYTHING_ENTRY = Path('node_modules/@modelcontextprotocol/server-everything/dist/index.js')
AXE_SCRIPT = Path('node_modules/axe-core/axe.min.js')
INSTALL_TIMEOUT = 300.0

# The everything server listens on every interface, and one of its tools returns its environment:
# this preload binds a listen on a bare port to loopback.
_LOOPBACK = (
    "import net from 'node:net';"
    'const listen = net.Server.prototype.listen;'
    'net.Server.prototype.listen = function (...a) {'
    "  if (typeof a[0] === 'number' || /^[0-9]+$/.test(String(a[0])))"
    "    return listen.call(this, Number(a[0]), '127.0.0.1', ...a.slice(1).filter((x) => typeof x === 'function'));"
    '  return listen.apply(this, a);'
    '};'
)
LOOPBACK_IMPORT = 'data:text/javascript,' + quote(_LOOPBACK)


def installed_script(name: str) -> str:
    """A console script of this interpreter's environment (`mcp-server-time`), whose bin directory
    may not be on PATH."""
    return str(Path(sys.executable).parent / name)


def npm_dir() -> Path:
    """Where the npm servers are installed: a folder per lockfile under the user's cache."""
    digest = hashlib.sha256()
    for name in ('package.json', 'package-lock.json'):
        digest.update((NPM_PROJECT / name).read_bytes())
    cache = Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache')
    return cache / 'durable-chat' / 'npm' / digest.hexdigest()[:16]


def install_npm_servers() -> Path:
    """`npm ci` of the pinned packages (servers and test tools) into `npm_dir()`, unless done
    already; returns that folder.

    Test processes may ask at once: a lock file lets one install while the others wait, and the
    folder appears whole (installed beside it, then renamed)."""
    target = npm_dir()
    if (target / EVERYTHING_ENTRY).is_file():
        return target
    npm = shutil.which('npm')
    if npm is None:
        raise RuntimeError('npm is not on PATH: the MCP servers from npm cannot be installed')
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f'{target.name}.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / EVERYTHING_ENTRY).is_file():
            return target
        staging = target.with_name(f'{target.name}.installing')
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for name in ('package.json', 'package-lock.json'):
            shutil.copy(NPM_PROJECT / name, staging / name)
        command = [npm, 'ci', '--prefix', str(staging), '--ignore-scripts', '--no-audit', '--no-fund']
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(
                f'{" ".join(command)} exited with {done.returncode}:\n{done.stdout}{done.stderr}'
            )
        shutil.rmtree(target, ignore_errors=True)  # a folder left without the server in it
        staging.rename(target)
    return target


def axe_script() -> Path:
    """axe-core's browser build (`axe.min.js`, defines `axe`), installed if need be."""
    return install_npm_servers() / AXE_SCRIPT


def wait_for_mcp_http(url: str, gone: Gone, timeout: float) -> None:
    """The streamable HTTP endpoint at `url` answers in JSON-RPC (a GET without a session is
    refused with a JSON-RPC error: the MCP handler is the one answering)."""
    wait_for_http(url, _json_rpc, gone, timeout, headers={'Accept': 'application/json, text/event-stream'})


def _json_rpc(answer: httpx.Response) -> bool:
    is_json = answer.headers.get('content-type', '').startswith('application/json')
    return is_json and answer.json().get('jsonrpc') == '2.0'


@dataclass(eq=False, repr=False)
class EverythingServer(Service):
    """`@modelcontextprotocol/server-everything` over streamable HTTP at `url`: ready once its
    endpoint answers in JSON-RPC. Tools include `echo` and `trigger-long-running-operation`
    (`duration` seconds)."""

    port: int = 0
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f'http://127.0.0.1:{self.port}/mcp'

    def _ready(self) -> None:
        wait_for_mcp_http(self.url, self._gone, self.timeout)


def everything_server(port: int | None = None, log: Path | None = None) -> EverythingServer:
    """The everything server on 127.0.0.1:`port` (a free one by default), installed if need be, not
    started: `.start()`/`.stop()`, or `services.running(server)`."""
    node = shutil.which('node')
    if node is None:
        raise RuntimeError('node is not on PATH: the everything MCP server cannot run')
    entry = install_npm_servers() / EVERYTHING_ENTRY
    port = port or free_port()
    # Not this process's environment: the server hands its own to any client that asks.
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': str(scratch_dir()), 'PORT': str(port)}
    command = [node, '--import', LOOPBACK_IMPORT, str(entry), 'streamableHttp']
    return EverythingServer(command, env, log=log, port=port)


if __name__ == '__main__':
    print(install_npm_servers())
