"""Whether a user is known to have no memories, so a turn can skip the recall activity.

Recall before a turn is a round trip to the memory worker (~30-50 ms of the first token); most
users have no memories at all. The chat worker keeps a Redis marker per user, through local
activities (no server round trip, and recorded in history like any activity):

- `memory_hint` reads the user's write generation and "known empty" marker;
- `mark_no_memories` sets the marker to the generation read *before* a recall that found none;
- `memory_changed` bumps the generation after every stored memory, unless the store activity did
  (it does when the memory worker can reach Redis: one local activity less per `remember`).

A store that lands while a recall is running bumps the generation after writing its point, so the
recall's marker (set with the older generation) no longer matches and the next turn recalls. A lost
Redis loses only markers: an unknown user is recalled. Markers expire, bounding any staleness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.common import RetryPolicy

from durable_chat.memory.types import RecallResult
from durable_chat.workflows.events import redis_client
from durable_chat.workflows.prepared_recall import (
    CODEC,
    WAIT_SECONDS,
    PreparedRecall,
    empty_key,
    generation_key,
    prepared_key,
    ready_key,
)

MARKER_TTL_SECONDS = 600
SKIP_RECALL_PATCH = 'skip-recall-without-memories'
"""Sessions recorded before hints existed recalled before every turn; replaying them still does."""
MEMORY_HINT_ACTIVITY: dict[str, Any] = {
    # A hint is an optimisation: a slow or absent Redis falls back to recalling.
    'schedule_to_close_timeout': timedelta(seconds=3),
    'retry_policy': RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
}


@dataclass
class MemoryHint:
    generation: int
    known_empty: bool


@activity.defn(name='memory_hint')
async def memory_hint(user_id: str) -> MemoryHint:
    generation, empty_at = await redis_client().mget(generation_key(user_id), empty_key(user_id))
    generation = int(generation or 0)
    return MemoryHint(generation, known_empty=empty_at is not None and int(empty_at) == generation)


@activity.defn(name='mark_no_memories')
async def mark_no_memories(user_id: str, generation: int) -> None:
    await redis_client().set(empty_key(user_id), generation, ex=MARKER_TTL_SECONDS)


async def bump_generation(user_id: str) -> None:
    await redis_client().incr(generation_key(user_id))


@activity.defn(name='memory_changed')
async def memory_changed(user_id: str) -> None:
    await bump_generation(user_id)


@dataclass
class PreparedLookup:
    session_id: str
    message_id: str
    wanted: PreparedRecall
    """The recall the turn would run, and the generation its hint read."""


@activity.defn(name='prepared_recall')
async def prepared_recall(lookup: PreparedLookup) -> RecallResult | None:
    """The API's recall for this message (`workflows/prepared_recall.py`), waited for while it runs;
    None when there is none, it failed, or it is not the one the turn would run now."""
    redis = redis_client()
    key = prepared_key(lookup.session_id, lookup.message_id)
    raw = await redis.get(key)
    prepared = None if raw is None else CODEC.validate_json(raw)
    if prepared is not None and not prepared.done:
        await redis.blpop([ready_key(lookup.session_id, lookup.message_id)], timeout=WAIT_SECONDS)
        raw = await redis.get(key)
        prepared = None if raw is None else CODEC.validate_json(raw)
    if prepared is None:
        return None
    wanted = lookup.wanted
    if prepared.request != wanted.request or prepared.generation != wanted.generation:
        return None
    return prepared.result


HINT_ACTIVITIES = [memory_hint, mark_no_memories, memory_changed, prepared_recall]
