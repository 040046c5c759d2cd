"""The agents (and their models) a user may start a session with."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from durable_chat.api import agents
from durable_chat.api.deps import CurrentUser, RedisClient, SettingsDep

router = APIRouter(prefix='/agents', tags=['agents'])


class AgentOut(BaseModel):
    name: str
    description: str
    models: list[str]
    default_model: str
    mcp_servers: list[str]
    default: bool
    """The agent a session gets when none is named."""


@router.get('')
async def list_agents(user: CurrentUser, redis: RedisClient, settings: SettingsDep) -> list[AgentOut]:
    catalogue = await agents.catalogue(redis, settings.task_queue)
    return [AgentOut(**vars(card), default=card.name == catalogue.default_agent) for card in catalogue.agents]
