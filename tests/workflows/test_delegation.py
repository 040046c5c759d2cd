"""Sub-agents as child workflows: the lead agent (examples/delegation) hands a task to the researcher
with `delegate`; the researcher runs as a child workflow of the session, with a history of its own,
streams into the parent turn tagged with the call, and its answer is the call's result. Interrupting
the turn or closing the session cancels the child."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle

from durable_chat.testing.scripted import expected_reply
from durable_chat.workflows.contract import (
    RUN_FINISHED,
    TEXT_MESSAGE_CONTENT,
    TURN_INTERRUPTED,
    Frame,
)
from durable_chat.workflows.delegation import DELEGATE_TOOL, STEPS_PER_PARENT_STEP
from durable_chat.workflows.events import PARENT_TOOL_CALL_ID
from durable_chat.workflows.offline_model import LABEL
from tests.workflows.driver import Chat, NewChat, eventually, of_turn

CHILD_TYPE = 'agent__lead__toolset__delegation__call_tool__child_workflow'


def delegating(task: str, agent: str = 'researcher') -> str:
    """A message the scripted model answers by calling `delegate` (then: `delegate said: <result>`)."""
    return f'call {DELEGATE_TOOL} {json.dumps({"agent": agent, "task": task})}'


def nested(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if PARENT_TOOL_CALL_ID in f]


async def children(chat: Chat) -> list[WorkflowHandle[object, object]]:
    """The child workflows the session started, from its history (in the order started)."""
    history = await chat.handle.fetch_history()
    return [
        chat.client.get_workflow_handle(started.workflow_execution.workflow_id)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
        for started in [e.child_workflow_execution_started_event_attributes]
    ]


async def one_child(chat: Chat) -> WorkflowHandle[object, object]:
    async def probe() -> WorkflowHandle[object, object] | None:
        started = await children(chat)
        return started[0] if started else None

    return await eventually(probe, 'the child workflow to start')


async def ended(child: WorkflowHandle[object, object]) -> WorkflowExecutionDescription:
    async def probe() -> WorkflowExecutionDescription | None:
        described = await child.describe()
        return None if described.status == WorkflowExecutionStatus.RUNNING else described

    return await eventually(probe, f'{child.id} to end')


async def activity_types(handle: WorkflowHandle[object, object]) -> list[str]:
    history = await handle.fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_a_delegated_task_runs_as_a_child_workflow_and_its_answer_is_the_tool_result(
    new_chat: NewChat,
) -> None:
    chat = await new_chat(agent='lead')
    await chat.send('m-1', delegating('slow 5 r'))
    done = await chat.wait_finished(1)

    answer = expected_reply('slow 5 r')
    [turn] = done.turns
    assert (turn.status, turn.reply) == ('done', f'{DELEGATE_TOOL} said: {answer}')
    [call] = turn.tool_calls
    assert (call.name, call.args, call.result) == (
        DELEGATE_TOOL,
        {'agent': 'researcher', 'task': 'slow 5 r'},
        answer,
    )

    child = await one_child(chat)
    described = await ended(child)
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert described.workflow_type == CHILD_TYPE
    assert described.parent_id == chat.handle.id
    assert child.id.startswith(f'{chat.handle.id}--')
    # The child's history holds the researcher's model request; the session's holds none of it.
    assert any(name.startswith('agent__researcher__') for name in await activity_types(child))
    assert not any(name.startswith('agent__researcher__') for name in await activity_types(chat.handle))

    frames = of_turn(
        await chat.wait_for_frames(lambda fs: any(f['type'] == RUN_FINISHED for f in fs), 'the end'), 1
    )
    inner = nested(frames)
    assert {f[PARENT_TOOL_CALL_ID] for f in inner} == {call.id}
    assert ''.join(f['delta'] for f in inner if f['type'] == TEXT_MESSAGE_CONTENT) == answer
    # The researcher's steps are its own: none is one of the lead's steps.
    own_steps = {f['step'] for f in frames if PARENT_TOOL_CALL_ID not in f}
    assert all(f['step'] > STEPS_PER_PARENT_STEP for f in inner) and max(own_steps) < STEPS_PER_PARENT_STEP
    # The reply the lead streamed is only its own text.
    reply = ''.join(f['delta'] for f in frames if f['type'] == TEXT_MESSAGE_CONTENT and f not in inner)
    assert reply == turn.reply
    result = next(f for f in frames if f['type'] == 'TOOL_CALL_RESULT' and f['toolCallId'] == call.id)
    assert PARENT_TOOL_CALL_ID not in result and result['content'] == answer


async def test_an_agent_not_delegated_to_is_refused_in_words_and_no_child_starts(new_chat: NewChat) -> None:
    chat = await new_chat(agent='lead')
    await chat.send('m-1', delegating('hello', agent='chat'))
    done = await chat.wait_finished(1)

    [turn] = done.turns
    assert turn.status == 'done'
    assert "There is no agent 'chat' to delegate to. You may delegate to: researcher." in turn.reply
    assert await children(chat) == []


async def test_interrupting_the_turn_cancels_the_child(new_chat: NewChat) -> None:
    chat = await new_chat(agent='lead')
    await chat.send('m-1', delegating('slow 300 r'))
    await chat.wait_for_frames(
        lambda fs: sum(f['type'] == TEXT_MESSAGE_CONTENT for f in nested(fs)) >= 3, 'the researcher to stream'
    )
    child = await one_child(chat)

    await chat.interrupt(by='alice')
    done = await chat.wait_finished(1)

    assert (await ended(child)).status == WorkflowExecutionStatus.CANCELED
    [turn] = done.turns
    # What the researcher streamed was the call's, not the reply's: the lead had said nothing yet.
    assert (turn.status, turn.reply) == ('interrupted', '')
    last = of_turn(await chat.read_stream(), 1)[-1]
    assert (last['type'], last['reply']) == (TURN_INTERRUPTED, '')


async def test_closing_the_session_cancels_the_child(new_chat: NewChat) -> None:
    chat = await new_chat(agent='lead')
    await chat.send('m-1', delegating('slow 300 r'))
    await chat.wait_for_frames(
        lambda fs: any(f['type'] == TEXT_MESSAGE_CONTENT for f in nested(fs)), 'streaming'
    )
    child = await one_child(chat)

    await chat.handle.cancel()  # how the API closes a session

    assert (await ended(child)).status == WorkflowExecutionStatus.CANCELED
    assert (await ended(chat.handle)).status == WorkflowExecutionStatus.CANCELED


async def test_the_offline_assistant_hands_ask_the_researcher_to_the_researcher(new_chat: NewChat) -> None:
    """What the demo shows with no model configured: "ask the researcher to ..." delegates."""
    chat = await new_chat(agent='lead', model='offline')
    await chat.send('m-1', 'ask the researcher to find the tallest mountain')

    [turn] = (await chat.wait_finished(1)).turns

    [call] = turn.tool_calls
    assert (call.name, call.args) == (
        DELEGATE_TOOL,
        {'agent': 'researcher', 'task': 'find the tallest mountain'},
    )
    # The researcher answers on its own default model (here the scripted one), and the lead reports it.
    assert turn.reply == f'{LABEL} It reported back: {expected_reply("find the tallest mountain")}'
    assert len(await children(chat)) == 1


async def test_the_offline_assistant_does_not_delegate_to_an_agent_it_may_not_use(new_chat: NewChat) -> None:
    chat = await new_chat(agent='lead', model='offline')
    await chat.send('m-1', 'ask the shop to order tea')

    [turn] = (await chat.wait_finished(1)).turns

    assert turn.tool_calls == [] and turn.reply.startswith(f'{LABEL} You said:')
