"""The AG-UI endpoint read without the JS client: every server-sent event of a turn with a tool call
validates against the `ag-ui-protocol` Python types, carries nothing they do not describe, and the
run keeps AG-UI's order (RUN_STARTED first, each message and call opened before its content)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from ag_ui.core import (
    BaseEvent,
    Event,
    RunAgentInput,
    RunFinishedEvent,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallStartEvent,
    UserMessage,
)
from pydantic import TypeAdapter

from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

EVENTS: TypeAdapter[BaseEvent] = TypeAdapter(Event)


async def run(http: httpx.AsyncClient, body: RunAgentInput) -> list[BaseEvent]:
    payload = body.model_dump(mode='json', by_alias=True)
    received: list[BaseEvent] = []
    async with http.stream('POST', '/ag-ui/sessions', json=payload) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers['content-type'].startswith('text/event-stream')
        async for line in response.aiter_lines():
            if line.startswith('data: '):
                received.append(EVENTS.validate_json(line.removeprefix('data: ')))
            else:
                assert line == ''  # nothing but `data:` lines and the blank line ending each event
    return received


async def test_every_event_of_a_tool_turn_is_an_ag_ui_event(api_url: str, workers: Workers) -> None:
    workers.ensure_one()
    headers = {'Authorization': f'Bearer {token_for("ida")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as http:
        thread = str(uuid.uuid4())
        ask = UserMessage(id='u-1', content='remember that the lighthouse is white')
        events = await run(http, RunAgentInput(thread_id=thread, run_id='run-1', messages=[ask]))
        await http.delete('/memories')

    assert all(event.model_extra == {} for event in events)  # no field the protocol does not describe
    assert isinstance(events[0], RunStartedEvent) and (events[0].thread_id, events[0].run_id) == (
        thread,
        'run-1',
    )
    assert isinstance(events[-1], RunFinishedEvent) and events[-1].run_id == 'run-1'
    started_texts = {e.message_id for e in events if isinstance(e, TextMessageStartEvent)}
    assert all(e.message_id in started_texts for e in events if isinstance(e, TextMessageContentEvent))
    calls = [e for e in events if isinstance(e, ToolCallStartEvent)]
    assert [c.tool_call_name for c in calls] == ['remember']
    assert all(e.tool_call_id == calls[0].tool_call_id for e in events if isinstance(e, ToolCallArgsEvent))
    kinds = [e.type.value for e in events]
    assert kinds.index('TOOL_CALL_START') < kinds.index('TOOL_CALL_END') < kinds.index('TOOL_CALL_RESULT')
    assert events[-1].result == ''.join(e.delta for e in events if isinstance(e, TextMessageContentEvent))
