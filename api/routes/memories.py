"""A user's long-term memories: list, search, delete one, delete all. Never another user's.

The API never opens Qdrant: it runs the memory activities on the memory task queue, served by the
one process that owns the store (api/memory_ops.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel

from durable_chat.api.auth import USERNAME_PATTERN, Principal
from durable_chat.api.deps import CurrentUser, SettingsDep, TemporalClient
from durable_chat.api.memory_ops import run_memory_operation
from durable_chat.api.schemas import Deleted, MemoryHistory, error_responses
from durable_chat.memory.operations import MemoryOperationRequest
from durable_chat.memory.types import Memory


class Undone(BaseModel):
    undone: str
    """'update' (the previous version is current again), 'add' (the memory is gone), or ''."""
    memory: Memory | None


router = APIRouter(prefix='/memories', tags=['memories'], responses=error_responses(401, 403, 422, 503))

MemoryId = Annotated[
    str,
    Path(pattern=r'^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$', description='A memory id (UUID).'),
]
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


@router.get('')
async def list_memories(
    user: CurrentUser,
    client: TemporalClient,
    settings: SettingsDep,
    q: Annotated[str | None, Query(min_length=1, max_length=2000, description='Search by meaning.')] = None,
    k: Annotated[int, Query(ge=1, le=50)] = 10,
    user_id: ForUser = None,
) -> list[Memory]:
    """The user's current memories, oldest first, or with `q` the closest to it. A memory that
    expires carries `expires_at` (ISO UTC); once it passed the memory is no longer here."""
    whose = _whose(user, user_id)
    request = MemoryOperationRequest('search' if q else 'list', whose, query=q or '', k=k)
    return (await run_memory_operation(client, settings, request)).memories


@router.get('/{memory_id}', responses=error_responses(404))
async def memory_history(
    memory_id: MemoryId,
    user: CurrentUser,
    client: TemporalClient,
    settings: SettingsDep,
    user_id: ForUser = None,
) -> MemoryHistory:
    """The memory with its versions and where each was said (`session_id`, `turn`)."""
    request = MemoryOperationRequest('history', _whose(user, user_id), memory_id=memory_id.lower())
    found = await run_memory_operation(client, settings, request)
    if not found.memories:
        raise HTTPException(404, f'no memory {memory_id}')
    return MemoryHistory(memory=found.memories[0], versions=found.versions)


@router.post('/{memory_id}/undo', responses=error_responses(404))
async def undo_memory_change(
    memory_id: MemoryId,
    user: CurrentUser,
    client: TemporalClient,
    settings: SettingsDep,
    user_id: ForUser = None,
) -> Undone:
    """Undoes the memory's last change: the previous version comes back, or a memory that was
    never changed is forgotten."""
    request = MemoryOperationRequest('undo', _whose(user, user_id), memory_id=memory_id.lower())
    done = await run_memory_operation(client, settings, request)
    if not done.undone and not done.memories:
        raise HTTPException(404, f'no memory {memory_id}')
    return Undone(undone=done.undone, memory=done.memories[0] if done.memories else None)


@router.delete('/{memory_id}', status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
async def forget_memory(
    memory_id: MemoryId,
    user: CurrentUser,
    client: TemporalClient,
    settings: SettingsDep,
    user_id: ForUser = None,
) -> Response:
    request = MemoryOperationRequest('forget', _whose(user, user_id), memory_id=memory_id.lower())
    if (await run_memory_operation(client, settings, request)).deleted == 0:
        raise HTTPException(404, f'no memory {memory_id}')
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete('')
async def forget_all_memories(
    user: CurrentUser, client: TemporalClient, settings: SettingsDep, user_id: ForUser = None
) -> Deleted:
    request = MemoryOperationRequest('forget_all', _whose(user, user_id))
    return Deleted(deleted=(await run_memory_operation(client, settings, request)).deleted)
