"""Prepares the recall a message's turn runs first, while the message travels to the session
(`workflows/prepared_recall.py`): for a user with memories, the recall starts as the message is
signalled instead of after the session's workflow task asks for it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import redis.asyncio as aioredis
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.service import RPCError

from durable_chat.api import chat_sessions
from durable_chat.api.memory_ops import refused_standalone, standalone_reads
from durable_chat.memory.types import RECALL_MEMORIES, RecallResult
from durable_chat.settings import Settings
from durable_chat.workflows.contract import UserMessage
from durable_chat.workflows.prepared_recall import (
    CODEC,
    PREPARED_TTL_SECONDS,
    PreparedRecall,
    empty_key,
    generation_key,
    prepared_key,
    ready_key,
    recall_request,
)

log = logging.getLogger(__name__)
_running: set[asyncio.Task[None]] = set()


async def send_with_recall(
    client: Client,
    redis: aioredis.Redis,
    settings: Settings,
    user_id: str,
    session_id: str,
    message: UserMessage,
) -> None:
    """`chat_sessions.send_message`, with the turn's recall started beside the signal when the user
    has memories.
    A Redis or Temporal hiccup here costs nothing but the head start: the turn then recalls itself."""
    prepared = None
    if standalone_reads(client):  # else nothing to prepare it with: the turn must not wait for it
        try:
            prepared = await _begin(redis, settings, user_id, session_id, message)
        except aioredis.RedisError as error:
            log.info('recall not prepared for message %s: %s', message.id, error)
    if prepared is not None:
        task = asyncio.create_task(_recall(client, redis, settings, session_id, message.id, prepared))
        _running.add(task)
        task.add_done_callback(_running.discard)
    await chat_sessions.send_message(client, session_id, message)


async def _begin(
    redis: aioredis.Redis, settings: Settings, user_id: str, session_id: str, message: UserMessage
) -> PreparedRecall | None:
    """Marks the recall as coming (a turn that starts meanwhile waits for it), unless the user is
    known to have no memories: that turn skips its recall altogether."""
    generation, empty_at = await redis.mget(generation_key(user_id), empty_key(user_id))
    current = int(generation or 0)
    if empty_at is not None and int(empty_at) == current:
        return None
    prepared = PreparedRecall(recall_request(user_id, message.text, settings.recall_k), current)
    await redis.set(prepared_key(session_id, message.id), CODEC.dump_json(prepared), ex=PREPARED_TTL_SECONDS)
    return prepared


async def _recall(
    client: Client,
    redis: aioredis.Redis,
    settings: Settings,
    session_id: str,
    message_id: str,
    prepared: PreparedRecall,
) -> None:
    try:
        prepared.result = await client.execute_activity(
            RECALL_MEMORIES,
            prepared.request,
            id=f'memory-read-{uuid.uuid4().hex}',
            task_queue=settings.memory_task_queue,
            result_type=RecallResult,
            schedule_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )
    except Exception as error:  # the turn recalls itself; nothing is lost
        if not (isinstance(error, RPCError) and refused_standalone(client, error)):
            log.info('prepared recall for message %s failed: %s', message_id, error)
    prepared.done = True
    try:
        ready = ready_key(session_id, message_id)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(prepared_key(session_id, message_id), CODEC.dump_json(prepared), ex=PREPARED_TTL_SECONDS)
            pipe.rpush(ready, 1)
            pipe.expire(ready, PREPARED_TTL_SECONDS)
            await pipe.execute()
    except aioredis.RedisError as error:
        log.info('prepared recall for message %s not stored: %s', message_id, error)
