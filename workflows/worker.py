"""The worker: connects to Temporal and runs ChatSession workflows and their activities."""

from __future__ import annotations

import asyncio
import logging

from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.worker import Worker

from durable_chat.settings import Settings
from workflows.activities import publish_turn_event
from workflows.session import ChatSession
from workflows.shared import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_target, namespace=settings.temporal_namespace, plugins=[PydanticAIPlugin()]
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Registers the session search attributes the workflow upserts (idempotent)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        name: IndexedValueType.Value(f'INDEXED_VALUE_TYPE_{kind.upper()}')
        for name, kind in SEARCH_ATTRIBUTES.items()
        if name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
        )


def build_worker(client: Client, settings: Settings) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ChatSession],
        activities=[publish_turn_event],
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    worker = build_worker(client, settings)
    async with worker:
        log.info('worker polling task queue %r on %s', settings.task_queue, settings.temporal_target)
        await stop.wait()
