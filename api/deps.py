"""Dependency aliases for routes: the Temporal client, Redis, settings and who is calling."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from durable_chat.api.auth import Principal, verify_token
from durable_chat.settings import Settings

_bearer = HTTPBearer(auto_error=False, description='A token from `durable-chat token` or the `up` banner.')


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


def get_redis(request: Request) -> aioredis.Redis:
    return request.app.state.redis


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def authenticate(secret: str, token: str | None) -> Principal:
    if not token:
        raise HTTPException(401, 'missing bearer token', headers={'WWW-Authenticate': 'Bearer'})
    principal = verify_token(secret, token)
    if principal is None:
        raise HTTPException(401, 'invalid or expired token', headers={'WWW-Authenticate': 'Bearer'})
    return principal


def get_current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    return authenticate(request.app.state.secret, credentials.credentials if credentials else None)


def get_operator(user: Annotated[Principal, Depends(get_current_user)]) -> Principal:
    if not user.is_operator:
        raise HTTPException(403, 'this needs the operator role')
    return user


TemporalClient = Annotated[Client, Depends(get_temporal)]
RedisClient = Annotated[aioredis.Redis, Depends(get_redis)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CurrentUser = Annotated[Principal, Depends(get_current_user)]
Operator = Annotated[Principal, Depends(get_operator)]
