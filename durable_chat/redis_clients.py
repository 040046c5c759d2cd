"""The one place the product builds Redis clients: a plain client, or with `redis_cluster` set a
Redis Cluster client that finds every node from the one `redis_url` names.

Every key a script, MULTI or multi-key command touches together carries the same hash tag (the
session id or the user name in braces), so each of them lands on one cluster slot.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from redis import exceptions
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.typing import EncodableT

from durable_chat.settings import Settings

DEFAULT_CONNECTIONS = 100
"""redis-py's own default, for each of them."""


class Cluster(RedisCluster):
    """A cluster with no node reachable fails as a plain client's Redis does, with a ConnectionError
    (redis-py raises a RedisClusterException, which is no RedisError): the product's handlers of a
    Redis outage (fail open, retry the read, answer 503) then hold for a whole-cluster outage too."""

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except exceptions.RedisClusterException as error:
            if isinstance(error, exceptions.RedisError) or not isinstance(
                error.__cause__, (exceptions.RedisError, OSError)
            ):
                raise
            raise exceptions.ConnectionError(str(error)) from error


RedisClient: TypeAlias = Redis | RedisCluster
"""What `connect_redis` returns; both serve every command the product sends."""


def connect_redis(
    settings: Settings, *, socket_timeout: float | None, max_connections: int = DEFAULT_CONNECTIONS
) -> RedisClient:
    """A client for the settings' Redis; for a cluster, `max_connections` is per node."""
    if settings.redis_cluster:
        if settings.redis_url is None:
            raise ValueError('DURABLE_CHAT_REDIS_CLUSTER needs DURABLE_CHAT_REDIS_URL: a node of the cluster')
        return Cluster.from_url(
            settings.redis_url, socket_timeout=socket_timeout, max_connections=max_connections
        )
    return Redis.from_url(
        settings.redis_target, socket_timeout=socket_timeout, max_connections=max_connections
    )
