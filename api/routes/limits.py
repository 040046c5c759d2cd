"""What a client may send: the page checks a message's size before sending it, and says so."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from durable_chat.api.deps import CurrentUser, SettingsDep

router = APIRouter(tags=['limits'])


class Limits(BaseModel):
    max_message_chars: int
    messages_per_minute: float
    message_burst: int
    sessions_per_minute: float
    websockets_per_user: int


@router.get('/limits')
async def read_limits(user: CurrentUser, settings: SettingsDep) -> Limits:
    return Limits(
        max_message_chars=settings.max_message_chars,
        messages_per_minute=settings.limit_messages_per_minute,
        message_burst=settings.limit_message_burst,
        sessions_per_minute=settings.limit_sessions_per_minute,
        websockets_per_user=settings.limit_websockets_per_user,
    )
