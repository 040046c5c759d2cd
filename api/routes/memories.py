"""A user's long-term memories: list, search, delete one, delete all. Never another user's.

The API never opens Qdrant: it runs the MemoryOperation workflow on the memory task queue, served
by the one process that owns the store (DESIGN P7).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from api.auth import USERNAME_PATTERN, Principal
from api.deps import CurrentUser, SettingsDep, TemporalClient
from memory.operations import (
    MEMORY_OPERATION_WORKFLOW,
    MemoryOperationRequest,
    MemoryOperationResult,
)

router = APIRouter(prefix='/memories', tags=['memories'])

MemoryId = Annotated[str, Path(pattern=r'^[0-9a-fA-F-]{36}$', description='A memory id (UUID).')]
ForUser = Annotated[
    str | None,
    Query(pattern=USERNAME_PATTERN.pattern, description="Operators only: another user's memories."),
]


def _whose(user: Principal, for_user: str | None) -> str:
    if for_user is None or for_user == user.username:
        return user.username
    if not user.is_operator:
        raise HTTPException(403, 'you can only reach your own memories')
    return for_user


async def _run(
    client: TemporalClient, settings: SettingsDep, request: MemoryOperationRequest
) -> MemoryOperationResult:
    try:
        return await client.execute_workflow(
            MEMORY_OPERATION_WORKFLOW,
            request,
            id=f'memory-op-{uuid.uuid4().hex}',
            task_queue=settings.memory_task_queue,
            result_type=MemoryOperationResult,
        )
    except WorkflowFailureError as error:
        cause = error.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.cause
        if cause is not None and cause.type in ('InvalidMemory', 'InvalidMemoryId'):
            raise HTTPException(422, cause.message) from None
        raise


@router.get('')
async def list_memories(
    user: CurrentUser,
    client: TemporalClient,
    settings: SettingsDep,
    q: Annotated[str | None, Query(min_length=1, max_length=2000, description='Search by meaning.')] = None,
    k: Annotated[int, Query(ge=1, le=50)] = 10,
    user_id: ForUser = None,
) -> list[dict[str, Any]]:
    whose = _whose(user, user_id)
    request = MemoryOperationRequest('search' if q else 'list', whose, query=q or '', k=k)
    return [asdict(m) for m in (await _run(client, settings, request)).memories]


@router.delete('/{memory_id}', status_code=status.HTTP_204_NO_CONTENT)
async def forget_memory(
    memory_id: MemoryId,
    user: CurrentUser,
    client: TemporalClient,
    settings: SettingsDep,
    user_id: ForUser = None,
) -> Response:
    request = MemoryOperationRequest('forget', _whose(user, user_id), memory_id=memory_id.lower())
    if (await _run(client, settings, request)).deleted == 0:
        raise HTTPException(404, f'no memory {memory_id}')
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete('')
async def forget_all_memories(
    user: CurrentUser, client: TemporalClient, settings: SettingsDep, user_id: ForUser = None
) -> dict[str, int]:
    request = MemoryOperationRequest('forget_all', _whose(user, user_id))
    return {'deleted': (await _run(client, settings, request)).deleted}
