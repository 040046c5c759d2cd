"""The workflow's own types: its state across runs, its input, the agent's deps. What clients see
of a session (signals, queries, snapshots) is in `contract`.

They live outside the workflow module and are imported through the sandbox as pass-through: a class
redefined per workflow run would miss pydantic's type-adapter cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic_ai.durable_exec.temporal._activity_execution import (
    _await_with_single_cancel,  # pyright: ignore[reportPrivateUsage]
)
from pydantic_ai.messages import HandleResponseEvent, ModelMessage
from temporalio.exceptions import ActivityError, ApplicationError

from durable_chat.workflows.contract import Approval, CheckIn, Reminder, SessionOptions, Turn

LOCAL_ACTIVITY_FAILED = (ActivityError, ApplicationError)
"""A local activity's last failed attempt raises its ApplicationError itself, not an ActivityError
(temporalio 1.35): caught as ActivityError alone, a Redis outage failed the whole session."""
await_keeping_cancel = _await_with_single_cancel
"""Awaits a started activity so that a cancel of the awaiting task is raised even when the activity
has resolved meanwhile (a plain await can answer the cancel with the result): pydantic-ai's own
guard, private there, so imported in this one place."""
LOCAL_TOOL_EVENTS_PATCH = 'tool-events-local'
"""Tool events that publish a frame go to the stream in local activities, and the rest nowhere
(`ChatDurability`), not each in an activity of its own. Decided at a run's start (`TurnDeps.local_events`)."""


@dataclass
class SessionState(SessionOptions):
    """Everything a session carries from one workflow run to the next (continue-as-new)."""

    title: str = ''
    turns: list[Turn] = field(default_factory=list[Turn])
    messages: list[ModelMessage] = field(default_factory=list[ModelMessage])
    seen_message_ids: list[str] = field(default_factory=list[str])
    approvals: list[Approval] = field(default_factory=list[Approval])
    archived_turns: int = 0
    """Turns moved to the transcript archive (numbers 1..archived_turns)."""
    archive_pages: int = 0
    compactions: int = 0
    reminders: list[Reminder] = field(default_factory=list[Reminder])
    check_ins: list[CheckIn] = field(default_factory=list[CheckIn])
    last_input_tokens: int = 0
    """The model's count of the last request's input tokens: compaction watches it against the
    model's context window."""
    deleted: bool = False
    """The user deleted the session: its `ChatStatus` is `deleted` from then on (it is closing)."""

    def next_turn_number(self) -> int:
        """The number a new turn takes: after the last one held, or after the archived ones."""
        return self.turns[-1].number + 1 if self.turns else self.archived_turns + 1


@dataclass
class TurnDeps:
    """The agent's deps: they ride into every model and tool activity, so keep them small."""

    session_id: str
    turn: int
    user_id: str = ''
    """Whose memories the tools read and write."""
    memory_task_queue: str = 'memory'
    memories: list[str] = field(default_factory=list[str])
    """What recall found for this turn's message, before the model ran: part of the instructions."""
    step_offset: int = 0
    """Model steps of earlier agent runs in this turn (one resumed after an approval), so stream
    events keep one step number per model request across the whole turn."""
    delegation: str = ''
    """In a delegated sub-agent's run (a child workflow): the parent's `delegate` tool call id. Its
    stream events go to the parent session's stream tagged with it; '' in a session's own run."""
    local_events: bool = False
    """The run began with `LOCAL_TOOL_EVENTS_PATCH`: its tool events go out in local activities."""


@dataclass
class ToolEvent:
    """A workflow-side event of a turn's agent run (a tool's result), for the stream."""

    session_id: str
    turn: int
    step: int
    event: HandleResponseEvent
    delegation: str = ''
    """As `TurnDeps.delegation`: the parent's `delegate` call, in a delegated sub-agent's run."""


@dataclass
class TurnEvent:
    """An event the workflow itself publishes to the session stream (turn end, errors)."""

    session_id: str
    turn: int
    type: str
    data: dict[str, object] = field(default_factory=dict[str, object])


@dataclass
class SessionStart:
    """The workflow's input: a new session (a client's `NewSession`), or the state a previous run
    continued as new with."""

    state: SessionState


@dataclass
class CheckInSchedule:
    """What the Temporal Schedule of one check-in is made of (`workflows/check_in_schedules.py`)."""

    schedule_id: str
    session_id: str
    check_in_id: str
    cron: str = ''
    """5-field cron, in `timezone` (the user's); else an interval of `every_seconds`."""
    every_seconds: int = 0
    timezone: str = ''
    note: str = ''
    """Shown with the schedule in Temporal's UI."""


@dataclass
class CheckInTarget:
    """The input of each `CheckInDue` run a check-in's schedule starts: whom it signals."""

    session_id: str
    check_in_id: str
    schedule_id: str
