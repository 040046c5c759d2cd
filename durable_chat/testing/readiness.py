"""When a started server serves, asked of the servers themselves, never read from a log line:
Temporal answers and lists the session search attributes, Temporal lists a worker's pollers, an API's
`/readyz` reports its dependencies reachable.

Each wait is synchronous (fixtures and stacks start processes from plain code) and works from inside
a running event loop too: Temporal's client is asyncio-only, so its calls run on a loop of their own
in a helper thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from durable_chat.workflows.contract import SEARCH_ATTRIBUTES

POLL_SECONDS = 0.05
_T = TypeVar('_T')

Gone = Callable[[], str | None]
"""Why the awaited process can no longer become ready (it exited), or None while it still may."""


class NotReady(AssertionError):
    """A server did not become ready in time, or died trying; the message says what was missing."""


def _in_own_loop(coroutine: Coroutine[Any, Any, _T]) -> _T:
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def _connect(address: str, namespace: str, gone: Gone, deadline: float) -> Client:
    while True:
        try:
            return await Client.connect(address, namespace=namespace)
        except RuntimeError as error:  # refused: the server is still coming up (or coming back)
            _check(gone, deadline, f'no connection to Temporal at {address}: {error}')
        await asyncio.sleep(POLL_SECONDS)


def _check(gone: Gone, deadline: float, missing: str) -> None:
    if (reason := gone()) is not None:
        raise NotReady(f'{reason} before it was ready ({missing})')
    if time.monotonic() > deadline:
        raise NotReady(f'not ready in time: {missing}')


def wait_for_temporal(address: str, namespace: str, gone: Gone, timeout: float) -> None:
    """Temporal serves `namespace`, the session search attributes registered (a workflow that
    upserts one fails its task until then)."""

    async def wait() -> None:
        deadline = time.monotonic() + timeout
        client = await _connect(address, namespace, gone, deadline)
        request = ListSearchAttributesRequest(namespace=namespace)
        while True:
            try:
                known = (await client.operator_service.list_search_attributes(request)).custom_attributes
                missing = sorted(set(SEARCH_ATTRIBUTES) - set(known))
            except RPCError as error:
                missing = [str(error)]
            if not missing:
                return
            _check(gone, deadline, f'search attributes {missing}')
            await asyncio.sleep(POLL_SECONDS)

    _in_own_loop(wait())


QUEUE_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


def wait_for_pollers(
    address: str, namespace: str, queues: Iterable[str], identity: str, gone: Gone, timeout: float
) -> None:
    """Temporal lists a poller of `identity` (a worker's is `pid@host`) for workflow and activity
    tasks on every one of `queues`: the worker takes work from all of them."""
    wanted = [(queue, kind) for queue in queues for kind in QUEUE_TYPES]

    async def polled(client: Client, queue: str, kind: TaskQueueType.ValueType) -> bool:
        request = DescribeTaskQueueRequest(
            namespace=namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind
        )
        try:
            described = await client.workflow_service.describe_task_queue(request)
        except RPCError:  # Temporal restarting under us: ask again
            return False
        return any(poller.identity == identity for poller in described.pollers)

    async def wait() -> None:
        deadline = time.monotonic() + timeout
        client = await _connect(address, namespace, gone, deadline)
        missing = wanted
        while True:
            missing = [(queue, kind) for queue, kind in missing if not await polled(client, queue, kind)]
            if not missing:
                return
            names = [
                f'{queue} ({TaskQueueType.Name(kind).removeprefix("TASK_QUEUE_TYPE_").lower()})'
                for queue, kind in missing
            ]
            _check(gone, deadline, f'Temporal lists no poller of {identity} on {", ".join(names)}')
            await asyncio.sleep(POLL_SECONDS)

    _in_own_loop(wait())


def wait_for_http(
    url: str,
    answered: Callable[[httpx.Response], bool],
    gone: Gone,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> None:
    """`GET url` until `answered(response)` holds: a server that listens before it serves."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as http:
        while True:
            try:
                answer = http.get(url, headers=headers)
                if answered(answer):
                    return
                missing = f'{url} answered {answer.status_code} {answer.text[:200]!r}'
            except httpx.TransportError as error:  # not listening yet
                missing = f'{url} ({error!r})'
            _check(gone, deadline, missing)
            time.sleep(POLL_SECONDS)


def wait_for_readyz(url: str, checks: Iterable[str], gone: Gone, timeout: float) -> None:
    """The API at `url` answers `/readyz` with each of `checks` (temporal, redis, memory) true."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=5) as http:
        while True:
            try:
                reported = http.get('/readyz').json()['checks']
                missing = [check for check in checks if not reported.get(check)]
            except httpx.TransportError as error:  # not listening yet
                missing = [f'/readyz ({error!r})']
            if not missing:
                return
            _check(gone, deadline, f'{url} not ready: {", ".join(missing)}')
            time.sleep(POLL_SECONDS)
