"""A session's stream as AG-UI events: one AG-UI run of a turn, for any AG-UI client.

An AG-UI run is one part of a turn: from the user's message (or an approval's answer, or a client
tool's result) to the turn's end or its next pause: an approval ends the run with RUN_FINISHED and
an interrupt outcome, a call of the client's own tool with RUN_FINISHED naming the call pending.
The stream's AG-UI events (workflows/events.py) pass through, checked by ag_ui's own types; the
workflow's frames become RUN_FINISHED, RUN_ERROR, or CUSTOM events named `durable_chat.<frame
type in lower case>` whose value is the frame.

An AG-UI client shows the messages it sent plus what the run's events build. `MessagesView` builds
the same from the frames, so that when what the client holds must change, one MESSAGES_SNAPSHOT
(its messages, then the view) puts it right: a retried model attempt (ATTEMPT_STARTED) replaces the
failed attempt's messages, and a client asking again for a run it lost the connection to, holding
part of it already, gets the view so far, then the rest live.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ag_ui.core import (
    PROTOCOL_VERSION,
    AssistantMessage,
    BaseEvent,
    CustomEvent,
    Event,
    EventType,
    FunctionCall,
    Interrupt,
    Message,
    MessagesSnapshotEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCall,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
    ToolMessage,
)
from pydantic import BaseModel, StrictBool, TypeAdapter

from durable_chat.workflows.contract import (
    ATTEMPT_STARTED,
    RUN_ERROR,
    RUN_FINISHED,
    SESSION_CLOSED,
    TURN_INTERRUPTED,
    Approval,
    Frame,
    Turn,
)

PARENT_TOOL_CALL_ID = 'parentToolCallId'
"""A delegated sub-agent's frames name the parent's tool call (workflows/events.py): here, the
sub-agent run the AG-UI events are attributed to."""
TAGS = frozenset({'type', 'event_id', 'turn', 'step', 'attempt', 'seq', PARENT_TOOL_CALL_ID})
"""A frame's fields that are the stream's, not the AG-UI event's."""
CUSTOM_PREFIX = 'durable_chat.'
PASSED = frozenset(t.value for t in EventType) - {'RUN_STARTED', 'RUN_FINISHED', 'RUN_ERROR'}
"""Frame types that are AG-UI events as they are (the run's own are the workflow's, in its shape)."""
APPROVAL_REASON = 'tool_call'
APPROVAL_SCHEMA: dict[str, object] = {
    'type': 'object',
    'properties': {'approved': {'type': 'boolean'}, 'reason': {'type': 'string'}},
    'required': ['approved'],
}
"""What a resume entry answering an approval carries (pydantic-ai's AG-UI adapter asks the same)."""

_events: TypeAdapter[BaseEvent] = TypeAdapter(Event)


class ApprovalPayload(BaseModel):
    """A resume entry's payload for an approval interrupt (`APPROVAL_SCHEMA`)."""

    approved: StrictBool
    reason: str = ''


def agui_event(frame: Frame) -> BaseEvent:
    """A stream frame of an AG-UI type as that AG-UI event (raises ValidationError if it is not one)."""
    data = {k: v for k, v in frame.items() if k not in TAGS}
    if parent := frame.get(PARENT_TOOL_CALL_ID):
        data['subagentRunId'] = parent
    return _events.validate_python({'type': frame['type'], **data})


def custom(frame: Mapping[str, Any], **extra: object) -> CustomEvent:
    """A workflow frame as a CUSTOM event a page may read: the frame's fields are its value."""
    value = {k: v for k, v in frame.items() if k not in ('type', 'event_id')}
    return CustomEvent(name=f'{CUSTOM_PREFIX}{str(frame["type"]).lower()}', value={**value, **extra})


def user_text(message: Message) -> str:
    content = getattr(message, 'content', '')
    if isinstance(content, str):
        return content
    return ''.join(getattr(part, 'text', '') for part in content or [])


@dataclass
class MessagesView:
    """The messages a run's events build in an AG-UI client (its reducer's rules, for the events this
    stream holds), each remembered with the model step and attempt that made it."""

    messages: list[Message] = field(default_factory=list[Message])
    origin: dict[str, tuple[int, int]] = field(default_factory=dict[str, tuple[int, int]])
    """Message and tool call ids -> (step, attempt) of the frame that made them."""
    made: set[str] = field(default_factory=set[str])
    """Every id the frames made, dropped ones too: a client holding one holds this run's."""

    def _made(self, made_id: str, step: int, attempt: int) -> None:
        self.origin[made_id] = (step, attempt)
        self.made.add(made_id)

    def ids(self) -> set[str]:
        return {m.id for m in self.messages}

    def _message(self, message_id: str | None) -> Message | None:
        return next((m for m in self.messages if m.id == message_id), None)

    def _call(self, tool_call_id: str) -> ToolCall | None:
        for message in self.messages:
            for call in getattr(message, 'tool_calls', None) or []:
                if call.id == tool_call_id:
                    return call
        return None

    def apply(self, event: BaseEvent, step: int, attempt: int) -> None:
        if isinstance(event, TextMessageStartEvent) and self._message(event.message_id) is None:
            self.messages.append(AssistantMessage(id=event.message_id, content=''))
            self._made(event.message_id, step, attempt)
        elif isinstance(event, TextMessageContentEvent):
            if isinstance(message := self._message(event.message_id), AssistantMessage):
                message.content = (message.content or '') + event.delta
        elif isinstance(event, ToolCallStartEvent) and self._call(event.tool_call_id) is None:
            parent = self._message(event.parent_message_id)
            if not isinstance(parent, AssistantMessage):
                taken = parent is not None or event.parent_message_id is None
                parent = AssistantMessage(id=event.tool_call_id if taken else str(event.parent_message_id))
                self.messages.append(parent)
                self._made(parent.id, step, attempt)
            call = ToolCall(
                id=event.tool_call_id, function=FunctionCall(name=event.tool_call_name, arguments='')
            )
            parent.tool_calls = [*(parent.tool_calls or []), call]
            self._made(event.tool_call_id, step, attempt)
        elif isinstance(event, ToolCallArgsEvent) and (call := self._call(event.tool_call_id)) is not None:
            call.function.arguments += event.delta
        elif isinstance(event, ToolCallResultEvent) and self._message(event.message_id) is None:
            result = ToolMessage(id=event.message_id, content=event.content, tool_call_id=event.tool_call_id)
            self.messages.insert(self._result_place(event.tool_call_id), result)
            self._made(event.message_id, step, attempt)

    def _result_place(self, tool_call_id: str) -> int:
        """After the message holding the call and the results that follow it (a call the client held
        before this run: at the view's start, after the results there)."""
        holder = next(
            (
                i
                for i, m in enumerate(self.messages)
                if any(c.id == tool_call_id for c in getattr(m, 'tool_calls', None) or [])
            ),
            -1,
        )
        place = holder + 1
        while place < len(self.messages) and isinstance(self.messages[place], ToolMessage):
            place += 1
        return place

    def drop(self, step: int, attempt: int) -> list[str]:
        """Forgets what earlier attempts of `step` made (a retry makes it again); returns the ids."""
        stale = {i for i, (s, a) in self.origin.items() if s == step and a < attempt}
        self.messages = [m for m in self.messages if m.id not in stale]
        for message in self.messages:
            if isinstance(message, AssistantMessage) and message.tool_calls:
                message.tool_calls = [c for c in message.tool_calls if c.id not in stale] or None
        for gone in stale:
            del self.origin[gone]
        return sorted(stale)


@dataclass
class AguiRun:
    """One AG-UI run's events, from the frames of its part of a turn."""

    thread_id: str
    run_id: str
    held: Sequence[Message]
    """The messages the client sent: what it shows before this run's events."""
    quiet: bool = False
    """Catching up: frames build the view, and `resume()` sends it as one snapshot."""
    skip_results: dict[str, str] = field(default_factory=dict[str, str])
    """Tool call id -> the id of the result message the client holds for it: a result of that call
    with another id is one the client made itself (its own tool's), and is not sent back to it."""
    view: MessagesView = field(default_factory=MessagesView)
    ended: bool = False
    _open_texts: dict[str, int] = field(default_factory=dict[str, int])
    """Text messages this run's events opened and did not close -> their step."""
    _open_calls: dict[str, int] = field(default_factory=dict[str, int])
    _unclosed_texts: set[str] = field(default_factory=set[str])
    """Text messages the frames opened and did not close (sent or not)."""
    _unclosed_calls: set[str] = field(default_factory=set[str])

    def started(self) -> RunStartedEvent:
        return RunStartedEvent(
            thread_id=self.thread_id, run_id=self.run_id, protocol_version=PROTOCOL_VERSION
        )

    def snapshot(self) -> MessagesSnapshotEvent:
        history = [m for m in self.held if m.id not in self.view.made]
        return MessagesSnapshotEvent(messages=[*history, *self.view.messages])

    def resume(self) -> list[BaseEvent]:
        """Ends catching up: the view as a snapshot, then its open messages and calls opened again
        (an AG-UI client keeps a message it holds on a repeated start), so the live events go on."""
        if not self.quiet:
            return []
        self.quiet = False
        events: list[BaseEvent] = [self.snapshot()]
        for message in self.view.messages:
            (step, _attempt) = self.view.origin.get(message.id, (0, 0))
            if message.id in self._unclosed_texts:
                events.append(TextMessageStartEvent(message_id=message.id, role='assistant'))
                self._open_texts[message.id] = step
            for call in getattr(message, 'tool_calls', None) or []:
                if call.id in self._unclosed_calls:
                    events.append(
                        ToolCallStartEvent(
                            tool_call_id=call.id,
                            tool_call_name=call.function.name,
                            parent_message_id=message.id,
                        )
                    )
                    self._open_calls[call.id] = self.view.origin.get(call.id, (0, 0))[0]
        return events

    def frame(self, frame: Frame) -> list[BaseEvent]:
        """The events for one frame of the run's turn (none for a frame the client must not see)."""
        kind, step, attempt = str(frame['type']), int(frame['step']), int(frame['attempt'])
        if kind in PASSED:
            held = self.skip_results.get(str(frame.get('toolCallId', '')))
            if kind == EventType.TOOL_CALL_RESULT.value and held not in (None, frame.get('messageId')):
                return []
            event = agui_event(frame)
            self.view.apply(event, step, attempt)
            self._track(event, step)
            return [] if self.quiet else [event]
        if kind == ATTEMPT_STARTED:
            closing = self._close(step)
            dropped = self.view.drop(step, attempt)
            self._unclosed_texts.difference_update(dropped)
            self._unclosed_calls.difference_update(dropped)
            note = custom(frame, dropped=dropped)
            return [note] if self.quiet else [*closing, note, self.snapshot()]
        if kind == RUN_FINISHED:
            extra: list[BaseEvent] = [custom(frame)] if frame.get('note') else []
            return self._end(
                *extra,
                RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, result=frame.get('result')),
            )
        if kind == RUN_ERROR:
            return self._end(RunErrorEvent(message=str(frame.get('message', 'the turn failed'))))
        if kind in (TURN_INTERRUPTED, SESSION_CLOSED):
            return self._end(custom(frame), self._finished(RunFinishedCancelledOutcome()))
        return [custom(frame)]

    def _track(self, event: BaseEvent, step: int) -> None:
        """Which messages and calls are open: in this run's events, and (catching up) in the view."""
        if isinstance(event, TextMessageStartEvent):
            self._unclosed_texts.add(event.message_id)
            if not self.quiet:
                self._open_texts[event.message_id] = step
        elif isinstance(event, TextMessageEndEvent):
            self._unclosed_texts.discard(event.message_id)
            self._open_texts.pop(event.message_id, None)
        elif isinstance(event, ToolCallStartEvent):
            self._unclosed_calls.add(event.tool_call_id)
            if not self.quiet:
                self._open_calls[event.tool_call_id] = step
        elif isinstance(event, ToolCallEndEvent):
            self._unclosed_calls.discard(event.tool_call_id)
            self._open_calls.pop(event.tool_call_id, None)

    def _close(self, step: int | None = None) -> list[BaseEvent]:
        """Ends the messages and calls this run opened (of one step): a run may not finish with one
        open, and a dropped attempt's never end otherwise."""
        events: list[BaseEvent] = []
        for message_id in [m for m, s in self._open_texts.items() if step is None or s == step]:
            events.append(TextMessageEndEvent(message_id=message_id))
            del self._open_texts[message_id]
        for call_id in [c for c, s in self._open_calls.items() if step is None or s == step]:
            events.append(ToolCallEndEvent(tool_call_id=call_id))
            del self._open_calls[call_id]
        return events

    def _finished(self, outcome: Any) -> RunFinishedEvent:
        return RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, outcome=outcome)

    def _end(self, *last: BaseEvent) -> list[BaseEvent]:
        self.ended = True
        return [*self.resume(), *self._close(), *last]

    def interrupted(self, approvals: Sequence[Approval]) -> list[BaseEvent]:
        """Ends the run on approvals the turn waits for: the client answers them in `resume`."""
        interrupts = [
            Interrupt(
                id=a.id,
                reason=APPROVAL_REASON,
                tool_call_id=a.id,
                message=f'Approve {a.tool_name}({a.args})?',
                response_schema=dict(APPROVAL_SCHEMA),
            )
            for a in approvals
        ]
        return self._end(self._finished(RunFinishedInterruptOutcome(interrupts=interrupts)))

    def awaiting_client(self, tool_call_ids: list[str]) -> list[BaseEvent]:
        """Ends the run on calls of the client's own tools: it posts their results next."""
        return self._end(self._finished(RunFinishedSuccessOutcome(pending_tool_call_ids=tool_call_ids)))

    def finished_as(self, turn: Turn) -> list[BaseEvent]:
        """Ends the run from the turn's record, when the stream no longer holds its end (trimmed, or
        Redis lost it): the reply as the view's last message, then the turn's outcome."""
        shown = ''.join(
            getattr(m, 'content', None) or '' for m in self.view.messages if isinstance(m, AssistantMessage)
        )
        if turn.reply and shown != turn.reply:
            reply_id = f'turn-{turn.number}-reply'
            self.view.messages = [m for m in self.view.messages if m.id != reply_id]
            self.view.messages.append(AssistantMessage(id=reply_id, content=turn.reply))
            self.quiet = True  # the snapshot carries it
        if turn.status == 'done':
            return self._end(
                RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, result=turn.reply)
            )
        if turn.status == 'failed':
            return self._end(RunErrorEvent(message=turn.reply))
        return self._end(self._finished(RunFinishedCancelledOutcome()))
