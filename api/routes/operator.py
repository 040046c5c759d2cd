"""Operator endpoints: every session, filtered by status and user, with its Temporal UI link."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from durable_chat.api import chat_sessions
from durable_chat.api.auth import USERNAME_PATTERN
from durable_chat.api.deps import Operator, SettingsDep, TemporalClient
from durable_chat.api.schemas import OperatorSession, error_responses
from durable_chat.workflows.contract import workflow_id

router = APIRouter(prefix='/operator', tags=['operator'], responses=error_responses(401, 403, 422, 503))

StatusFilter = Literal['idle', 'thinking', 'awaiting_approval', 'closed']


@router.get('/sessions')
async def list_all_sessions(
    operator: Operator,
    client: TemporalClient,
    settings: SettingsDep,
    status: StatusFilter | None = None,
    user: Annotated[str | None, Query(pattern=USERNAME_PATTERN.pattern)] = None,
) -> list[OperatorSession]:
    sessions = await chat_sessions.list_sessions(client, user_id=user, status=status)
    ui = f'{settings.temporal_ui}/namespaces/{settings.temporal_namespace}/workflows'
    return [OperatorSession(**asdict(s), temporal_ui=f'{ui}/{workflow_id(s.session_id)}') for s in sessions]
