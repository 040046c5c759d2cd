"""A session as Temporal's own history records it, read with the client, not through the product's API.

Every run of the session's workflow (continue-as-new starts another) is read in start order:
- the `send` signals are the messages the workflow received (a redelivered id counts once, as in the
  workflow);
- each completed chat model activity carries the model's input (whose last user prompt names the
  message it answers) and its response: a response without tool calls is that message's answer;
- each completed `store_memory` activity is a memory write, with the action the store took.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.converter import PayloadConverter

from durable_chat.memory.types import STORE_MEMORY, StoreResult
from durable_chat.workflows.contract import SIGNAL_SEND, UserMessage, workflow_id

MODEL_ACTIVITY = 'agent__chat__model_request_stream'


@dataclass
class Answer:
    prompt: str
    reply: str


@dataclass
class SessionHistory:
    session_id: str
    messages: list[UserMessage] = field(default_factory=list[UserMessage])
    answers: list[Answer] = field(default_factory=list[Answer])
    stores: list[StoreResult] = field(default_factory=list[StoreResult])
    runs: int = 0
    retried_activities: int = 0
    """Activity completions that took more than one attempt (a worker died, Redis was away, ...)."""

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
        if event.HasField('workflow_execution_signaled_event_attributes'):
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
            if name == MODEL_ACTIVITY:
                response = converter.from_payloads(attrs.result.payloads, [ModelResponse])[0]
                if not any(isinstance(p, ToolCallPart) for p in response.parts):
                    prompt = _last_prompt(converter.from_payloads(inputs)[0])
                    reply = ''.join(p.content for p in response.parts if isinstance(p, TextPart))
                    into.answers.append(Answer(prompt, reply))
            elif name == STORE_MEMORY:
                into.stores.append(converter.from_payloads(attrs.result.payloads, [StoreResult])[0])


async def read_session(client: Client, session_id: str) -> SessionHistory:
    wid = workflow_id(session_id)
    runs = [e async for e in client.list_workflows(f"WorkflowId = '{wid}'")]
    runs.sort(key=lambda e: e.start_time)
    history = SessionHistory(session_id, runs=len(runs))
    converter = client.data_converter.payload_converter
    for run in runs:
        events = [e async for e in client.get_workflow_handle(wid, run_id=run.run_id).fetch_history_events()]
        _read_run(events, converter, history)
    return history
