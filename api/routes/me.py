"""The caller's own data: all of it exported, or all of it erased. Only ever the caller's: an
operator erases nobody else through these routes."""

from __future__ import annotations

from fastapi import APIRouter

from durable_chat.api import erase
from durable_chat.api.deps import CurrentUser, RedisClient, SettingsDep, TemporalClient
from durable_chat.api.schemas import error_responses

router = APIRouter(prefix='/me', tags=['me'], responses=error_responses(401, 503))


@router.get('/export')
async def export_me(user: CurrentUser, client: TemporalClient, settings: SettingsDep) -> erase.UserExport:
    """Everything the service holds of the caller: each session (deleted ones still held too) with
    its whole conversation, reminders and check-ins, and each memory with its earlier versions."""
    return await erase.export_user(client, settings, user.username)


@router.delete('')
async def erase_me(
    user: CurrentUser, client: TemporalClient, redis: RedisClient, settings: SettingsDep
) -> erase.UserErased:
    """Erases the caller: running sessions are closed, then every session is deleted from Temporal
    (history and visibility), with its event stream and tool-call records in Redis, its transcript
    archive, all memories with their versions, and the caller's limit and memory-hint keys. Answers
    what was removed. Temporal deletes in the background: the session lists drop the sessions within
    about a minute. Calling it again finishes an erase that was interrupted, and answers zeros once
    nothing is left."""
    return await erase.erase_user(client, redis, settings, user.username)
