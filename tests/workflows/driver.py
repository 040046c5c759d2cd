"""Drives one ChatSession as the API does (start, `send`, `snapshot`, the updates) and reads its
stream as a client does, for the tests of this package."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pytest
import redis.asyncio as aioredis
from pydantic_ai.messages import CompactionPart, ModelMessage, TextPart, UserPromptPart
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from durable_chat.workflows.contract import (
    QUERY_SNAPSHOT,
    SIGNAL_SEND,
    TEXT_MESSAGE_CONTENT,
    UPDATE_ANSWER_APPROVAL,
    UPDATE_INTERRUPT,
    Approval,
    ApprovalAnswer,
    Frame,
    InterruptRequest,
    InterruptResult,
    Snapshot,
    UserMessage,
    decode_event,
    stream_key,
)
from durable_chat.workflows.shared import SessionStart, SessionState

T = TypeVar('T')
Entry = tuple[bytes, dict[bytes, bytes]]
"""A stream entry as redis-py returns it (responses not decoded): its id and fields."""
WAIT_SECONDS = 20.0
POLL_SECONDS = 0.02


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = WAIT_SECONDS) -> T:
    """Polls `probe` until it returns something; queries have no push, so they are asked again."""
    deadline = time.monotonic() + timeout
    while (result := await probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')
        await asyncio.sleep(POLL_SECONDS)
    return result


@dataclass
class Chat:
    """One session, driven as the API drives it, read as the page reads it."""

    client: Client
    handle: WorkflowHandle[Any, Any]
    session_id: str
    user_id: str
    redis: aioredis.Redis
    first_run_id: str
    frames: list[Frame] = field(default_factory=list[Frame])
    _last_id: str = '0-0'
    _known_run: str = field(default='', init=False)

    def __post_init__(self) -> None:
        self._known_run = self.first_run_id

    async def send(self, message_id: str, text: str) -> None:
        await self.handle.signal(SIGNAL_SEND, UserMessage(id=message_id, text=text))

    async def snapshot(self) -> Snapshot:
        while True:
            try:
                return await self.handle.query(QUERY_SNAPSHOT, result_type=Snapshot)
            except WorkflowQueryFailedError:
                # A query that reaches a run as it continues as new can fail (the worker answers it
                # from a history cut mid-task: "Nondeterminism error"); the next run answers it.
                run = await self.run_id()
                if run == self._known_run:
                    raise
                self._known_run = run

    async def run_id(self) -> str:
        """The run answering now (a new one after each continue-as-new)."""
        return (await self.handle.describe()).run_id

    async def started_with(self, run_id: str | None = None) -> SessionState:
        """The state a run started with: after a continue-as-new, what the previous run carried over."""
        history = await self.client.get_workflow_handle(self.handle.id, run_id=run_id).fetch_history()
        return await self._state(history.events[0].workflow_execution_started_event_attributes.input)

    async def continued_with(self, run_id: str) -> SessionState:
        """The state a run that has ended continued as new with."""
        history = await self.client.get_workflow_handle(self.handle.id, run_id=run_id).fetch_history()
        last = history.events[-1]
        assert last.HasField('workflow_execution_continued_as_new_event_attributes'), last
        return await self._state(last.workflow_execution_continued_as_new_event_attributes.input)

    async def _state(self, payloads: Payloads) -> SessionState:
        [start] = await self.client.data_converter.decode_wrapper(payloads, [SessionStart])
        assert isinstance(start, SessionStart)
        return start.state

    async def wait_for_carried(self, condition: Callable[[SessionState], bool], what: str) -> SessionState:
        """The current run's starting state, once a run has started with a state where `condition` holds."""

        async def probe() -> SessionState | None:
            state = await self.started_with()
            return state if condition(state) else None

        return await eventually(probe, what)

    async def interrupt(self, drop_queued: bool = False, by: str = '') -> InterruptResult:
        request = InterruptRequest(drop_queued=drop_queued, by=by)
        return await self.handle.execute_update(UPDATE_INTERRUPT, request, result_type=InterruptResult)

    async def answer(self, approval_id: str, approve: bool, reason: str = '', by: str = '') -> Approval:
        answer = ApprovalAnswer(approval_id=approval_id, approve=approve, reason=reason, by=by)
        return await self.handle.execute_update(UPDATE_ANSWER_APPROVAL, answer, result_type=Approval)

    async def wait_for(self, condition: Callable[[Snapshot], bool], what: str) -> Snapshot:
        async def probe() -> Snapshot | None:
            snapshot = await self.snapshot()
            return snapshot if condition(snapshot) else None

        return await eventually(probe, what)

    async def wait_finished(self, *numbers: int) -> Snapshot:
        return await self.wait_for(
            lambda s: set(numbers) <= s.finished_turns and s.status == 'idle', f'turns {numbers} to finish'
        )

    async def wait_for_frames(
        self, condition: Callable[[list[Frame]], bool], what: str, timeout: float = WAIT_SECONDS
    ) -> list[Frame]:
        """The session stream so far, once `condition` holds of it (blocking reads, no polling)."""
        deadline = time.monotonic() + timeout
        key = stream_key(self.session_id)
        while not condition(self.frames):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f'timed out waiting for {what}; stream: {self.frames}')
            read = await self.redis.xread({key: self._last_id}, block=max(int(left * 1000), 1))
            for _key, entries in cast(list[tuple[bytes, list[Entry]]], read):
                self._take(entries)
        return self.frames

    async def read_stream(self) -> list[Frame]:
        """Everything in the stream now."""
        entries = await self.redis.xrange(stream_key(self.session_id), min=f'({self._last_id}')
        self._take(cast(list[Entry], entries))
        return self.frames

    def _take(self, entries: list[Entry]) -> None:
        for entry_id, fields in entries:
            self.frames.append(decode_event(entry_id, fields))
            self._last_id = entry_id.decode()


def of_turn(frames: list[Frame], turn: int) -> list[Frame]:
    return [f for f in frames if f['turn'] == turn]


def streamed(frames: list[Frame]) -> str:
    """The text a client shows from these frames (one attempt each here: no retries in these tests)."""
    return ''.join(f['delta'] for f in frames if f['type'] == TEXT_MESSAGE_CONTENT)


def message_texts(messages: Sequence[ModelMessage]) -> list[tuple[type, str]]:
    """Each part of a model history as (kind, text): what the model reads of the conversation."""
    return [
        (type(p), str(p.content) if isinstance(p, UserPromptPart | TextPart | CompactionPart) else '')
        for m in messages
        for p in m.parts
    ]


def refusal(error: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> tuple[str | None, str]:
    """Why an update's validator refused it: the error type and message the client got."""
    cause = error.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type, cause.message


NewChat = Callable[..., Awaitable[Chat]]
