"""The agent registry: every agent a session may run, by its persisted name.

Built once per worker process, before any workflow runs (a durable agent registers its activities
when it is constructed), from the spec files of the agents directories and the agents of the
Python modules in settings. Workflow code looks agents up here by the name a session stores.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalDurability

from durable_chat.settings import Settings
from durable_chat.workflows.agents.durability import ChatDurability
from durable_chat.workflows.agents.mcp import server_of
from durable_chat.workflows.contract import AgentCard
from durable_chat.workflows.shared import TurnDeps
from durable_chat.workflows.summarizer import SUMMARIZER_NAME, build_summarizer

NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_-]{0,63}$')
RESERVED_NAMES = frozenset({SUMMARIZER_NAME})


class RegistryError(ValueError):
    """The agents as configured cannot be served: a clash, a bad spec, a missing capability."""


@dataclass(frozen=True)
class AgentEntry:
    name: str
    agent: Agent[TurnDeps, Any]
    source: str
    """Where it was defined (a spec file, `module:attribute`), for error messages."""
    description: str = ''
    mcp_servers: tuple[str, ...] = ()
    """Its MCP servers' names: a tool named `<server>_...` is that server's."""

    @property
    def durability(self) -> ChatDurability:
        durability = TemporalDurability.from_agent(self.agent)
        assert isinstance(durability, ChatDurability)
        return durability

    @property
    def models(self) -> list[str]:
        return self.durability.model_names

    @property
    def default_model(self) -> str:
        return self.models[0]

    def card(self) -> AgentCard:
        return AgentCard(self.name, self.description, self.models, self.default_model, list(self.mcp_servers))

    def server_of(self, tool_name: str) -> str:
        return server_of(tool_name, self.mcp_servers) or ''


@dataclass
class Registry:
    entries: dict[str, AgentEntry] = field(default_factory=dict[str, AgentEntry])
    default_agent: str = 'chat'
    summarizer: Agent[None, str] | None = None

    def add(self, entry: AgentEntry) -> None:
        if not NAME.match(entry.name):
            raise RegistryError(
                f'{entry.source}: agent name {entry.name!r} must be a letter then letters, digits, _ or - '
                '(it becomes part of Temporal activity names)'
            )
        if entry.name in RESERVED_NAMES:
            raise RegistryError(f'{entry.source}: the agent name {entry.name!r} is reserved')
        if (other := self.entries.get(entry.name)) is not None:
            raise RegistryError(
                f'two agents are named {entry.name!r}: {other.source} and {entry.source}. Agent names are '
                'persisted (they prefix activity names), so each must be unique: rename the new one.'
            )
        self.entries[entry.name] = entry

    def get(self, name: str) -> AgentEntry | None:
        return self.entries.get(name)

    def __iter__(self) -> Iterator[AgentEntry]:
        return iter(sorted(self.entries.values(), key=lambda e: e.name))

    def cards(self) -> list[AgentCard]:
        return [entry.card() for entry in self]

    def agents(self) -> list[Agent[Any, Any]]:
        agents: list[Agent[Any, Any]] = [entry.agent for entry in self]
        return [*agents, self.summarizer] if self.summarizer is not None else agents

    def catalogue_json(self) -> str:
        return json.dumps({'default_agent': self.default_agent, 'agents': [vars(c) for c in self.cards()]})


def load_registry(settings: Settings) -> Registry:
    """Reads every configured agent and builds them as durable agents (outside any workflow)."""
    from durable_chat.workflows.agents.modules import module_agents
    from durable_chat.workflows.agents.specs import agents_dirs, spec_agents

    registry = Registry()
    for directory in agents_dirs(settings):
        for entry in spec_agents(directory, settings):
            registry.add(entry)
    for module in (m.strip() for m in (settings.agents_module or '').split(',')):
        if module:
            for entry in module_agents(module):
                registry.add(entry)
    if not registry.entries:
        raise RegistryError('no agents: the agents directories and modules in settings define none')
    check_delegates(registry)
    names = sorted(registry.entries)
    registry.default_agent = settings.default_agent if settings.default_agent in names else names[0]
    models = list(dict.fromkeys(m for entry in registry for m in entry.models))
    registry.summarizer = build_summarizer(models)
    return registry


def check_delegates(registry: Registry) -> None:
    """Each agent delegates only to other registered agents (a typo would otherwise show at run time)."""
    for entry in registry:
        for name in entry.durability.delegates:
            if name == entry.name:
                raise RegistryError(f'{entry.source}: the agent {name!r} cannot delegate to itself')
            if name not in registry.entries:
                known = ', '.join(sorted(registry.entries))
                raise RegistryError(
                    f'{entry.source}: delegates to {name!r}, which is not a registered agent (there are: {known})'
                )


_installed: Registry | None = None


def install(registry: Registry) -> None:
    """Makes `registry` the one workflow code of this process reads (at worker start)."""
    global _installed
    _installed = registry


def installed() -> Registry:
    if _installed is None:
        raise RuntimeError('no agent registry: the worker installs one before it runs workflows')
    return _installed
