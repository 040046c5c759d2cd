"""Request and response bodies, the error responses routes document, and the one validation rule
shared by REST and the websocket."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, Field

from durable_chat.api.auth import Role
from durable_chat.memory.types import Memory
from durable_chat.workflows.contract import TITLE_MAX_CHARS, DoubleTexting, SessionStatus, UserMessage

MESSAGE_ID_PATTERN = r'^[A-Za-z0-9_.:-]{1,100}$'
SESSION_ID_PATTERN = r'^[a-f0-9]{32}$'


def _encodable(value: str) -> str:
    # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 payload (Temporal's, Redis') can carry.
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError('text holds a lone surrogate (\\ud800-\\udfff): not valid Unicode') from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]


class MessageIn(BaseModel):
    id: str = Field(pattern=MESSAGE_ID_PATTERN, description='Chosen by the client; resending it is harmless.')
    # Documented, enforced by accept_message (its reason is clearer than a pattern mismatch).
    text: Text = Field(
        json_schema_extra={'pattern': r'\S'}, description='Not blank; at most the server limit.'
    )
    replaces: int | None = Field(
        default=None,
        ge=1,
        description='Redo this turn (edit: other text; regenerate: the same text). It must be the '
        "session's last turn and finished.",
    )


DOUBLE_TEXTING_HELP = (
    'A message sent while a reply is being written: `enqueue` answers it next, `interrupt` stops the '
    'reply and answers it (the model sees both), `reject` refuses it (409).'
)


class SessionCreate(BaseModel):
    session_id: str | None = Field(
        default=None, pattern=SESSION_ID_PATTERN, description='Lets a client retry a create safely.'
    )
    message: MessageIn | None = None
    agent: str | None = Field(
        default=None, max_length=64, description='One of `GET /agents`; the default agent if left out.'
    )
    model: str | None = Field(
        default=None, max_length=200, description="One of the agent's models; its default if left out."
    )
    timezone: str = Field(
        default='',
        max_length=64,
        description="The user's IANA time zone (e.g. `Europe/Lisbon`): reminders' local times are in it. "
        "'' is UTC.",
    )
    double_texting: DoubleTexting = Field(default='enqueue', description=DOUBLE_TEXTING_HELP)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def timezone_problem(name: str) -> str | None:
    """Why a time zone is refused, or None: '' (UTC) or a name of the IANA database."""
    if name == '' or name in _zones():
        return None
    return f'{name!r} is not a time zone: give an IANA name such as Europe/Lisbon (or leave it out for UTC)'


class ModelIn(BaseModel):
    model: str = Field(min_length=1, max_length=200, description="One of the session's agent's models.")


class ModelChoice(BaseModel):
    session_id: str
    agent: str
    model: str


class MessageRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def accept_message(message: MessageIn, max_chars: int) -> UserMessage:
    if not message.text.strip():
        raise MessageRejected(422, 'message text is empty')
    if len(message.text) > max_chars:
        raise MessageRejected(
            413, f'message text is {len(message.text)} characters; the limit is {max_chars}'
        )
    return UserMessage(id=message.id, text=message.text, replaces=message.replaces or 0)


class SessionOut(BaseModel):
    session_id: str
    user_id: str
    title: str
    status: SessionStatus
    started_at: datetime | None
    last_activity: datetime | None = Field(
        description='When a turn last started or ended, or the session was renamed (else `started_at`).'
    )
    agent: str
    model: str


class SessionPatch(BaseModel):
    """At least one of the two (else 422)."""

    # Bounded here; the rule itself (with its reason) is `contract.title_problem`.
    title: Text | None = Field(
        default=None,
        max_length=4 * TITLE_MAX_CHARS,
        description=f'1..{TITLE_MAX_CHARS} characters once trimmed, no control characters.',
    )
    double_texting: DoubleTexting | None = Field(default=None, description=DOUBLE_TEXTING_HELP)


class SessionPatched(BaseModel):
    """What changed (a field left out of the request is left out here)."""

    session_id: str
    title: str | None = None
    double_texting: DoubleTexting | None = None


class SessionDeleted(BaseModel):
    session_id: str
    status: Literal['deleted']


class InterruptIn(BaseModel):
    drop_queued: bool = Field(default=False, description='Also drop the messages queued behind the turn.')


class ApprovalIn(BaseModel):
    approve: bool
    reason: Text = Field(default='', max_length=2000, description='Told to the model, with a denial.')


class ErrorOut(BaseModel):
    detail: str = Field(description='Why the request was refused.')


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    detail: list[ValidationIssue]


_ERRORS: dict[int, str] = {
    400: 'The body could not be read (not UTF-8).',
    401: 'No bearer token, or an invalid or expired one.',
    403: 'The token does not allow this.',
    404: 'No such resource, or not yours.',
    409: 'The session is closed, the id is taken, a reply is still being written (policy `reject`), or '
    'the session refused the request.',
    413: 'The message text is over the limit.',
    503: 'The session service (Temporal) is unavailable for now.',
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors routes answer with. A 422 is FastAPI's list of schema errors or
    a refused value with a sentence (an empty message, an invalid memory)."""
    return {
        code: {'model': ValidationErrorOut | ErrorOut, 'description': 'The input is invalid.'}
        if code == 422
        else {'model': ErrorOut, 'description': _ERRORS[code]}
        for code in codes
    }


class WhoAmI(BaseModel):
    username: str
    role: Role


class Deleted(BaseModel):
    deleted: int


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]


class OperatorSession(BaseModel):
    session_id: str
    user_id: str
    title: str
    status: str = Field(description="A session status, or 'deleted'.")
    started_at: datetime | None
    last_activity: datetime | None = Field(
        default=None, description='When a turn last started or ended, or the session was renamed.'
    )
    agent: str = Field(
        default='', description="The session's agent ('' for sessions older than agent choice)."
    )
    model: str = Field(default='', description="The session's model ('' until chosen, then the agent's).")
    temporal_ui: str = Field(description="The session's workflow in the Temporal UI.")


class MemoryHistory(BaseModel):
    """A memory as it is now, and what it said before (newest first, each with `valid_until`)."""

    memory: Memory
    versions: list[Memory]
