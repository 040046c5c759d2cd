"""Reaching memory from the API: the MemoryOperation workflow on the memory task queue.

The API never opens Qdrant (local mode belongs to the memory worker, DESIGN P7).
"""

from __future__ import annotations

import uuid

from fastapi import HTTPException
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from durable_chat.settings import Settings
from memory.operations import MEMORY_OPERATION_WORKFLOW, MemoryOperationRequest, MemoryOperationResult


async def run_memory_operation(
    client: Client, settings: Settings, request: MemoryOperationRequest
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
