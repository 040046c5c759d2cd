"""A session as Temporal's own history records it, read with the client, not through the product's API.

Every run of the session's workflow (continue-as-new starts another) is read in start order:
- the `send` signals are the messages the workflow received (a redelivered id counts once, as in the
  workflow);
- each completed chat model activity carries the model's input (whose last user prompt names the
  message it answers) and its response: a response without tool calls is that message's answer;
- each completed `store_memory` activity is a memory write, with the action the store took;
- each child workflow the session started (a delegated task) is read the same way: its researcher's
  answers, and how the child ended;
- the turn each message became, from the session's snapshot (a reminder turn has no message, so a
  message's turn is not its index).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.converter import PayloadConverter
from temporalio.service import RPCError

from durable_chat.memory.types import STORE_MEMORY, StoreResult
from durable_chat.payload_store import inline
from durable_chat.workflows.contract import QUERY_SNAPSHOT, SIGNAL_SEND, Snapshot, UserMessage, workflow_id

MODEL_ACTIVITY = re.compile(r'agent__(?!summarizer__)[A-Za-z0-9_-]+__model_request_stream')
"""A chat agent's streamed model request (the session's agent, or a delegated sub-agent's)."""


@dataclass
class Answer:
    prompt: str
    reply: str


@dataclass
class Delegation:
    """A child workflow the session started: a delegated task."""

    workflow_id: str
    status: str
    answers: list[Answer] = field(default_factory=list[Answer])
    """The sub-agent's answers (prompt: the task)."""


@dataclass
class SessionHistory:
    session_id: str
    messages: list[UserMessage] = field(default_factory=list[UserMessage])
    answers: list[Answer] = field(default_factory=list[Answer])
    stores: list[StoreResult] = field(default_factory=list[StoreResult])
    runs: int = 0
    retried_activities: int = 0
    """Activity completions that took more than one attempt (a worker died, Redis was away, ...)."""
    children: list[str] = field(default_factory=list[str])
    """Child workflows started (ids, in start order)."""
    delegations: list[Delegation] = field(default_factory=list[Delegation])
    turn_of: dict[str, int] = field(default_factory=dict[str, int])
    """Message id -> the turn it became (from the snapshot; empty when the session can't answer)."""

    def answers_to(self, text: str) -> list[str]:
        return [a.reply for a in self.answers if a.prompt == text]


def _last_prompt(model_input: dict[str, object]) -> str:
    messages = ModelMessagesTypeAdapter.validate_python(model_input['messages'])
    prompts = [
        part.content
        for message in messages
        for part in message.parts
        if isinstance(part, UserPromptPart) and isinstance(part.content, str)
    ]
    return prompts[-1] if prompts else ''


def _read_run(events: list[HistoryEvent], converter: PayloadConverter, into: SessionHistory) -> None:
    seen = {m.id for m in into.messages}
    scheduled: dict[int, tuple[str, list]] = {}
    started_attempt: dict[int, int] = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            into.children.append(
                event.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
            )
        elif event.HasField('workflow_execution_signaled_event_attributes'):
            signal = event.workflow_execution_signaled_event_attributes
            if signal.signal_name == SIGNAL_SEND:
                message = converter.from_payloads(signal.input.payloads, [UserMessage])[0]
                if message.id not in seen:
                    seen.add(message.id)
                    into.messages.append(message)
        elif event.HasField('activity_task_scheduled_event_attributes'):
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = (attrs.activity_type.name, list(attrs.input.payloads))
        elif event.HasField('activity_task_started_event_attributes'):
            attrs = event.activity_task_started_event_attributes
            started_attempt[attrs.scheduled_event_id] = attrs.attempt
        elif event.HasField('activity_task_completed_event_attributes'):
            attrs = event.activity_task_completed_event_attributes
            name, inputs = scheduled[attrs.scheduled_event_id]
            into.retried_activities += started_attempt.get(attrs.scheduled_event_id, 1) > 1
            if MODEL_ACTIVITY.fullmatch(name):
                response = converter.from_payloads(attrs.result.payloads, [ModelResponse])[0]
                if not any(isinstance(p, ToolCallPart) for p in response.parts):
                    prompt = _last_prompt(converter.from_payloads(inputs)[0])
                    reply = ''.join(p.content for p in response.parts if isinstance(p, TextPart))
                    into.answers.append(Answer(prompt, reply))
            elif name == STORE_MEMORY:
                into.stores.append(converter.from_payloads(attrs.result.payloads, [StoreResult])[0])


async def _inlined(client: Client, events: list[HistoryEvent]) -> list[HistoryEvent]:
    """The events with every payload this reader decodes taken out of the payload store, where the
    history keeps a reference to it (the client must have the product's store)."""
    storage = client.data_converter.external_storage
    for event in events:
        for payloads in (
            event.workflow_execution_signaled_event_attributes.input,
            event.activity_task_scheduled_event_attributes.input,
            event.activity_task_completed_event_attributes.result,
        ):
            if payloads.payloads:
                resolved = await inline(storage, payloads.payloads)
                del payloads.payloads[:]
                payloads.payloads.extend(resolved)
    return events


async def read_session(client: Client, session_id: str) -> SessionHistory:
    wid = workflow_id(session_id)
    runs = [e async for e in client.list_workflows(f"WorkflowId = '{wid}'")]
    runs.sort(key=lambda e: e.start_time)
    history = SessionHistory(session_id, runs=len(runs))
    converter = client.data_converter.payload_converter
    for run in runs:
        events = [e async for e in client.get_workflow_handle(wid, run_id=run.run_id).fetch_history_events()]
        _read_run(await _inlined(client, events), converter, history)
    for child_id in history.children:
        child = client.get_workflow_handle(child_id)
        described = await child.describe()
        status = described.status.name if described.status is not None else 'UNKNOWN'
        read = SessionHistory(child_id)
        _read_run(await _inlined(client, [e async for e in child.fetch_history_events()]), converter, read)
        history.delegations.append(Delegation(child_id, status, read.answers))
        history.retried_activities += read.retried_activities
    try:
        snapshot = await client.get_workflow_handle(wid).query(QUERY_SNAPSHOT, result_type=Snapshot)
        history.turn_of = {t.message_id: t.number for t in snapshot.turns}
    except (WorkflowQueryFailedError, RPCError):
        pass  # a closed session: turns are matched by position, as they were numbered
    return history
