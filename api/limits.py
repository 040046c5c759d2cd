"""Per-user limits shared by every API process: token buckets and websocket slots, kept in Redis.

Each check is one Lua script (one round trip, atomic) timed by Redis's clock, so N APIs behind a
balancer count together. Keys carry the user in a hash tag (`{alice}`) so a user's keys share a
Redis Cluster slot. Redis down or slow fails OPEN: the request goes through (logged) rather than
users being locked out while the stream tail is unavailable; Temporal still holds every message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import redis.asyncio as aioredis
from fastapi import HTTPException

from durable_chat.api import metrics
from durable_chat.api.auth import Principal
from durable_chat.api.schemas import ErrorOut
from durable_chat.redis_clients import RedisClient
from durable_chat.settings import Settings

log = logging.getLogger(__name__)

Kind = Literal['messages', 'sessions']
_T = TypeVar('_T')

REDIS_TIMEOUT_SECONDS = 0.5
WARN_EVERY_SECONDS = 10.0

# KEYS: the buckets to take one token from; ARGV: capacity and tokens per second, per key.
# Takes a token from every bucket or from none. Returns {0, 0}, or {ms until all have one, key index}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local levels, wait, which = {}, 0, 0
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  levels[i] = math.min(capacity, tokens + math.max(0, now - at) * rate)
  if levels[i] < 1 and (1 - levels[i]) / rate > wait then
    wait, which = (1 - levels[i]) / rate, i
  end
end
if which > 0 then return {math.ceil(wait * 1000), which} end
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(capacity / rate * 1000) + 1000)
end
return {0, 0}
"""

# KEYS[1]: a user's live connections (member: connection id, score: expiry in ms, Redis clock).
# ARGV: connection id, cap (-1: refresh, never refuse), slot ttl in ms. Returns 1 if it holds a slot.
_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if cap >= 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= cap then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""


RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        'model': ErrorOut,
        'description': 'Over the per-user rate limit; nothing was done. Retry after the given seconds.',
        'headers': {
            'Retry-After': {'description': 'Seconds to wait before retrying.', 'schema': {'type': 'integer'}}
        },
    }
}


class Limited(Exception):
    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


# The user in braces, a Redis Cluster hash tag: `_TAKE` takes from several of a user's buckets at once.
def limit_key(username: str, kind: Kind) -> str:
    return f'limit:{{{username}}}:{kind}'


def websockets_key(username: str) -> str:
    return f'websockets:{{{username}}}'


def _rule(settings: Settings, kind: Kind) -> tuple[int, float]:
    if kind == 'messages':
        return settings.limit_message_burst, settings.limit_messages_per_minute
    return settings.limit_session_burst, settings.limit_sessions_per_minute


async def take(redis: RedisClient, settings: Settings, user: Principal, *kinds: Kind) -> None:
    """Counts one of each kind for the user, or raises Limited (then nothing was counted).

    Every message the API accepts, over REST or a websocket, passes here: the live stats count it.
    """
    rules = [_rule(settings, kind) for kind in kinds]
    keys = [limit_key(user.username, kind) for kind in kinds]
    args = [value for burst, per_minute in rules for value in (burst, per_minute / 60)]
    result = await _fail_open(redis.eval(_TAKE, len(keys), *keys, *args), 'rate limit')
    if result is None or int(result[1]) == 0:
        if 'messages' in kinds:
            metrics.message_accepted()
        return
    wait_ms, which = int(result[0]), int(result[1]) - 1
    burst, per_minute = rules[which]
    retry_after = max(1, math.ceil(wait_ms / 1000))
    raise Limited(
        f'too many {kinds[which]}: at most {per_minute:g} a minute (bursts of {burst}); '
        f'try again in {retry_after} s',
        retry_after,
    )


async def enforce(redis: RedisClient, settings: Settings, user: Principal, *kinds: Kind) -> None:
    """`take` for REST: over the limit is a 429 with the reason and a Retry-After header."""
    try:
        await take(redis, settings, user, *kinds)
    except Limited as limited:
        raise HTTPException(429, limited.reason, headers={'Retry-After': str(limited.retry_after)}) from None


@asynccontextmanager
async def websocket_slot(redis: RedisClient, settings: Settings, user: Principal) -> AsyncGenerator[bool]:
    """Holds one of the user's websocket slots while the block runs; yields False if none is free.

    The slot's expiry is refreshed while the connection lives, so a SIGKILLed API's slots lapse.
    """
    if user.is_operator:  # operators watch many sessions; they are not capped
        yield True
        return
    key, connection = websockets_key(user.username), uuid.uuid4().hex
    ttl_ms = int(settings.limit_websocket_slot_seconds * 1000)

    async def claim(cap: int) -> bool:
        held = await _fail_open(redis.eval(_SLOT, 1, key, connection, cap, ttl_ms), 'websocket cap')
        return held is None or bool(held)

    if not await claim(settings.limit_websockets_per_user):
        yield False
        return

    async def refresh() -> None:
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            await claim(-1)

    refresher = asyncio.create_task(refresh())
    try:
        yield True
    finally:
        refresher.cancel()
        await _fail_open(redis.zrem(key, connection), 'websocket cap')


_last_warning = 0.0


async def _fail_open(call: Awaitable[_T], what: str) -> _T | None:
    """The call's result, or None when Redis does not answer in time (logged at most every 10 s)."""
    global _last_warning
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            return await call
    except (aioredis.RedisError, OSError, TimeoutError) as error:
        if time.monotonic() - _last_warning > WARN_EVERY_SECONDS:
            _last_warning = time.monotonic()
            log.warning('%s not enforced: Redis unavailable (%s)', what, error)
        return None
