"""Operator endpoints: every session, filtered by status and user, with its Temporal UI link; the
pending approvals of all sessions in one queue; the live figures of this API process."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from durable_chat.api import chat_sessions
from durable_chat.api.auth import USERNAME_PATTERN
from durable_chat.api.chat_sessions import SessionNotFound, SessionSummary
from durable_chat.api.deps import Operator, SettingsDep, TemporalClient
from durable_chat.api.live_stats import LIVE
from durable_chat.api.schemas import OperatorSession, error_responses
from durable_chat.workflows.contract import ApprovalStatus, Snapshot, workflow_id

log = logging.getLogger(__name__)
router = APIRouter(prefix='/operator', tags=['operator'], responses=error_responses(401, 403, 422, 503))

StatusFilter = Literal['idle', 'thinking', 'awaiting_approval', 'closed', 'deleted']

QUEUE_SESSIONS = 500
"""Sessions awaiting approval the queue reads at most (one snapshot query each)."""
CONCURRENT_QUERIES = 8
"""Snapshot queries in flight at once: the queue must not flood the workers that answer them."""
QUERY_SECONDS = 10


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


class ApprovalOut(BaseModel):
    id: str = Field(
        description="The model's tool call id; answer it at `POST /sessions/{id}/approvals/{id}`."
    )
    turn: int
    tool_name: str
    args: dict[str, Any]
    status: ApprovalStatus
    reason: str
    answered_by: str


class PendingApproval(BaseModel):
    session_id: str
    user_id: str
    title: str
    approval: ApprovalOut


@router.get('/approvals')
async def pending_approvals(operator: Operator, client: TemporalClient) -> list[PendingApproval]:
    """Every pending approval of every running session, oldest first (sessions by when they began
    waiting, then by turn). Sessions are read as Temporal's visibility lists them, which may lag a
    moment behind; a session that closes meanwhile is left out."""
    waiting = await chat_sessions.list_sessions(client, status='awaiting_approval', limit=QUEUE_SESSIONS)
    gate = asyncio.Semaphore(CONCURRENT_QUERIES)
    unread: list[str] = []

    async def read(summary: SessionSummary) -> Snapshot | None:
        async with gate:
            try:
                async with asyncio.timeout(QUERY_SECONDS):
                    snapshot = await chat_sessions.snapshot(client, summary.session_id)
            except SessionNotFound:
                return None  # deleted since it was listed
            except (RPCError, WorkflowQueryFailedError, TimeoutError) as error:
                # One session no worker answers for must not hide every other session's approvals.
                log.warning('approval queue: session %s not read (%s)', summary.session_id, error)
                unread.append(summary.session_id)
                return None
        return snapshot if snapshot.status != 'closed' else None

    snapshots = await asyncio.gather(*(read(s) for s in waiting))
    if unread and len(unread) == len(waiting):
        raise HTTPException(503, 'no session awaiting approval could be read; try again shortly')
    since = {s.session_id: _waiting_since(s) for s in waiting}
    queue = [
        (since[snapshot.session_id], snapshot.session_id, approval.turn, position, snapshot, approval)
        for snapshot in snapshots
        if snapshot is not None
        for position, approval in enumerate(snapshot.approvals)
        if approval.status == 'pending'
    ]
    queue.sort(key=lambda entry: entry[:4])
    return [
        PendingApproval(
            session_id=snapshot.session_id,
            user_id=snapshot.user_id,
            title=snapshot.title,
            approval=ApprovalOut(**asdict(approval)),
        )
        for *_, snapshot, approval in queue
    ]


def _waiting_since(summary: SessionSummary) -> datetime:
    # The workflow stamps its last activity when its status changes: here, when it began waiting
    # (a rename since moves it later).
    return summary.last_activity or summary.started_at or datetime.min.replace(tzinfo=UTC)


class StatsSeries(BaseModel):
    active_sessions: list[int | None]
    turns_per_minute: list[int | None]
    first_token_p50_ms: list[int | None]
    first_token_p95_ms: list[int | None]
    errors: list[int | None]


class StatsNow(BaseModel):
    active_sessions: int = Field(description='Sessions with a websocket open on this API now.')
    turns_per_minute: int = Field(description='Messages accepted in the last minute (REST and websocket).')
    first_token_p50_ms: int | None = Field(
        description='Median time from a message accepted on a websocket to its first token there.'
    )
    first_token_p95_ms: int | None
    errors: int = Field(description='Failed turns relayed (RUN_ERROR) and 5xx answers in the last minute.')


class LiveStatsOut(BaseModel):
    bucket_seconds: int
    buckets: int
    series: StatsSeries = Field(
        description='Oldest first, one value per bucket: active sessions during it, the rest over '
        'the minute ending with it; null where nothing was measured.'
    )
    current: StatsNow


@router.get('/stats')
async def live_stats(operator: Operator) -> LiveStatsOut:
    """The operator console's live panel, from this API process's own measurements."""
    return LiveStatsOut.model_validate(LIVE.view())
