"""The stream writer on its own, against the test Valkey: workflow events once, a stopped turn
stays stopped, and a turn's streamed text read back as a client built it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic_ai import RunContext
from pydantic_ai.messages import (
    AgentStreamEvent,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage

from durable_chat.settings import get_settings
from durable_chat.testing.servers import Valkey
from durable_chat.workflows import events
from durable_chat.workflows.contract import (
    ATTEMPT_STARTED,
    MODEL_ERROR,
    RUN_FINISHED,
    TURN_INTERRUPTED,
    decode_event,
)
from durable_chat.workflows.shared import TurnDeps


@pytest.fixture
async def stream_writer(valkey: Valkey, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """This process's event writer pointed at the test Valkey; yields a fresh session id."""
    monkeypatch.setenv('DURABLE_CHAT_REDIS_URL', f'redis://127.0.0.1:{valkey.port}/0')
    get_settings.cache_clear()
    events._clients.pop(id(asyncio.get_running_loop()), None)  # a client made for other settings
    yield uuid.uuid4().hex
    await events._clients.pop(id(asyncio.get_running_loop())).aclose()
    get_settings.cache_clear()


async def _entries(session_id: str) -> list[dict[str, object]]:
    raw = await events.redis_client().xrange(events.stream_key(session_id))
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in raw]


async def test_a_workflow_event_published_again_is_not_appended_again(stream_writer: str) -> None:
    session = stream_writer
    first = await events.publish(session, turn=3, step=0, attempt=1, type=RUN_FINISHED, data={'result': 'hi'})
    again = await events.publish(session, turn=3, step=0, attempt=1, type=RUN_FINISHED, data={'result': 'hi'})
    retried = await events.publish(
        session, turn=3, step=0, attempt=2, type=RUN_FINISHED, data={'result': 'hi'}
    )
    assert (first, again, retried) == (True, False, False)
    approvals = [
        await events.publish(session, turn=3, step=0, attempt=1, type='APPROVAL_REQUESTED', data={'id': i})
        for i in ('a', 'b', 'a')
    ]
    assert approvals == [True, True, False]
    assert [(e['type'], e['turn']) for e in await _entries(session)] == [
        (RUN_FINISHED, '3'),
        ('APPROVAL_REQUESTED', '3'),
        ('APPROVAL_REQUESTED', '3'),
    ]


async def test_a_stopped_turn_takes_no_model_error_and_reads_back_what_it_streamed(
    stream_writer: str,
) -> None:
    session = stream_writer
    redis = events.redis_client()

    async def agent_event(step: int, attempt: int, kind: str, **data: object) -> None:
        fields = {
            'turn': 5,
            'step': step,
            'attempt': attempt,
            'seq': 0,
            'type': kind,
            'data': json.dumps(data),
        }
        await redis.xadd(events.stream_key(session), fields)

    await agent_event(1, 1, 'TEXT_MESSAGE_CONTENT', messageId='m', delta='lost ')
    await agent_event(1, 2, ATTEMPT_STARTED)
    await agent_event(1, 2, 'TEXT_MESSAGE_CONTENT', messageId='m', delta='kept ')
    await agent_event(2, 1, 'TEXT_MESSAGE_CONTENT', messageId='n', delta='and this')
    assert await events.streamed_text(session, 5) == 'kept and this'

    await events.stop_turn(session, 5)
    error = {'id': '2-1', 'reason': 'x'}
    kwargs = {'turn': 5, 'step': 2, 'attempt': 1, 'type': MODEL_ERROR, 'data': error}
    assert await events.publish(session, **kwargs, unless_stopped=True) is False
    assert await events.publish(session, turn=5, step=0, attempt=1, type=TURN_INTERRUPTED, data={}) is True
    assert [e['type'] for e in await _entries(session)][-1] == TURN_INTERRUPTED


async def test_a_tool_result_delivered_again_is_appended_once_and_a_model_stream_each_attempt(
    stream_writer: str,
) -> None:
    """A local activity runs again when its workflow task did not complete: the tool's result is
    one event of the turn, appended once. A model request's stream is appended by each attempt."""
    session = stream_writer
    deps = TurnDeps(session_id=session, turn=2, user_id='u', local_events=True)
    ctx = RunContext[TurnDeps](deps=deps, model=TestModel(), usage=RunUsage(), run_step=1)
    result = FunctionToolResultEvent(ToolReturnPart('remember', 'added: locker 12', tool_call_id='call-1'))
    other = FunctionToolResultEvent(ToolReturnPart('recall', 'nothing', tool_call_id='call-2'))

    async def deliver(*items: AgentStreamEvent) -> None:
        async def stream() -> AsyncIterator[AgentStreamEvent]:
            for item in items:
                yield item

        await events.publish_agent_events(ctx, stream())

    await deliver(result)
    await deliver(result)
    await deliver(other)
    text = (PartStartEvent(index=0, part=TextPart('Hi')), PartEndEvent(index=0, part=TextPart('Hi')))
    await deliver(*text)
    await deliver(*text)
    raw = await events.redis_client().xrange(events.stream_key(session))
    frames = [decode_event(*entry) for entry in raw]
    results = [
        (f['type'], f['toolCallId'], f['turn'], f['step'], f['attempt'])
        for f in frames
        if f['type'] == 'TOOL_CALL_RESULT'
    ]
    assert results == [('TOOL_CALL_RESULT', 'call-1', 2, 1, 1), ('TOOL_CALL_RESULT', 'call-2', 2, 1, 1)]
    assert [f['type'] for f in frames if f['type'].startswith('TEXT_MESSAGE')].count(
        'TEXT_MESSAGE_START'
    ) == 2
    assert events.publishes(result)
    assert not events.publishes(FunctionToolCallEvent(ToolCallPart('remember', {'fact': 'x'}, 'call-1')))
