"""Reading a session's Redis Stream and turning its entries into websocket frames."""

from __future__ import annotations

from typing import cast

from durable_chat.redis_clients import RedisClient
from durable_chat.workflows.contract import Frame, StreamEntry, decode_event, stream_key


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition('-')
    return int(ms), int(seq or 0)


def is_valid_event_id(entry_id: str) -> bool:
    try:
        _id_tuple(entry_id)
    except ValueError:
        return False
    return True


async def still_holds(redis: RedisClient, session_id: str, after: str) -> bool:
    """Whether the stream still has every entry after `after` (it was not trimmed past it or lost)."""
    first = cast(list[StreamEntry], await redis.xrange(stream_key(session_id), count=1))
    if not first:
        return False
    return _id_tuple(first[0][0].decode()) <= _id_tuple(after)


async def tail_for_snapshot(
    redis: RedisClient, session_id: str, finished_turns: set[int]
) -> tuple[list[Frame], str]:
    """The stream's events of the turns a snapshot does not hold yet, and the id to read on from."""
    entries = cast(list[StreamEntry], await redis.xrange(stream_key(session_id)))
    frames = [decode_event(entry_id, fields) for entry_id, fields in entries]
    last_id = frames[-1]['event_id'] if frames else '0-0'
    return [f for f in frames if f['turn'] not in finished_turns], last_id


async def read_after(redis: RedisClient, session_id: str, after: str, block_ms: int) -> list[Frame]:
    # RESP2's reply: [stream key, entries] per stream (redis-py also types RESP3's dict form).
    response = cast(
        list[tuple[bytes, list[StreamEntry]]],
        await redis.xread({stream_key(session_id): after}, block=block_ms, count=500),
    )
    return [decode_event(entry_id, fields) for _key, entries in response for entry_id, fields in entries]
