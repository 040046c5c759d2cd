"""A tool call's events: on a run that began with `tool-events-local`, the call event (which publishes
nothing) is not delivered and the result goes to the stream in a local activity, not each in an
activity of its own; the stream still shows the call and its result once each, in order."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType

from durable_chat.workflows.contract import RUN_FINISHED
from tests.workflows.driver import NewChat, of_turn

EVENT_ACTIVITY = 'agent__chat__event_stream_handler'
TOOL_EVENT_ACTIVITY = 'publish_tool_event'
TOOL_FRAMES = ('TOOL_CALL_START', 'TOOL_CALL_ARGS', 'TOOL_CALL_END', 'TOOL_CALL_RESULT')


async def test_a_tool_turn_streams_the_call_and_its_result_without_an_event_activity(
    new_chat: NewChat,
) -> None:
    chat = await new_chat()
    await chat.send('m-1', 'remember that my locker is 12')
    done = await chat.wait_finished(1)
    assert done.turns[0].tool_calls and done.turns[0].tool_calls[0].name == 'remember'

    frames = of_turn(
        await chat.wait_for_frames(lambda f: RUN_FINISHED in [x['type'] for x in f], 'the run'), 1
    )
    tool = [(f['type'], f['toolCallId'], f['step'], f['attempt']) for f in frames if f['type'] in TOOL_FRAMES]
    call_id = tool[0][1]
    assert tool == [(kind, call_id, 1, 1) for kind in TOOL_FRAMES]
    [result] = [f for f in frames if f['type'] == 'TOOL_CALL_RESULT']
    assert str(result['content']).startswith('added')

    history = await chat.client.get_workflow_handle(chat.handle.id, run_id=chat.first_run_id).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    local = [
        json.loads(e.marker_recorded_event_attributes.details['data'].payloads[0].data)['activity_type']
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == 'core_local_activity'
    ]
    assert EVENT_ACTIVITY not in scheduled
    assert local.count(TOOL_EVENT_ACTIVITY) == 1  # the result; the call event is not delivered
