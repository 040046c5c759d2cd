"""Types that cross the workflow boundary: workflow inputs, signals, query results and agent deps.

They live outside the workflow module and are imported through the sandbox as pass-through: a class
redefined per workflow run would miss pydantic's type-adapter cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic_ai.messages import ModelMessage

WORKFLOW_NAME = 'ChatSession'
SIGNAL_SEND = 'send'
QUERY_SNAPSHOT = 'snapshot'

UPDATE_INTERRUPT = 'interrupt'
UPDATE_ANSWER_APPROVAL = 'answer_approval'

SessionStatus = Literal['idle', 'thinking', 'awaiting_approval', 'closed']
TurnStatus = Literal['queued', 'running', 'done', 'failed', 'interrupted', 'dropped']
FINISHED_TURN_STATUSES = frozenset({'done', 'failed', 'interrupted', 'dropped'})


def workflow_id(session_id: str) -> str:
    return f'chat-{session_id}'


@dataclass
class UserMessage:
    id: str
    """Chosen by the client; a second delivery of the same id is ignored."""
    text: str


@dataclass
class Turn:
    """One user message and the agent's answer to it, as the page shows it."""

    number: int
    message_id: str
    user_text: str
    status: TurnStatus = 'queued'
    reply: str = ''
    note: str = ''
    """Why the reply ended early, in words (its length or time budget), shown under it."""

    @property
    def size(self) -> int:
        return len(self.user_text) + len(self.reply)


ApprovalStatus = Literal['pending', 'approved', 'denied', 'cancelled']


@dataclass
class Approval:
    """A tool call waiting for (or given) a person's yes or no."""

    id: str
    """The model's tool call id."""
    turn: int
    tool_name: str
    args: dict[str, object]
    status: ApprovalStatus = 'pending'
    reason: str = ''
    answered_by: str = ''


@dataclass
class ApprovalAnswer:
    approval_id: str
    approve: bool
    reason: str = ''
    by: str = ''


@dataclass
class SessionLimits:
    """Per-session budgets, fixed when the session starts (from settings) and carried across runs."""

    history_budget_bytes: int = 48_000
    """Past this, older exchanges are summarised: the model's input stays bounded (~12k tokens)."""
    keep_exchanges: int = 4
    """Exchanges kept verbatim after a compaction."""
    keep_turns: int = 50
    """Turns the workflow keeps for the page; older ones go to the transcript archive in pages."""
    keep_turn_bytes: int = 400_000
    """... and at most this much of their text, so a snapshot and a continue-as-new input stay far
    under Temporal's 2 MB payload limit whatever users type."""
    archive_page_turns: int = 25
    archive_page_bytes: int = 500_000
    max_queued: int = 50
    max_queued_bytes: int = 600_000
    """Messages beyond these while turns wait are kept as dropped (text cut), never answered."""
    max_run_events: int = 10_000
    """Continue as new past this many history events (Temporal's hard limit is 51,200)."""
    max_run_bytes: int = 10_000_000
    """... or past this many history bytes (hard limit 50 MB)."""
    max_run_growth_bytes: int = 256_000
    """... or once this run's history has grown this much since it started. A worker keeps every
    activity input of a cached run in memory until the run ends, and each model call's input is the
    whole model history (up to `history_budget_bytes`): this bounds what one cached session holds."""
    turn_seconds: float = 180.0
    """The agent's working time on one message (not waiting for an approval); past it the turn stops
    with what it wrote."""
    max_seen_ids: int = 1_000
    """Message ids remembered beyond the turns kept: a client only resends what it has not seen answered."""


@dataclass
class SessionState:
    """Everything a session carries from one workflow run to the next (continue-as-new)."""

    session_id: str
    user_id: str
    title: str = ''
    turns: list[Turn] = field(default_factory=list[Turn])
    messages: list[ModelMessage] = field(default_factory=list[ModelMessage])
    seen_message_ids: list[str] = field(default_factory=list[str])
    approvals: list[Approval] = field(default_factory=list[Approval])
    memory_task_queue: str = 'memory'
    recall_k: int = 5
    limits: SessionLimits = field(default_factory=SessionLimits)
    archived_turns: int = 0
    """Turns moved to the transcript archive (numbers 1..archived_turns)."""
    archive_pages: int = 0
    compactions: int = 0


@dataclass
class Snapshot:
    """What the page renders: the whole conversation, including queued and running turns."""

    session_id: str
    user_id: str
    title: str
    status: SessionStatus
    turns: list[Turn]
    approvals: list[Approval] = field(default_factory=list[Approval])
    archived_turns: int = 0
    """Turns before these are in the transcript archive (`GET /sessions/{id}/history`)."""

    @property
    def finished_turns(self) -> set[int]:
        return {t.number for t in self.turns if t.status in FINISHED_TURN_STATUSES}


@dataclass
class InterruptRequest:
    drop_queued: bool = False
    """Also drop the messages queued behind the running turn (they stay visible, unanswered)."""
    by: str = ''


@dataclass
class InterruptResult:
    turn: int
    dropped: list[int] = field(default_factory=list[int])


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


@dataclass
class TurnEvent:
    """An event the workflow itself publishes to the session stream (turn end, errors)."""

    session_id: str
    turn: int
    type: str
    data: dict[str, object] = field(default_factory=dict[str, object])


@dataclass
class SessionStart:
    """The workflow's input: a new session, or the state a previous run continued as new with."""

    state: SessionState


SEARCH_ATTRIBUTES = {
    # name -> Temporal indexed value type; registered by `durable-chat up` and at worker start.
    'ChatUser': 'Keyword',
    'ChatStatus': 'Keyword',
    'ChatTitle': 'Text',
    'ChatLastActivity': 'Datetime',
}
