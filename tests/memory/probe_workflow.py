"""A small workflow that drives the memory activities by name, as the chat workflow will."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from durable_chat.memory.types import (
        FORGET_MEMORY,
        LIST_MEMORIES,
        RECALL_MEMORIES,
        STORE_MEMORY,
        ForgetRequest,
        ForgetResult,
        ListRequest,
        ListResult,
        Memory,
        RecallRequest,
        RecallResult,
        StoreRequest,
        StoreResult,
    )

OPTIONS = {
    'start_to_close_timeout': timedelta(seconds=30),
    'retry_policy': RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5),
}


@dataclass
class ProbeOutcome:
    stored: list[StoreResult] = field(default_factory=list[StoreResult])
    recalled: list[Memory] = field(default_factory=list[Memory])
    listed_before: list[Memory] = field(default_factory=list[Memory])
    forgot: int = 0
    listed_after: list[Memory] = field(default_factory=list[Memory])
    forgot_all: int = 0
    errors: list[str] = field(default_factory=list[str])
    """How each refused request failed: its error type, and whether Temporal retried it."""


@workflow.defn(name='MemoryProbe')
class MemoryProbe:
    @workflow.run
    async def run(self, user_id: str) -> ProbeOutcome:
        outcome = ProbeOutcome()
        for text in ('I live in Paris', 'I live in Paris', 'I moved to Lyon', 'I have a dog named Rex'):
            outcome.stored.append(await self._store(StoreRequest(user_id=user_id, text=text)))
        recall = await workflow.execute_activity(
            RECALL_MEMORIES,
            RecallRequest(user_id=user_id, query='Where do I live?', k=1),
            result_type=RecallResult,
            **OPTIONS,
        )
        outcome.recalled = recall.memories
        outcome.listed_before = (await self._list(user_id)).memories
        forget = ForgetRequest(user_id=user_id, memory_id=outcome.stored[0].memory.id)
        outcome.forgot = (await self._forget(forget)).deleted
        outcome.listed_after = (await self._list(user_id)).memories
        outcome.forgot_all = (await self._forget(ForgetRequest(user_id=user_id, forget_all=True))).deleted

        for bad in (StoreRequest(user_id=user_id, text='   '), ForgetRequest(user_id=user_id)):
            try:
                if isinstance(bad, StoreRequest):
                    await self._store(bad)
                else:
                    await self._forget(bad)
            except ActivityError as error:
                cause = error.cause
                assert isinstance(cause, ApplicationError)
                no_retry = error.retry_state == RetryState.NON_RETRYABLE_FAILURE
                outcome.errors.append(
                    f'{cause.type} non_retryable={cause.non_retryable} retried={not no_retry}'
                )
        return outcome

    async def _store(self, request: StoreRequest) -> StoreResult:
        return await workflow.execute_activity(STORE_MEMORY, request, result_type=StoreResult, **OPTIONS)

    async def _forget(self, request: ForgetRequest) -> ForgetResult:
        return await workflow.execute_activity(FORGET_MEMORY, request, result_type=ForgetResult, **OPTIONS)

    async def _list(self, user_id: str) -> ListResult:
        return await workflow.execute_activity(
            LIST_MEMORIES, ListRequest(user_id=user_id), result_type=ListResult, **OPTIONS
        )
