"""Agents from Python: the pydantic-ai `Agent` objects at the top level of a module.

Each must carry the `DurableChat` capability (which makes it durable and names its models) and a
`name` (persisted: it prefixes the agent's activity names). Tools are the agent's own: `@agent.tool`
with `ToolSettings`, `requires_approval`, `side_effect`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any, cast

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalDurability

from durable_chat.workflows.agents.durability import ChatDurability
from durable_chat.workflows.agents.registry import AgentEntry, RegistryError
from durable_chat.workflows.shared import TurnDeps


def module_agents(module_name: str) -> Iterator[AgentEntry]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise RegistryError(f'agents module {module_name!r} cannot be imported: {error}') from error
    seen: set[int] = set()
    for attribute, value in vars(module).items():
        if not isinstance(value, Agent) or id(value) in seen:
            continue
        seen.add(id(value))
        agent = cast(Agent[Any, Any], value)
        source = f'{module_name}:{attribute}'
        if not isinstance(TemporalDurability.from_agent(agent), ChatDurability):
            raise RegistryError(
                f'{source}: add `capabilities=[DurableChat(models=[...])]` to this agent '
                '(from durable_chat.workflows.agents): it makes the agent durable and names its models'
            )
        if not agent.name:
            raise RegistryError(
                f'{source}: give the agent a `name` (persisted: it prefixes its activity names)'
            )
        yield AgentEntry(agent.name, cast(Agent[TurnDeps, Any], agent), source, agent.description or '')
