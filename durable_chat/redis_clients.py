"""The one place the product builds Redis clients: a plain client, or with `redis_cluster` set a
Redis Cluster client that finds every node from the one `redis_url` names.

Every key a script, MULTI or multi-key command touches together carries the same hash tag (the
session id or the user name in braces), so each of them lands on one cluster slot.
"""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from durable_chat.settings import Settings

RedisClient: TypeAlias = Redis | RedisCluster
"""What `connect_redis` returns; both serve every command the product sends."""

DEFAULT_CONNECTIONS = 100
"""redis-py's own default, for each of them."""


def connect_redis(
    settings: Settings, *, socket_timeout: float | None, max_connections: int = DEFAULT_CONNECTIONS
) -> RedisClient:
    """A client for the settings' Redis; for a cluster, `max_connections` is per node."""
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_target, socket_timeout=socket_timeout, max_connections=max_connections
        )
    return Redis.from_url(
        settings.redis_target, socket_timeout=socket_timeout, max_connections=max_connections
    )
