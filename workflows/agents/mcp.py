"""The MCP servers of a spec agent: `metadata.mcp_servers`, in the `mcpServers` shape of Claude Desktop
and Cursor, as pydantic-ai toolsets.

    mcp_servers:
      time: {command: mcp-server-time, args: [--local-timezone, UTC]}      # stdio
      git: {command: mcp-server-git, args: [--repository, '${REPO_DIR}']}
      everything: {url: 'http://127.0.0.1:3001/mcp', timeout: 30, retries: 3}  # streamable HTTP

Each server is one `MCPToolset` whose `id` is the server's name: `TemporalDurability` names the server's
activities after it (`agent__<agent>__mcp_server__<name>__call_tool`), so the name is persisted like
an agent's. The model sees the server's tools as `<name>_<tool>`. `${VAR}` and `${VAR:-default}` in
values are read from the environment when the agent is built, as pydantic-ai's `load_mcp_toolsets`
reads them. `timeout` (seconds per attempt) and `retries` (attempts in all) set the server's
activities (`toolset_activity_config`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal

from fastmcp.client.transports import StdioTransport
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.toolsets import AbstractToolset
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityConfig

SERVER_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_-]{0,31}$')
"""A server's name is part of activity names and prefixes its tools' names, which providers cap at
64 characters."""

INIT_TIMEOUT_SECONDS = 30.0
"""How long a server may take to start and answer MCP's handshake (pydantic-ai's default is 5 s, which
a stdio server importing its libraries on a busy machine can miss). An activity's own timeout bounds
the whole call anyway."""

_ENV_VAR = re.compile(r'\$\{([^}:]+)(:-([^}]*))?\}')
"""`${VAR}` or `${VAR:-default}`, as `load_mcp_toolsets` reads them (pydantic-ai keeps its own
expansion private)."""


class _Server(BaseModel):
    """One entry of `mcp_servers`, its values expanded."""

    model_config = ConfigDict(extra='forbid')

    # Claude Code and VS Code write the transport; it only has to agree with the other keys.
    type: Literal['stdio', 'http', 'streamable-http', 'streamableHttp'] | None = None
    command: str | None = Field(default=None, min_length=1)
    args: list[str] | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    timeout: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=1)


def mcp_toolsets(servers: Mapping[str, Mapping[str, object]]) -> list[AbstractToolset[Any]]:
    """One toolset per server, its tools named `<server>_<tool>`.

    The servers' own instructions are left out (`include_instructions=False`): a server's text would
    reach the model with the authority of the agent's instructions, and a deployer may not trust it.
    Raises `ValueError` naming the server for an entry that cannot be served.
    """
    return [_toolset(name, server) for name, server in _servers(servers).items()]


def toolset_activity_config(servers: Mapping[str, Mapping[str, object]]) -> dict[str, ActivityConfig]:
    """`TemporalDurability(toolset_activity_config=...)` for the servers that set `timeout` or
    `retries`: the start-to-close timeout and the attempts of each of their activities."""
    configs: dict[str, ActivityConfig] = {}
    for name, server in _servers(servers).items():
        config: ActivityConfig = {}
        if server.timeout is not None:
            config['start_to_close_timeout'] = timedelta(seconds=server.timeout)
        if server.retries is not None:
            config['retry_policy'] = RetryPolicy(maximum_attempts=server.retries)
        if config:
            configs[name] = config
    return configs


def server_of(tool_name: str, servers: Iterable[str]) -> str | None:
    """The server whose tool the model sees as `tool_name`, or None for a tool of no server.

    Unambiguous for servers `mcp_toolsets` accepts: no name of theirs is another's prefix."""
    owners = [name for name in servers if tool_name.startswith(f'{name}_')]
    return max(owners, key=len) if owners else None


def _servers(servers: Mapping[str, Mapping[str, object]]) -> dict[str, _Server]:
    parsed = {name: _server(name, entry) for name, entry in servers.items()}
    for name in parsed:
        for other in parsed:
            if other.startswith(f'{name}_'):
                raise ValueError(
                    f'MCP servers {name!r} and {other!r}: the tool names of one could be those of the other '
                    f'(both start with `{other}_`); rename one'
                )
    return parsed


def _server(name: object, entry: object) -> _Server:
    if not isinstance(name, str) or not SERVER_NAME.match(name):
        raise ValueError(
            f'MCP server name {name!r} must be a letter then up to 31 letters, digits, _ or - '
            '(it becomes part of activity names and prefixes the tool names)'
        )
    if not isinstance(entry, Mapping):
        raise ValueError(f'MCP server {name!r}: expected a mapping of settings, got {type(entry).__name__}')
    try:
        server = _Server.model_validate(_expanded(entry, name))
    except ValidationError as error:
        raise ValueError(f'MCP server {name!r}: {_problems(error)}') from None
    if (server.command is None) == (server.url is None):
        raise ValueError(
            f'MCP server {name!r} needs either `command` (a stdio server) or `url` (a streamable HTTP server)'
        )
    if server.command is not None:
        _check_keys(name, server, 'stdio', ('url', 'headers'), ('stdio',))
    else:
        _check_keys(
            name, server, 'HTTP', ('args', 'env', 'cwd'), ('http', 'streamable-http', 'streamableHttp')
        )
        if not (server.url or '').startswith(('http://', 'https://')):
            raise ValueError(
                f'MCP server {name!r}: `url` must start with http:// or https://, got {server.url!r}'
            )
    return server


def _check_keys(
    name: str, server: _Server, transport: str, foreign: tuple[str, ...], types: tuple[str, ...]
) -> None:
    given = [key for key in foreign if getattr(server, key) is not None]
    if given:
        keys = ', '.join(f'`{key}`' for key in given)
        raise ValueError(f'MCP server {name!r} is a {transport} server: {keys} do not apply to it')
    if server.type is not None and server.type not in types:
        raise ValueError(f'MCP server {name!r}: `type: {server.type}` does not match a {transport} server')


def _toolset(name: str, server: _Server) -> AbstractToolset[Any]:
    try:
        if server.command is not None:
            transport = StdioTransport(
                server.command, list(server.args or []), env=server.env, cwd=server.cwd
            )
            toolset = MCPToolset[Any](
                transport, id=name, include_instructions=False, init_timeout=INIT_TIMEOUT_SECONDS
            )
        else:
            toolset = MCPToolset[Any](
                server.url or '',
                id=name,
                headers=server.headers,
                include_instructions=False,
                init_timeout=INIT_TIMEOUT_SECONDS,
            )
    except ValueError as error:
        raise ValueError(f'MCP server {name!r}: {error}') from error
    return toolset.prefixed(name)


def _expanded(value: object, server: str) -> object:
    if isinstance(value, str):
        return _ENV_VAR.sub(lambda match: _variable(match, server), value)
    if isinstance(value, Mapping):
        return {key: _expanded(item, server) for key, item in value.items()}
    if isinstance(value, list):
        return [_expanded(item, server) for item in value]
    return value


def _variable(match: re.Match[str], server: str) -> str:
    name, default = match.group(1), match.group(3)
    if name in os.environ:
        return os.environ[name]
    if match.group(2) is not None:
        return default or ''
    raise ValueError(f'MCP server {server!r}: environment variable ${{{name}}} is not set and has no default')


def _problems(error: ValidationError) -> str:
    problems: list[str] = []
    for problem in error.errors():
        where = '.'.join(str(part) for part in problem['loc'])
        if problem['type'] == 'extra_forbidden':
            problems.append(f'unknown key `{where}`')
        else:
            problems.append(f'`{where}`: {problem["msg"]}')
    return '; '.join(problems)
