"""The agents users may pick, as the chat worker published them, and the choice of one.

The API does not load agents (they bring pydantic-ai, MCP clients, models): the worker that serves
them writes the catalogue to Redis when it starts, and this reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from durable_chat.workflows.contract import AgentCard, agents_key


class NoCatalogue(Exception):
    """No chat worker has published its agents yet."""


class UnknownChoice(Exception):
    """An agent or model that is not offered, with the reason in words."""


@dataclass
class Catalogue:
    default_agent: str
    agents: list[AgentCard] = field(default_factory=list[AgentCard])

    def agent(self, name: str | None) -> AgentCard:
        wanted = name or self.default_agent
        card = next((a for a in self.agents if a.name == wanted), None)
        if card is None:
            offered = ', '.join(a.name for a in self.agents)
            raise UnknownChoice(f'there is no agent {wanted!r} (agents: {offered})')
        return card

    def choose(self, agent: str | None, model: str | None) -> tuple[str, str]:
        """The agent and model a new session runs with: the defaults where not given."""
        card = self.agent(agent)
        return card.name, checked_model(card, model or card.default_model)


def checked_model(card: AgentCard, model: str) -> str:
    if model not in card.models:
        raise UnknownChoice(
            f'{model!r} is not a model of the agent {card.name!r} (models: {", ".join(card.models)})'
        )
    return model


async def catalogue(redis: aioredis.Redis, task_queue: str) -> Catalogue:
    key = agents_key(task_queue)
    try:
        raw = await redis.get(key)
    except (aioredis.RedisError, OSError):
        try:  # a pooled connection Redis closed (it restarted): the retry reconnects
            raw = await redis.get(key)
        except (aioredis.RedisError, OSError) as error:
            raise NoCatalogue(f'the agent catalogue cannot be read now (Redis: {error})') from error
    if raw is None:
        raise NoCatalogue('no chat worker has published its agents yet: start one (durable-chat worker)')
    data = json.loads(raw)
    return Catalogue(data['default_agent'], [AgentCard(**card) for card in data['agents']])
