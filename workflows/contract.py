"""The session contract: everything a client of a ChatSession may know of it, and nothing more.

The API starts, signals, queries and updates sessions by the names below and reads their Redis
stream with the codec below; it never imports the workflow, the agent or their dependencies. Every
name and field here is persisted (in workflow histories, in visibility, in Redis): renaming one
breaks running sessions. This module imports no pydantic-ai, so the API process does not load it.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

WORKFLOW_NAME = 'ChatSession'
CHECK_IN_DUE = 'CheckInDue'
"""The workflow a check-in's schedule starts at each of its times (it signals the session)."""
SIGNAL_SEND = 'send'
QUERY_SNAPSHOT = 'snapshot'
UPDATE_INTERRUPT = 'interrupt'
UPDATE_ANSWER_APPROVAL = 'answer_approval'
UPDATE_SET_MODEL = 'set_model'
UPDATE_RENAME = 'rename'
UPDATE_DELETE = 'delete'
UPDATE_CANCEL_REMINDER = 'cancel_reminder'
UPDATE_SET_DOUBLE_TEXTING = 'set_double_texting'
SIGNAL_CHECK_IN = 'check_in'
UPDATE_CANCEL_CHECK_IN = 'cancel_check_in'
UPDATE_CLIENT_TOOL_RESULT = 'client_tool_result'
QUERY_CLIENT_TOOL_CALLS = 'client_tool_calls'

SessionStatus = Literal['idle', 'thinking', 'awaiting_approval', 'closed']
TurnStatus = Literal['queued', 'running', 'done', 'failed', 'interrupted', 'dropped']
FINISHED_TURN_STATUSES = frozenset({'done', 'failed', 'interrupted', 'dropped'})
ApprovalStatus = Literal['pending', 'approved', 'denied', 'cancelled']
TurnKind = Literal['message', 'reminder', 'check_in']
ReminderStatus = Literal['pending', 'fired', 'cancelled']
ClientToolCallStatus = Literal['pending', 'answered', 'cancelled']
CheckInStatus = Literal['active', 'cancelled']
UndoStatus = Literal['undone', 'failed']
DoubleTexting = Literal['enqueue', 'interrupt', 'reject']
DOUBLE_TEXTING_POLICIES: tuple[DoubleTexting, ...] = ('enqueue', 'interrupt', 'reject')
DELETED = 'deleted'
"""`ChatStatus` of a deleted session (never a snapshot's status): user lists leave it out."""


# --- ids ---------------------------------------------------------------------------------------

_WORKFLOW_ID_PREFIX = 'chat-'


def new_session_id() -> str:
    # 122 random bits: session ids are not guessable.
    return uuid.uuid4().hex


def is_session_id(value: str) -> bool:
    return len(value) == 32 and all(c in '0123456789abcdef' for c in value)


def workflow_id(session_id: str) -> str:
    return f'{_WORKFLOW_ID_PREFIX}{session_id}'


def session_id_of(workflow_id: str) -> str:
    return workflow_id.removeprefix(_WORKFLOW_ID_PREFIX)


# --- what crosses the workflow boundary --------------------------------------------------------


@dataclass
class ClientTool:
    """A tool the client runs itself (an AG-UI frontend tool): the model may call it in the turn of
    the message that brought it, and the call waits, durably, for the client's result."""

    name: str
    description: str = ''
    parameters: dict[str, object] = field(default_factory=dict[str, object])
    """Its arguments' JSON Schema."""


@dataclass
class UserMessage:
    id: str
    """Chosen by the client; a second delivery of the same id is ignored."""
    text: str
    replaces: int = 0
    """Redo this turn (edit: other text, regenerate: the same): honoured when it is the session's
    last turn and finished, else the message is an ordinary one."""
    tools: list[ClientTool] = field(default_factory=list[ClientTool])
    """Tools the client runs itself, offered to the model in this message's turn."""


@dataclass
class ClientToolCall:
    """A call of a client's tool: the turn waits until the client posts its result."""

    id: str
    """The model's tool call id."""
    turn: int
    tool_name: str
    args: dict[str, object]
    status: ClientToolCallStatus = 'pending'
    result: str = ''
    error: str = ''


@dataclass
class ClientToolResult:
    """The `client_tool_result` update: what the client's tool returned (or why it failed)."""

    tool_call_id: str
    content: str
    error: str = ''


@dataclass
class ToolCall:
    """A tool the agent called in a turn, as the page's tool card shows it."""

    id: str
    name: str
    args: dict[str, object] = field(default_factory=dict[str, object])
    result: str = ''
    """What the tool returned, as the model saw it (cut to `TOOL_RESULT_CHARS`)."""
    server: str = ''
    """The MCP server the tool belongs to ('' for the agent's own tools)."""


TOOL_RESULT_CHARS = 2_000


@dataclass
class Undo:
    """A tool call of a turn that did not finish, undone by the tool's compensation (or not)."""

    tool_call_id: str
    tool_name: str
    status: UndoStatus
    text: str
    """What was undone, in the compensation's words, or why it could not be."""


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
    tool_calls: list[ToolCall] = field(default_factory=list[ToolCall])
    model: str = ''
    """The model that answered ('' in sessions from before models could be chosen)."""
    replaces: int = 0
    """The turn this one redoes (an edit or a regenerate; 0: an ordinary turn). That turn stays in
    the transcript as it was; the model answering this one does not see its exchange."""
    kind: TurnKind = 'message'
    """'reminder': the session spoke first, when a reminder came due (no user message: `user_text`
    is '' and `message_id` is `reminder:<reminder id>`). 'check_in': the same, when a check-in's
    schedule came due (`message_id` is `check_in:<check-in id>:<scheduled time>`)."""
    undone: list[Undo] = field(default_factory=list[Undo])
    """Tool calls undone because the turn did not finish (interrupted, failed, closed), latest first."""
    client_tools: list[ClientTool] = field(default_factory=list[ClientTool])
    """The client's own tools its message brought, held until the turn has run."""

    @property
    def size(self) -> int:
        return len(self.user_text) + len(self.reply)


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
class Reminder:
    """Something the agent was asked to bring up later: when `due` comes, the session posts it."""

    id: str
    due: str
    """ISO 8601, UTC."""
    text: str
    set_in_turn: int
    status: ReminderStatus = 'pending'
    fired_turn: int = 0
    """The reminder turn that delivered it (once fired)."""
    cancelled_by: str = ''


@dataclass
class CancelReminder:
    reminder_id: str
    by: str = ''


@dataclass
class CheckIn:
    """A recurring check-in the agent was asked for: a Temporal Schedule signals the session at each
    of its times, and the session then asks the user about `text`."""

    id: str
    text: str
    schedule: str
    """When, in words ("every Monday at 09:00 (Europe/Lisbon)", "every 2 seconds")."""
    set_in_turn: int
    cron: str = ''
    """5 fields, in the session's time zone; '' for an interval."""
    every_seconds: int = 0
    schedule_id: str = ''
    """The Temporal Schedule's id (it names the session and the check-in)."""
    status: CheckInStatus = 'active'
    fired: int = 0
    """Check-in turns it has posted."""
    last_fired_turn: int = 0
    cancelled_by: str = ''
    """Who cancelled it; 'session closed' when the session's close deleted its schedule."""


@dataclass
class CancelCheckIn:
    check_in_id: str
    by: str = ''


@dataclass
class CheckInCame:
    """The `check_in` signal: one scheduled time of a check-in came (sent by its schedule's run)."""

    check_in_id: str
    due: str
    """The scheduled time, ISO 8601 UTC: with the id, it names the check-in turn (a redelivery is ignored)."""


@dataclass
class SetDoubleTexting:
    policy: DoubleTexting
    by: str = ''


@dataclass
class ApprovalAnswer:
    approval_id: str
    approve: bool
    reason: str = ''
    by: str = ''


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
    agent: str = ''
    model: str = ''
    reminders: list[Reminder] = field(default_factory=list[Reminder])
    """Pending ones by due time, then the ones fired or cancelled lately."""
    timezone: str = ''
    double_texting: DoubleTexting = 'enqueue'
    check_ins: list[CheckIn] = field(default_factory=list[CheckIn])
    """Active ones in the order they were set, then the ones cancelled lately."""

    @property
    def finished_turns(self) -> set[int]:
        return {t.number for t in self.turns if t.status in FINISHED_TURN_STATUSES}


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
    """... or once this run's history has grown this much since it started: a worker's memory for a
    cached session grows with its run's history until the run ends (bench.history_size), so this
    bounds what one chatting session holds. With the payload store on (the default) a model call's
    input, the whole model history, is a reference in the history and a turn adds a few KB, so a run
    lasts tens of turns; with it off each turn adds its whole model history and a run a few turns."""
    turn_seconds: float = 180.0
    """The agent's working time on one message (not waiting for an approval); past it the turn stops
    with what it wrote."""
    max_seen_ids: int = 1_000
    """Message ids remembered beyond the turns kept: a client only resends what it has not seen answered."""


@dataclass
class SessionOptions:
    """What is fixed when a session starts. The workflow's state extends it with the conversation."""

    session_id: str
    user_id: str
    memory_task_queue: str = 'memory'
    recall_k: int = 5
    limits: SessionLimits = field(default_factory=SessionLimits)
    agent: str = 'chat'
    """The registered agent that answers (persisted: sessions from before agents could be chosen are `chat`'s)."""
    model: str = ''
    """One of the agent's models; '' is the agent's default."""
    timezone: str = ''
    """The user's IANA time zone (from the page): reminders' local times mean this zone ('' is UTC)."""
    double_texting: DoubleTexting = 'enqueue'
    """A message while a turn runs: queued behind it, interrupting it, or refused."""


@dataclass
class SetModel:
    model: str
    by: str = ''


@dataclass
class Rename:
    title: str
    by: str = ''


@dataclass
class DeleteRequest:
    by: str = ''


TITLE_MAX_CHARS = 100


def title_problem(title: str) -> str | None:
    """Why a chosen title is refused, or None: 1..100 characters once trimmed, no control characters."""
    trimmed = title.strip()
    if not trimmed:
        return 'the title is empty'
    if len(trimmed) > TITLE_MAX_CHARS:
        return f'the title is {len(trimmed)} characters; at most {TITLE_MAX_CHARS} are allowed'
    if any(unicodedata.category(c) == 'Cc' for c in trimmed):
        return 'the title holds control characters (line breaks, tabs, ...)'
    return None


@dataclass
class AgentCard:
    """An agent a user may pick, as `GET /agents` lists it: the worker publishes the catalogue."""

    name: str
    description: str
    models: list[str]
    default_model: str
    mcp_servers: list[str] = field(default_factory=list[str])


def agents_key(task_queue: str) -> str:
    """Redis key of the agent catalogue (JSON) the chat workers of `task_queue` publish at start and
    the API reads: per task queue, so deployments sharing a Redis never read each other's."""
    return f'durable-chat:agents:{task_queue}'


@dataclass
class NewSession:
    """The workflow's start input as a client writes it. The workflow reads the same JSON as its
    `SessionStart`, whose `state` is a `SessionOptions` with the conversation added (empty here)."""

    state: SessionOptions


# --- visibility --------------------------------------------------------------------------------

SA_USER = SearchAttributeKey.for_keyword('ChatUser')
SA_STATUS = SearchAttributeKey.for_keyword('ChatStatus')
SA_TITLE = SearchAttributeKey.for_text('ChatTitle')
SA_LAST_ACTIVITY = SearchAttributeKey.for_datetime('ChatLastActivity')
SA_AGENT = SearchAttributeKey.for_keyword('ChatAgent')
SA_MODEL = SearchAttributeKey.for_keyword('ChatModel')

SEARCH_ATTRIBUTES = {
    # name -> Temporal indexed value type; registered by `durable-chat up` and at worker start.
    key.name: key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_').title()
    for key in (SA_USER, SA_STATUS, SA_TITLE, SA_LAST_ACTIVITY, SA_AGENT, SA_MODEL)
}


def search_attributes(
    user_id: str, status: SessionStatus, title: str = '', agent: str = '', model: str = ''
) -> TypedSearchAttributes:
    """The attributes a session starts with; the workflow keeps them current."""
    pairs = [
        SearchAttributePair(SA_USER, user_id),
        SearchAttributePair(SA_STATUS, status),
        SearchAttributePair(SA_TITLE, title),
    ]
    if agent:
        pairs += [SearchAttributePair(SA_AGENT, agent), SearchAttributePair(SA_MODEL, model)]
    return TypedSearchAttributes(pairs)


# --- the session's stream ----------------------------------------------------------------------
# One Redis Stream per session holds the live tail of its turns. Each entry is one event: the AG-UI
# events of the agent (TEXT_MESSAGE_CONTENT, TOOL_CALL_START, ...) and the workflow's own below
# (the README lists the frames a client receives).

ATTEMPT_STARTED = 'ATTEMPT_STARTED'
"""A retried model or tool activity streams its step again: drop what you hold of that step."""
RUN_FINISHED = 'RUN_FINISHED'
RUN_ERROR = 'RUN_ERROR'
TURN_INTERRUPTED = 'TURN_INTERRUPTED'
SESSION_CLOSED = 'SESSION_CLOSED'
APPROVAL_REQUESTED = 'APPROVAL_REQUESTED'
APPROVAL_ANSWERED = 'APPROVAL_ANSWERED'
MODEL_ERROR = 'MODEL_ERROR'
"""A model request of the turn failed: `reason` in words, and whether it is `retrying`."""
TEXT_MESSAGE_CONTENT = 'TEXT_MESSAGE_CONTENT'
TOOL_UNDONE = 'TOOL_UNDONE'
CLIENT_TOOL_REQUESTED = 'CLIENT_TOOL_REQUESTED'
"""The turn waits for the client to run its own tool: a `ClientToolCall`'s fields, and `batch`, the
ids of every client call the turn waits for at once."""
"""A tool call of a turn that did not finish was undone (or could not be): an `Undo`'s fields."""

Frame = dict[str, Any]
"""A stream event as clients get it: its data, plus type, event_id, turn, step, attempt and seq."""

StreamEntry = tuple[bytes, dict[bytes, bytes]]
"""A stream entry as XRANGE returns it to this project's clients (decode_responses off): its id
and fields. redis-py types replies for either setting and as optional (`bytes | str | None`)."""


def stream_key(session_id: str) -> str:
    # The braces are a Redis Cluster hash tag: the stream and the sets its scripts check beside it
    # (workflows/events.py) share the session's slot. Adding them renamed the key; the stream is only
    # the live tail, so a turn streaming across that upgrade reaches clients through the snapshot.
    return f'session:{{{session_id}}}:events'


def encode_event(
    turn: int, step: int, attempt: int, type: str, data: Mapping[str, object], seq: int = 0
) -> dict[str, str | int]:
    """A stream entry's fields. (turn, step, attempt, type, seq) identify an agent event."""
    return {
        'turn': turn,
        'step': step,
        'attempt': attempt,
        'seq': seq,
        'type': type,
        'data': json.dumps(data),
    }


def decode_event(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> Frame:
    event_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    frame: Frame = json.loads(fields[b'data'])
    frame.update(
        type=fields[b'type'].decode(),
        event_id=event_id,
        turn=int(fields[b'turn']),
        step=int(fields[b'step']),
        attempt=int(fields[b'attempt']),
        seq=int(fields.get(b'seq', 0)),
    )
    return frame
