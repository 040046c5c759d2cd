"""A run that begins on today's code decides its patches at its start, before any local activity:
a patch decided right after one can be replayed in the wrong workflow task (tests/replay/test_unexplained.py)."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType

from durable_chat.workflows.session import (
    PREPARED_RECALL_PATCH,
    PYDANTIC_AI_RUN_ID_PATCH,
    TOOL_PATCHES,
    UP_FRONT_PATCH,
)
from durable_chat.workflows.shared import LOCAL_TOOL_EVENTS_PATCH
from tests.workflows.driver import NewChat


async def test_a_new_session_decides_its_patches_before_its_first_local_activity(new_chat: NewChat) -> None:
    chat = await new_chat()  # a user without memories: the turn's memory hint skips the recall
    await chat.send('m-1', 'hello')
    await chat.send('m-2', 'slow 3')
    await chat.wait_finished(1, 2)

    history = await chat.client.get_workflow_handle(chat.handle.id, run_id=chat.first_run_id).fetch_history()
    markers = [
        e.marker_recorded_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    patches = [
        json.loads(m.details['patch-data'].payloads[0].data)['id']
        for m in markers
        if m.marker_name == 'core_patch'
    ]
    first_local = next(i for i, m in enumerate(markers) if m.marker_name == 'core_local_activity')
    assert patches == [
        UP_FRONT_PATCH,
        PYDANTIC_AI_RUN_ID_PATCH,
        LOCAL_TOOL_EVENTS_PATCH,
        PREPARED_RECALL_PATCH,
        *TOOL_PATCHES,
    ]
    assert all(m.marker_name != 'core_patch' for m in markers[first_local:])
