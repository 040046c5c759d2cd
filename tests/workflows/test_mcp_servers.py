"""An agent's MCP servers as toolsets (`workflows/agents/mcp.py`), on real servers: `mcp-server-time`
and `mcp-server-git` over stdio, `@modelcontextprotocol/server-everything` over streamable HTTP.

No Temporal here: these are the toolsets `TemporalDurability` wraps, listed and called directly.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import RunContext
from pydantic_ai.durable_exec.temporal import TemporalDurability
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.models.test import TestModel
from pydantic_ai.toolsets import AbstractToolset, CombinedToolset, PrefixedToolset
from pydantic_ai.usage import RunUsage
from temporalio.common import RetryPolicy

from durable_chat.testing.mcp_servers import EverythingServer, everything_server, installed_script
from durable_chat.workflows.agents.mcp import mcp_toolsets, server_of, toolset_activity_config

TIME = {'command': installed_script('mcp-server-time'), 'args': ['--local-timezone', 'UTC']}


def run_context() -> RunContext[None]:
    return RunContext(deps=None, model=TestModel(), usage=RunUsage())


def only(toolsets: list[AbstractToolset[Any]]) -> AbstractToolset[Any]:
    assert len(toolsets) == 1
    return toolsets[0]


async def call(toolset: AbstractToolset[Any], name: str, args: dict[str, Any]) -> Any:
    """Calls a tool as the agent does: by the name the model sees, with the listed tool."""
    ctx = run_context()
    async with toolset:
        tools = await toolset.get_tools(ctx)
        return await toolset.call_tool(name, args, ctx, tools[name])


@pytest.fixture(scope='module')
def everything() -> Iterator[EverythingServer]:
    server = everything_server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(['git', '-C', str(tmp_path), *args], check=True, capture_output=True)

    git('init', '-q')
    git('config', 'user.email', 'tester@example.com')
    git('config', 'user.name', 'Tester')
    (tmp_path / 'notes.txt').write_text('hello\n')
    git('add', 'notes.txt')
    git('commit', '-q', '-m', 'Add the notes the MCP test looks for')
    return tmp_path


async def test_time_over_stdio_lists_prefixed_tools_and_tells_the_time() -> None:
    toolset = only(mcp_toolsets({'time': TIME}))
    async with toolset:
        names = set(await toolset.get_tools(run_context()))
    assert {'time_get_current_time', 'time_convert_time'} <= names

    answer = await call(toolset, 'time_get_current_time', {'timezone': 'UTC'})
    assert isinstance(answer, dict)  # the server's structured content
    assert answer['timezone'] == 'UTC'
    told = datetime.fromisoformat(answer['datetime'])
    assert told.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - told) < timedelta(hours=1)


async def test_git_over_stdio_reads_a_repository_named_by_an_environment_variable(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('REPO_DIR', str(repo))
    git = {'command': installed_script('mcp-server-git'), 'args': ['--repository', '${REPO_DIR}']}
    toolset = only(mcp_toolsets({'git': git}))

    # The server names its tools `git_*`: under the server's name the model sees `git_git_*`.
    log = await call(toolset, 'git_git_log', {'repo_path': str(repo)})
    assert 'Add the notes the MCP test looks for' in str(log)
    (repo / 'draft.txt').write_text('not committed\n')
    status = await call(toolset, 'git_git_status', {'repo_path': str(repo)})
    assert 'draft.txt' in str(status)


async def test_everything_over_streamable_http_echoes_without_the_server_instructions(
    everything: EverythingServer,
) -> None:
    toolset = only(mcp_toolsets({'everything': {'url': everything.url}}))
    assert await call(toolset, 'everything_echo', {'message': 'hello over HTTP'}) == 'Echo: hello over HTTP'

    assert isinstance(toolset, PrefixedToolset) and isinstance(toolset.wrapped, MCPToolset)
    server = toolset.wrapped
    async with toolset:
        assert server.instructions  # the server sends some...
        assert await toolset.get_instructions(run_context()) is None  # ...which the model never sees


async def test_tools_of_several_servers_are_told_apart_by_their_server(everything: EverythingServer) -> None:
    servers = {'time': TIME, 'everything': {'url': everything.url}}
    combined = CombinedToolset(mcp_toolsets(servers))
    async with combined:
        tools = await combined.get_tools(run_context())
    assert 'everything_trigger-long-running-operation' in tools
    owners = {name: server_of(name, servers) for name in tools}
    assert {owners[name] for name in tools} == {'time', 'everything'}
    assert all(name.startswith(f'{owner}_') for name, owner in owners.items())
    assert server_of('remember', servers) is None


def test_each_toolset_is_identified_by_its_server_name() -> None:
    toolsets = mcp_toolsets(
        {'time': TIME, 'remote': {'url': 'http://127.0.0.1:9/mcp', 'headers': {'X-Key': 'k'}}}
    )
    for toolset, name in zip(toolsets, ['time', 'remote'], strict=True):
        assert isinstance(toolset, PrefixedToolset) and toolset.prefix == name
        assert isinstance(toolset.wrapped, MCPToolset) and toolset.wrapped.id == name
        assert toolset.wrapped.include_instructions is False


def test_values_default_when_their_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('MCP_TEST_PORT', raising=False)
    toolset = only(mcp_toolsets({'remote': {'url': 'http://127.0.0.1:${MCP_TEST_PORT:-3001}/mcp'}}))
    assert isinstance(toolset, PrefixedToolset) and isinstance(toolset.wrapped, MCPToolset)
    transport = toolset.wrapped.client.transport
    assert getattr(transport, 'url', None) == 'http://127.0.0.1:3001/mcp'


@pytest.mark.parametrize(
    ('servers', 'expected'),
    [
        ({'bad name': TIME}, "'bad name' must be a letter"),
        ({'t': {'command': 'x', 'url': 'http://h/mcp'}}, "'t' needs either `command`"),
        ({'t': {'args': ['x']}}, "'t' needs either `command`"),
        ({'t': {'comand': 'x'}}, "'t': unknown key `comand`"),
        ({'t': {'command': 'x', 'args': [1]}}, "'t': `args.0`: Input should be a valid string"),
        ({'t': {'command': 'x', 'headers': {'A': 'b'}}}, "'t' is a stdio server: `headers`"),
        ({'t': {'url': 'http://h/mcp', 'cwd': '/'}}, "'t' is a HTTP server: `cwd`"),
        ({'t': {'url': 'localhost:3001/mcp'}}, "'t': `url` must start with http"),
        ({'t': {'command': 'x', 'type': 'http'}}, "'t': `type: http` does not match a stdio server"),
        ({'t': {'command': 'x', 'timeout': 0}}, "'t': `timeout`: Input should be greater than 0"),
        ({'t': {'command': '${MCP_TEST_UNSET}'}}, "'t': environment variable ${MCP_TEST_UNSET} is not set"),
        ({'t': 'mcp-server-time'}, "'t': expected a mapping"),
        ({'git': TIME, 'git_hub': TIME}, "'git' and 'git_hub'"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_server(
    servers: dict[str, Any], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv('MCP_TEST_UNSET', raising=False)
    with pytest.raises(ValueError) as refused:
        mcp_toolsets(servers)
    assert expected in str(refused.value)


def test_server_timeout_and_retries_configure_its_activities() -> None:
    servers = {'time': {**TIME, 'timeout': 10, 'retries': 3}, 'git': {'command': 'mcp-server-git'}}
    configs = toolset_activity_config(servers)
    assert configs == {
        'time': {
            'start_to_close_timeout': timedelta(seconds=10),
            'retry_policy': RetryPolicy(maximum_attempts=3),
        }
    }
    TemporalDurability(toolset_activity_config=configs)  # validates the configs as it takes them
