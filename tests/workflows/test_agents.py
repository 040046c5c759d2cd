"""Sessions of the deployer's agents: a spec file with an MCP server, a Python agent with a
side-effect tool that needs approval, the session's model and its switch, an agent gone away."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from temporalio.client import WorkflowUpdateFailedError

from durable_chat.workflows.contract import (
    APPROVAL_REQUESTED,
    RUN_ERROR,
    RUN_FINISHED,
    SA_MODEL,
    UPDATE_SET_MODEL,
    SetModel,
    ToolCall,
)
from tests.workflows import shop_agents
from tests.workflows.conftest import SCRIPTED_MODEL
from tests.workflows.driver import NewChat, of_turn, refusal

TOOL_CALL_START, TOOL_CALL_RESULT = 'TOOL_CALL_START', 'TOOL_CALL_RESULT'


def kinds(frames: list[dict[str, object]]) -> list[object]:
    return [f['type'] for f in frames]


async def test_a_spec_agent_calls_its_mcp_server_as_an_activity_and_the_turn_keeps_the_tool_card(
    new_chat: NewChat,
) -> None:
    chat = await new_chat(agent='clock')
    await chat.send('m-1', 'call time_get_current_time {"timezone": "UTC"}')
    done = await chat.wait_finished(1)

    [turn] = done.turns
    assert (turn.status, turn.model, done.agent) == ('done', SCRIPTED_MODEL, 'clock')
    [call] = turn.tool_calls
    assert (call.name, call.server, call.args) == ('time_get_current_time', 'time', {'timezone': 'UTC'})
    told = json.loads(call.result)
    assert (
        told['timezone'] == 'UTC'
        and datetime.fromisoformat(told['datetime']).utcoffset().total_seconds() == 0
    )
    assert turn.reply.startswith('time_get_current_time said: {')
    frames = of_turn(await chat.wait_for_frames(lambda f: RUN_FINISHED in kinds(f), 'the run'), 1)
    milestones = [k for k in kinds(frames) if k in (TOOL_CALL_START, TOOL_CALL_RESULT, RUN_FINISHED)]
    assert milestones == [TOOL_CALL_START, TOOL_CALL_RESULT, RUN_FINISHED]

    history = [e async for e in chat.handle.fetch_history_events()]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history
        if e.HasField('activity_task_scheduled_event_attributes')
    ]
    assert 'agent__clock__mcp_server__time__call_tool' in scheduled


async def test_an_mcp_tool_the_spec_says_needs_approval_waits_for_it(new_chat: NewChat) -> None:
    chat = await new_chat(agent='clock')
    args = {'source_timezone': 'UTC', 'time': '12:00', 'target_timezone': 'Asia/Tokyo'}
    await chat.send('m-1', f'call time_convert_time {json.dumps(args)}')
    waiting = await chat.wait_for(lambda s: s.status == 'awaiting_approval', 'the approval request')
    [approval] = waiting.approvals
    assert (approval.tool_name, approval.args) == ('time_convert_time', args)

    await chat.answer(approval.id, approve=True, by='tester')
    done = await chat.wait_finished(1)
    [call] = done.turns[0].tool_calls
    assert json.loads(call.result)['target']['datetime'][10:16] == 'T21:00'  # noon UTC in Tokyo


async def test_a_python_agents_side_effect_tool_runs_once_after_approval_with_its_idempotency_key(
    new_chat: NewChat,
) -> None:
    chat = await new_chat(agent='shop', model=SCRIPTED_MODEL)
    await chat.send('m-1', 'call place_order {"item": "tea", "quantity": 2}')
    waiting = await chat.wait_for(lambda s: s.status == 'awaiting_approval', 'the approval request')
    [approval] = waiting.approvals
    assert APPROVAL_REQUESTED in kinds(await chat.read_stream())
    assert shop_agents.orders() == {} or all(
        not key.startswith(chat.session_id) for key in shop_agents.orders()
    )

    await chat.answer(approval.id, approve=True)
    done = await chat.wait_finished(1)

    mine = {k: v for k, v in shop_agents.orders().items() if k.startswith(chat.session_id)}
    assert mine == {
        f'{chat.session_id}:1:{approval.id}': {'item': 'tea', 'quantity': 2, 'user': chat.user_id}
    }
    [call] = done.turns[0].tool_calls
    assert call == ToolCall(approval.id, 'place_order', {'item': 'tea', 'quantity': 2}, call.result, '')
    assert call.result.endswith('2 x tea')


async def test_the_model_switches_between_turns_among_the_agents_models(new_chat: NewChat) -> None:
    chat = await new_chat()
    await chat.send('m-1', 'hello')
    first = await chat.wait_finished(1)
    assert (first.agent, first.model, first.turns[0].model) == ('chat', '', SCRIPTED_MODEL)

    assert (
        await chat.handle.execute_update(UPDATE_SET_MODEL, SetModel('offline'), result_type=str) == 'offline'
    )
    await chat.send('m-2', 'hello')
    second = await chat.wait_finished(2)
    assert second.model == 'offline'
    assert second.turns[1].model == 'offline' and second.turns[1].reply != first.turns[0].reply
    described = await chat.handle.describe()
    assert described.typed_search_attributes.get(SA_MODEL) == 'offline'

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await chat.handle.execute_update(UPDATE_SET_MODEL, SetModel('gpt-none'), result_type=str)
    assert refusal(refused)[1] == "'gpt-none' is not a model of the agent 'chat' (it offers: " + (
        f'{SCRIPTED_MODEL}, offline)'
    )


async def test_a_session_whose_agent_is_gone_answers_with_an_error_not_a_stuck_turn(
    new_chat: NewChat,
) -> None:
    chat = await new_chat(agent='retired')
    await chat.send('m-1', 'hello?')
    done = await chat.wait_finished(1)

    [turn] = done.turns
    assert turn.status == 'failed'
    assert turn.reply.startswith("This chat's agent, 'retired', is no longer available on this server")
    [error] = [f for f in of_turn(await chat.read_stream(), 1) if f['type'] == RUN_ERROR]
    assert error['message'] == turn.reply
    await chat.send('m-2', 'anyone?')
    assert (await chat.wait_finished(2)).turns[1].status == 'failed'  # still answering, never stuck
