"""Agents from spec files: pydantic-ai's agent spec format (YAML or JSON), one agent per file.

pydantic-ai reads the spec (name, description, instructions, model, model settings, capabilities);
durable-chat reads its own keys under the spec's `metadata`:

    metadata:
      models: [default, offline]     # names a session may choose; the first is the default
      memory: true                   # the memory tools and recalled memories (default true)
      reminders: true                # the `remind` tool the session answers itself (default true)
      context_window: 32768          # tokens: compact the history before a turn's input nears it
      delegates: [researcher]        # agents it may hand a task to (`delegate`, a child workflow)
      mcp_servers:                   # Claude Desktop's `mcpServers` shape: stdio or HTTP
        time: {command: mcp-server-time}
      tools:                         # per tool, by the name the model sees
        time_convert_time: {timeout: 10, retries: 3, requires_approval: true}

`default` in `models` is the deployment's model (`DURABLE_CHAT_MODEL`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.agent.spec import AgentSpec
from pydantic_ai.capabilities import SetToolMetadata
from pydantic_ai.toolsets import AbstractToolset

from durable_chat.settings import Settings
from durable_chat.workflows.agents.durability import DurableChat
from durable_chat.workflows.agents.registry import AgentEntry, RegistryError
from durable_chat.workflows.agents.tools import ToolSettings
from durable_chat.workflows.shared import TurnDeps

BUILTIN_DIR = Path(__file__).parent / 'builtin'
SPEC_SUFFIXES = ('.yaml', '.yml', '.json')


class ToolOptions(BaseModel):
    model_config = ConfigDict(extra='forbid')

    timeout: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=1)
    requires_approval: bool = False


class ChatOptions(BaseModel):
    """durable-chat's keys in a spec's `metadata`."""

    model_config = ConfigDict(extra='forbid')

    models: list[str] = Field(default_factory=list[str])
    memory: bool = True
    reminders: bool = True
    context_window: int | None = Field(default=None, gt=0)
    delegates: list[str] = Field(default_factory=list[str])
    mcp_servers: dict[str, dict[str, Any]] = Field(default_factory=dict[str, dict[str, Any]])
    tools: dict[str, ToolOptions] = Field(default_factory=dict[str, ToolOptions])


_OPTION_KEYS = frozenset(ChatOptions.model_fields)


def agents_dirs(settings: Settings) -> list[Path]:
    if not settings.agents_dir:
        return [BUILTIN_DIR]
    return [Path(part).expanduser() for part in settings.agents_dir.split(':') if part]


def spec_agents(directory: Path, settings: Settings) -> Iterator[AgentEntry]:
    if not directory.is_dir():
        raise RegistryError(f'agents directory {directory} does not exist')
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() in SPEC_SUFFIXES and not path.name.startswith('.'):
            yield spec_agent(path, settings)


def spec_agent(path: Path, settings: Settings) -> AgentEntry:
    try:
        spec = AgentSpec.from_file(path)
        metadata = dict(spec.metadata or {})
        options = ChatOptions.model_validate({k: v for k, v in metadata.items() if k in _OPTION_KEYS})
    except (ValidationError, ValueError, OSError) as error:
        raise RegistryError(f'{path}: {error}') from error
    name = spec.name or path.stem
    models = _model_names(spec.model, options.models, settings)
    toolsets = _mcp_toolsets(path, options)
    capabilities = [
        DurableChat(
            models=models,
            memory=options.memory,
            reminders=options.reminders,
            context_window=options.context_window,
            delegates=options.delegates,
            tool_activity=_server_activity(path, options),
        ),
        *_tool_settings(options.tools),
    ]
    # The spec's own metadata rides into every activity: durable-chat's keys (MCP headers may hold
    # secrets) stay out of it.
    spec = spec.model_copy(
        update={'metadata': {k: v for k, v in metadata.items() if k not in _OPTION_KEYS} or None}
    )
    model_settings = {'max_tokens': settings.max_reply_tokens, **(spec.model_settings or {})}
    try:
        agent = Agent.from_spec(
            spec,
            name=name,
            model=models[0],
            deps_type=TurnDeps,
            output_type=[str, DeferredToolRequests],
            model_settings=cast(Any, model_settings),
            toolsets=toolsets,
            capabilities=capabilities,
        )
    except Exception as error:  # pydantic-ai's UserError and friends, named with the file
        raise RegistryError(f'{path}: {error}') from error
    description = spec.description if isinstance(spec.description, str) else ''
    return AgentEntry(
        name, cast(Agent[TurnDeps, Any], agent), str(path), description or '', tuple(options.mcp_servers)
    )


def _model_names(spec_model: str | None, listed: list[str], settings: Settings) -> list[str]:
    names = [settings.model if n == 'default' else n for n in ([spec_model] if spec_model else []) + listed]
    return list(dict.fromkeys(names)) or [settings.model]


def _mcp_toolsets(path: Path, options: ChatOptions) -> list[AbstractToolset[Any]]:
    if not options.mcp_servers:
        return []
    from durable_chat.workflows.agents.mcp import mcp_toolsets

    try:
        toolsets = mcp_toolsets(options.mcp_servers)
    except ValueError as error:
        raise RegistryError(f'{path}: {error}') from error
    approve = {name for name, tool in options.tools.items() if tool.requires_approval}
    if not approve:
        return toolsets
    return [t.approval_required(lambda ctx, tool_def, args: tool_def.name in approve) for t in toolsets]


def _server_activity(path: Path, options: ChatOptions) -> dict[str, Any]:
    """Per-server activity settings (`timeout`, `retries` on an `mcp_servers` entry)."""
    if not options.mcp_servers:
        return {}
    from durable_chat.workflows.agents.mcp import toolset_activity_config

    try:
        return dict(toolset_activity_config(options.mcp_servers))
    except ValueError as error:
        raise RegistryError(f'{path}: {error}') from error


def _tool_settings(tools: Mapping[str, ToolOptions]) -> list[SetToolMetadata[Any]]:
    return [
        SetToolMetadata(tools=[name], temporal=settings.activity_config())
        for name, tool in tools.items()
        if (settings := ToolSettings(tool.timeout, tool.retries)).activity_config()
    ]
