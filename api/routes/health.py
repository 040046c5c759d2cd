"""Liveness and readiness for orchestrators: `/healthz` (the process answers) and `/readyz`
(Temporal, Redis and the memory store are reachable). No token needed; they reveal no data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client

from durable_chat.api.schemas import Readiness
from durable_chat.settings import Settings

router = APIRouter(tags=['health'])

CHECK_SECONDS = 2.0


@router.get('/healthz')
async def healthz() -> dict[str, str]:
    return {'status': 'ok'}


@router.get(
    '/readyz',
    response_model=Readiness,
    responses={503: {'model': Readiness, 'description': 'A dependency is unreachable.'}},
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    settings: Settings = state.settings
    checks = {
        'temporal': _ok(
            state.temporal.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=timedelta(seconds=CHECK_SECONDS)
            )
        ),
        'redis': _ok(state.redis.ping()),
        'memory': _memory_ready(state.temporal, settings),
    }
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    ready = all(results.values())
    return JSONResponse({'ready': ready, 'checks': results}, status_code=200 if ready else 503)


async def _ok(call: Awaitable[object]) -> bool:
    try:
        await asyncio.wait_for(call, CHECK_SECONDS)
    except Exception:  # any failure means "not reachable now"
        return False
    return True


async def _memory_ready(client: Client, settings: Settings) -> bool:
    """With a Qdrant server, its own readiness; in local mode, a memory worker polling its queue."""
    if settings.qdrant_url:
        async with httpx.AsyncClient(timeout=CHECK_SECONDS) as http:
            return await _ok(_raise_for_status(http.get(f'{settings.qdrant_url.rstrip("/")}/readyz')))
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.memory_task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    try:
        described = await asyncio.wait_for(
            client.workflow_service.describe_task_queue(request), CHECK_SECONDS
        )
    except Exception:
        return False
    return len(described.pollers) > 0


async def _raise_for_status(response: Awaitable[httpx.Response]) -> None:
    (await response).raise_for_status()
