"""Dependency aliases for routes: the Temporal client, Redis, settings and the current user."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request, WebSocket
from temporalio.client import Client

from durable_chat.settings import Settings

DEMO_USER = 'demo'


def _state(connection: Request | WebSocket):
    return connection.app.state


def get_temporal(request: Request) -> Client:
    return _state(request).temporal


def get_redis(request: Request) -> aioredis.Redis:
    return _state(request).redis


def get_settings_dep(request: Request) -> Settings:
    return _state(request).settings


def get_current_user() -> str:
    # One user until sign-in exists (the users-and-operators issue replaces this).
    return DEMO_USER


TemporalClient = Annotated[Client, Depends(get_temporal)]
RedisClient = Annotated[aioredis.Redis, Depends(get_redis)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CurrentUser = Annotated[str, Depends(get_current_user)]
