"""The claim check (durable_chat/payload_store.py): a payload over the threshold lives in the payload
store and the history holds its sha256; a session whose history is made of such references chats on
across a worker restart and a continue-as-new, and a blob the store lost is said in words."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from durable_chat.payload_store import FileStorageDriver, PayloadMissing, reference_of, store_dir
from durable_chat.settings import Settings
from durable_chat.testing.scripted import expected_reply
from durable_chat.workflows.agents.registry import installed
from durable_chat.workflows.contract import (
    QUERY_SNAPSHOT,
    WORKFLOW_NAME,
    NewSession,
    SessionLimits,
    SessionOptions,
    search_attributes,
    workflow_id,
)
from durable_chat.workflows.worker import chat_worker
from tests.workflows.driver import Chat, NewChat, eventually

MODEL_ACTIVITY = 'agent__chat__model_request_stream'
EVERY_TURN = SessionLimits(max_run_growth_bytes=1)
QUERY_WAIT = timedelta(seconds=15)
"""How long a query may wait for a worker that has just started to answer it."""
"""A run continues as new after every turn."""


def digest_of(payload: Payload) -> str | None:
    """The sha256 a history's payload refers to, or None for a payload held inline."""
    reference = reference_of(payload)
    return reference.claim_data['sha256'] if reference else None


async def model_inputs(chat: Chat) -> list[Payload]:
    """Each model call's request (the model history and the call's settings; its second argument,
    the run's deps, is small)."""
    return [
        e.activity_task_scheduled_event_attributes.input.payloads[0]
        async for e in chat.handle.fetch_history_events()
        if e.HasField('activity_task_scheduled_event_attributes')
        and e.activity_task_scheduled_event_attributes.activity_type.name == MODEL_ACTIVITY
    ]


async def test_a_model_input_is_a_reference_to_a_blob_in_the_store(
    new_chat: NewChat, settings: Settings
) -> None:
    chat = await new_chat()
    await chat.send('m-1', 'long a1')
    await chat.wait_finished(1)
    await chat.send('m-2', 'the second message')
    await chat.wait_finished(2)

    inputs = await model_inputs(chat)
    assert len(inputs) == 2
    digests = [digest_of(p) for p in inputs]
    assert all(digests), inputs
    assert all(p.ByteSize() < 500 for p in inputs), 'the history holds a reference, not the input'
    # The blob is the input itself: the whole model history, the first reply in it.
    blob = FileStorageDriver(store_dir(settings)).path(str(digests[1]))
    assert blob.exists()
    [decoded] = await chat.client.data_converter.decode([inputs[1]])
    text = json.dumps(decoded)
    assert 'the second message' in text
    assert expected_reply('long a1').split()[0] in text  # 'a1:00', the reply's first word
    # Small payloads stay inline: the message's signal.
    history = await chat.handle.fetch_history()
    [signal, *_] = [e for e in history.events if e.HasField('workflow_execution_signaled_event_attributes')]
    [message] = signal.workflow_execution_signaled_event_attributes.input.payloads
    assert digest_of(message) is None
    assert b'long a1' in message.data


@dataclass
class OwnQueue:
    """A chat worker of the test's own, stopped and started at will (the package's memory worker
    answers recall), and sessions started on its queue."""

    client: Client
    settings: Settings
    redis: aioredis.Redis
    started: list[Chat] = field(default_factory=list[Chat])

    def worker(self) -> Worker:
        """A new worker: it caches nothing, so it replays a session's run from its history."""
        return chat_worker(self.client, self.settings, installed())

    async def start(self, limits: SessionLimits) -> Chat:
        session_id = uuid.uuid4().hex
        user = f'{self.settings.task_queue}-user'
        options = SessionOptions(
            session_id, user, memory_task_queue=self.settings.memory_task_queue, limits=limits
        )
        first = await self.client.start_workflow(
            WORKFLOW_NAME,
            NewSession(state=options),
            id=workflow_id(session_id),
            task_queue=self.settings.task_queue,
            search_attributes=search_attributes(user, 'idle'),
        )
        handle = self.client.get_workflow_handle(workflow_id(session_id))
        chat = Chat(
            self.client, handle, session_id, user, self.redis, first_run_id=first.first_execution_run_id or ''
        )
        self.started.append(chat)
        return chat


@pytest.fixture
async def own_queue(
    client: Client, settings: Settings, workers: None, redis: aioredis.Redis
) -> AsyncIterator[OwnQueue]:
    queue = f'{settings.task_queue}-claim-{uuid.uuid4().hex[:6]}'
    own = OwnQueue(client, settings.model_copy(update={'task_queue': queue}), redis)
    yield own
    for chat in own.started:
        await chat.handle.terminate('test over')


async def task_failure(chat: Chat) -> str | None:
    """What the run's last failed workflow task says, with its causes (None if none failed)."""
    failed = [
        e.workflow_task_failed_event_attributes.failure
        async for e in chat.handle.fetch_history_events()
        if e.HasField('workflow_task_failed_event_attributes')
    ]
    if not failed:
        return None
    said, failure = [], failed[-1]
    while failure.message:
        said.append(failure.message)
        failure = failure.cause
    return ' <- '.join(said)


async def start_input(chat: Chat) -> Payload:
    """What the current run started from: the state its predecessor carried."""
    first_event = (await chat.handle.fetch_history()).events[0]
    [payload] = first_event.workflow_execution_started_event_attributes.input.payloads
    return payload


async def test_a_session_of_references_chats_on_across_a_restart_and_a_continue_as_new(
    own_queue: OwnQueue,
) -> None:
    chat = await own_queue.start(EVERY_TURN)
    async with own_queue.worker():
        await chat.send('m-1', 'long r1')
        await chat.wait_finished(1)
        carried = await chat.wait_for_carried(lambda s: len(s.turns) == 1, 'a run started after turn 1')
    assert carried.turns[0].reply == expected_reply('long r1')
    # The run began from the state its predecessor carried, and that is in the store too.
    assert digest_of(await start_input(chat)) is not None

    # A new worker caches nothing: it replays the run from its references.
    async with own_queue.worker():
        await chat.send('m-2', 'long r2')
        done = await chat.wait_finished(2)
    assert [t.reply for t in done.turns] == [expected_reply('long r1'), expected_reply('long r2')]
    assert await chat.run_id() != chat.first_run_id


async def test_a_blob_the_store_lost_is_said_in_words_and_put_back_the_session_answers(
    own_queue: OwnQueue,
    settings: Settings,
    tmp_path: Path,
) -> None:
    chat = await own_queue.start(EVERY_TURN)
    async with own_queue.worker():
        await chat.send('m-1', 'long x1')
        await chat.wait_finished(1)
        await chat.wait_for_carried(lambda s: len(s.turns) == 1, 'a run started after turn 1')
    carried = await start_input(chat)
    digest = digest_of(carried)
    assert digest is not None
    blob = FileStorageDriver(store_dir(settings)).path(digest)
    kept = blob.rename(tmp_path / digest)

    # A client reading the reference learns which blob is gone, and where it was looked for.
    with pytest.raises(PayloadMissing, match=f'payload sha256:{digest} is not in the payload store'):
        await chat.client.data_converter.decode([carried])

    async with own_queue.worker():
        # The worker cannot rebuild the run without its start input: the query fails, saying why,
        # or (once the worker's workflow task failed on it) the server refuses queries and the
        # history's failed workflow task says why. A busy machine may take a while to hand the new
        # worker the query: the server then gives up on that one, and the next is asked.
        async def refused() -> str | None:
            try:
                await chat.handle.query(QUERY_SNAPSHOT, rpc_timeout=QUERY_WAIT)
            except WorkflowQueryFailedError as error:
                return str(error)
            except RPCError as error:
                if error.status == RPCStatusCode.FAILED_PRECONDITION:
                    return await task_failure(chat)
                # The server's query timeout, or the client's deadline (CANCELLED, 'Timeout expired').
                waited = error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
                if not waited and 'timed out' not in error.message:
                    raise
                return None
            raise AssertionError('the session answered without its start input')

        assert 'is not in the payload store' in await eventually(
            refused, 'the query to fail saying why', timeout=120
        )
        kept.rename(blob)

        async def answered() -> bool | None:
            try:
                await chat.handle.query(QUERY_SNAPSHOT)
            except WorkflowQueryFailedError:
                return None
            return True

        await eventually(answered, 'the session to answer with its blob back')
        await chat.send('m-2', 'hello again')
        done = await chat.wait_finished(2)
    assert done.turns[-1].reply == expected_reply('hello again')
