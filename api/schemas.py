"""Request bodies and the one validation rule shared by REST and the websocket."""

from __future__ import annotations

from pydantic import BaseModel, Field

from workflows.shared import UserMessage

MESSAGE_ID_PATTERN = r'^[A-Za-z0-9_.:-]{1,100}$'
SESSION_ID_PATTERN = r'^[a-f0-9]{32}$'


class MessageIn(BaseModel):
    id: str = Field(pattern=MESSAGE_ID_PATTERN, description='Chosen by the client; resending it is harmless.')
    text: str


class SessionCreate(BaseModel):
    session_id: str | None = Field(
        default=None, pattern=SESSION_ID_PATTERN, description='Lets a client retry a create safely.'
    )
    message: MessageIn | None = None


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
    return UserMessage(id=message.id, text=message.text)


class InterruptIn(BaseModel):
    drop_queued: bool = Field(default=False, description='Also drop the messages queued behind the turn.')


class ApprovalIn(BaseModel):
    approve: bool
    reason: str = Field(default='', max_length=2000, description='Told to the model, with a denial.')
