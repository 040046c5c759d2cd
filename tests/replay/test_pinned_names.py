"""Names that running sessions depend on: changing any of them strands sessions already running.

If this fails, you renamed something persisted. Rename it back; if the change is truly intended,
it needs a migration of running sessions, not an edit of this list.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalDurability
from pydantic_ai.durable_exec.temporal._durability import worker_registrations
from temporalio import activity, workflow

from durable_chat.memory.activities import MemoryActivities
from durable_chat.memory.erase import EraseActivities
from durable_chat.memory.expiry import PURGE_SCHEDULE_ID, MemoryExpiryPurge
from durable_chat.memory.transcripts import TranscriptActivities
from durable_chat.memory.workflows import MemoryOperation
from durable_chat.workflows.activities import SESSION_ACTIVITIES
from durable_chat.workflows.agents.registry import Registry
from durable_chat.workflows.check_in_schedules import CheckInDue, CheckInSchedules
from durable_chat.workflows.delegation import delegation_toolset
from durable_chat.workflows.memory_hints import HINT_ACTIVITIES
from durable_chat.workflows.reminders import session_actions
from durable_chat.workflows.session import ChatSession
from durable_chat.workflows.tools import memory_tools

PINNED_ACTIVITIES = {
    'agent__chat__event_stream_handler',
    'agent__chat__model_cancel_suspended_response',
    'agent__chat__model_compact_messages',
    'agent__chat__model_request',
    'agent__chat__model_request_stream',
    'agent__chat__toolset__<agent>__call_tool',
    'agent__chat__toolset__<agent>__validate_args',
    'agent__chat__toolset__memory__call_tool',
    'agent__chat__toolset__memory__validate_args',
    'agent__summarizer__model_cancel_suspended_response',
    'agent__summarizer__model_compact_messages',
    'agent__summarizer__model_request',
    'agent__summarizer__model_request_stream',
    'agent__summarizer__toolset__<agent>__call_tool',
    'agent__summarizer__toolset__<agent>__validate_args',
    'publish_turn_event',
    'publish_tool_event',
    'prepared_recall',
    'interrupt_turn_stream',
    'compensate_tool_call',
    'create_check_in_schedule',
    'delete_check_in_schedule',
    'memory_hint',
    'mark_no_memories',
    'memory_changed',
    'recall_memories',
    'store_memory',
    'forget_memory',
    'list_memories',
    'memory_history',
    'undo_memory_change',
    'purge_expired_memories',
    'erase_user',
    'count_user_points',
    'archive_turns',
    'read_transcript',
}


def builtin(registry: Registry) -> list[Agent[Any, Any]]:
    chat = registry.get('chat')
    assert chat is not None and registry.summarizer is not None
    return [chat.agent, registry.summarizer]


def _name(fn: object) -> str:
    definition = activity._Definition.from_callable(fn)  # the name Temporal registers
    assert definition is not None
    return definition.name


def test_activity_names_are_pinned(registry: Registry) -> None:
    names = {*(_name(fn) for fn in SESSION_ACTIVITIES), *(_name(fn) for fn in HINT_ACTIVITIES)}
    for durable_agent in builtin(registry):
        durability = TemporalDurability.from_agent(durable_agent)
        assert durability is not None
        names |= {_name(fn) for fn in worker_registrations(durability)[0]}
    names |= {_name(fn) for fn in MemoryActivities.__new__(MemoryActivities).all()}
    names |= {_name(fn) for fn in TranscriptActivities.__new__(TranscriptActivities).all()}
    names |= {_name(fn) for fn in CheckInSchedules.__new__(CheckInSchedules).all()}
    names |= {_name(fn) for fn in EraseActivities.__new__(EraseActivities).all()}
    assert names == PINNED_ACTIVITIES


def test_agent_tool_and_workflow_names_are_pinned(registry: Registry) -> None:
    assert [agent.name for agent in builtin(registry)] == ['chat', 'summarizer']
    assert sorted(memory_tools.tools) == ['forget', 'recall', 'remember']
    assert memory_tools.tools['forget'].requires_approval
    # Answered by the workflow itself.
    assert [d.name for d in session_actions.tool_defs] == ['remind', 'check_in']
    session = workflow._Definition.from_class(ChatSession)
    assert session is not None and session.name == 'ChatSession'
    assert sorted(session.signals) == ['check_in', 'send']
    assert sorted(session.queries) == ['client_tool_calls', 'snapshot']
    assert sorted(session.updates) == [
        'answer_approval',
        'cancel_check_in',
        'cancel_reminder',
        'client_tool_result',
        'delete',
        'interrupt',
        'rename',
        'set_double_texting',
        'set_model',
    ]
    check_in_due = workflow._Definition.from_class(CheckInDue)
    assert check_in_due is not None and check_in_due.name == 'CheckInDue'
    operation = workflow._Definition.from_class(MemoryOperation)
    assert operation is not None and operation.name == 'MemoryOperation'
    purge = workflow._Definition.from_class(MemoryExpiryPurge)
    assert purge is not None and purge.name == 'MemoryExpiryPurge'
    assert PURGE_SCHEDULE_ID == 'memory-expiry-purge'


def test_delegation_names_are_pinned(registry: Registry) -> None:
    """The delegate tool, its toolset id, and the child workflow type they make for an agent that
    delegates (the example's `lead`: `agent__<agent>__toolset__delegation__call_tool__child_workflow`)."""
    toolset = delegation_toolset(['researcher'])
    assert (toolset.id, sorted(toolset.tools)) == ('delegation', ['delegate'])
    lead = registry.get('lead')
    assert lead is not None
    durability = TemporalDurability.from_agent(lead.agent)
    assert durability is not None
    children = [workflow._Definition.must_from_class(c).name for c in worker_registrations(durability)[1]]
    assert children == ['agent__lead__toolset__delegation__call_tool__child_workflow']
