"""The worker: runs ChatSession workflows (the `chat` role) and the memory activities (the `memory`
role, in the one process that owns Qdrant), on their own task queues."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from types import CodeType

from pydantic_ai.durable_exec.temporal import AgentPlugin, LogfirePlugin, PydanticAIPlugin
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from durable_chat import temporal
from durable_chat.memory.activities import MemoryActivities, open_store
from durable_chat.memory.erase import EraseActivities
from durable_chat.memory.expiry import MemoryExpiryPurge, ensure_purge_schedule
from durable_chat.memory.store import MemoryStore
from durable_chat.memory.transcripts import TranscriptActivities, TranscriptStore
from durable_chat.memory.workflows import MemoryOperation
from durable_chat.redis_clients import connect_redis
from durable_chat.settings import Settings
from durable_chat.temporal import TracingUnavailable
from durable_chat.workflows.activities import SESSION_ACTIVITIES
from durable_chat.workflows.agents.registry import Registry, install, load_registry
from durable_chat.workflows.check_in_schedules import CheckInDue, CheckInSchedules
from durable_chat.workflows.contract import SEARCH_ATTRIBUTES, agents_key
from durable_chat.workflows.memory_hints import HINT_ACTIVITIES, bump_generation
from durable_chat.workflows.session import ChatSession

log = logging.getLogger(__name__)


def _plugins(settings: Settings) -> list[SimplePlugin]:
    plugins: list[SimplePlugin] = [PydanticAIPlugin()]
    if settings.logfire:
        if importlib.util.find_spec('logfire') is None:
            raise TracingUnavailable(
                "DURABLE_CHAT_LOGFIRE needs the logfire package: pip install 'durable-chat[tracing]'"
            )
        plugins.append(LogfirePlugin())
    return plugins


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await temporal.connect(settings, plugins=_plugins(settings), runtime=runtime)


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the SDK's Prometheus metrics (task latencies, slots, polls)."""
    if settings.metrics_port is None:
        return None
    address = f'{settings.metrics_host}:{settings.metrics_port}'
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


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


STICKY_QUEUE_TIMEOUT = timedelta(seconds=5)
"""How long a session's workflow task waits on the sticky queue of the worker that ran its last one
before any worker may take it. A worker killed and started again (a new sticky queue) left the
session's next task there for the SDK's 10 s default: a restarted `up` finished the reply in flight
10 s late. Not shorter: a worker saturated by many sessions at once (bench.capacity's 100 active on
2 cores) can take seconds to start a task, and a task moved off its sticky queue replays the whole
run, which only adds to that load (at 2 s that run's p95 first token went from ~8 s to ~21 s)."""

GRACEFUL_SHUTDOWN = timedelta(seconds=20)
"""On SIGTERM a worker stops taking work and lets in-flight activities (a streaming reply) finish;
past this they are cancelled and Temporal retries them on another worker."""


class _CompiledOnce(SourceFileLoader):
    """Runs a module from code compiled once, not read and compiled again at each import."""

    def __init__(self, fullname: str, path: str, code: CodeType) -> None:
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname: str) -> CodeType:
        return self._code


class WorkflowCode:
    """The sandbox imports a workflow's module afresh for every workflow instance it creates (a new
    session, an evicted one replayed), so each run gets its own module globals. Each import read and
    compiled the source again wherever no bytecode file was written (PYTHONDONTWRITEBYTECODE, as in
    the Docker image and this repo's dev setup): ~3 ms per instance, a third of a chat worker's CPU
    while sessions are being created (bench.capacity). This finder hands those imports the code the
    worker compiled first; each instance still executes it into a module of its own. A worker also
    keeps running the workflow code it started with, not a source file edited under it."""

    def __init__(self) -> None:
        self._modules: dict[str, CodeType | None] = {}

    def add(self, workflows: Sequence[type]) -> None:
        for workflow_class in workflows:
            self._modules.setdefault(workflow_class.__module__, None)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: object = None
    ) -> ModuleSpec | None:
        if fullname not in self._modules:
            return None
        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not isinstance(spec.loader, SourceFileLoader):
            return spec
        code = self._modules[fullname] or spec.loader.get_code(fullname)
        if code is None:
            return spec
        self._modules[fullname] = code
        spec.loader = _CompiledOnce(fullname, spec.origin, code)
        return spec


workflow_code = WorkflowCode()


def compile_once(workflows: Sequence[type]) -> list[type]:
    """`workflows`, their modules compiled once for every sandboxed instance of this process."""
    workflow_code.add(workflows)
    if workflow_code not in sys.meta_path:
        sys.meta_path.insert(0, workflow_code)
    return list(workflows)


def chat_worker(client: Client, settings: Settings, registry: Registry | None = None) -> Worker:
    """A worker for sessions, serving `registry`'s agents (else the agents in settings)."""
    registry = registry or load_registry(settings)
    install(registry)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=compile_once([ChatSession, CheckInDue]),
        # The check-in schedule activities create and delete schedules with this worker's client.
        activities=[*SESSION_ACTIVITIES, *HINT_ACTIVITIES, *CheckInSchedules(client).all()],
        # Each agent's activities (and child workflows), the summarizer's included.
        plugins=[AgentPlugin(agent) for agent in registry.agents()],
        max_cached_workflows=settings.max_cached_sessions,
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def publish_catalogue(settings: Settings, registry: Registry) -> None:
    """Tells the API which agents and models users may pick (it does not load the agents itself)."""
    redis = connect_redis(settings, socket_timeout=10)
    try:
        await redis.set(agents_key(settings.task_queue), registry.catalogue_json())
    finally:
        await redis.aclose()


def memory_worker(
    client: Client, settings: Settings, store: MemoryStore, transcripts: TranscriptStore
) -> Worker:
    # A store marks the user's memories changed itself, saving the session a local activity.
    memory = MemoryActivities(store, mark_changed=bump_generation)
    activities = [*memory.all(), *TranscriptActivities(transcripts).all()]
    activities += EraseActivities(store, transcripts).all()
    return Worker(
        client,
        task_queue=settings.memory_task_queue,
        workflows=compile_once([MemoryOperation, MemoryExpiryPurge]),
        activities=activities,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    client = await connect(settings, metrics_runtime(settings))
    await ensure_search_attributes(client, settings.temporal_namespace)
    async with AsyncExitStack() as running:
        if 'memory' in settings.roles:
            store = await open_store(settings)
            running.push_async_callback(store.close)
            transcripts = TranscriptStore(store.client, run=store.run_qdrant)
            await transcripts.ensure_collection()
            await running.enter_async_context(memory_worker(client, settings, store, transcripts))
            await ensure_purge_schedule(client, settings.memory_task_queue)
        if 'chat' in settings.roles:
            registry = load_registry(settings)
            await running.enter_async_context(chat_worker(client, settings, registry))
            await publish_catalogue(settings, registry)
            log.info('agents: %s', ', '.join(f'{e.name} ({", ".join(e.models)})' for e in registry))
        queues = {'chat': settings.task_queue, 'memory': settings.memory_task_queue}
        serving = ', '.join(f'{role} on {queues[role]!r}' for role in sorted(settings.roles))
        log.info('worker polling task queue(s): %s at %s', serving, settings.temporal_target)
        await stop.wait()
