"""A reply ends at the agent's `max_tokens`, whatever the model does with that setting.

Providers stop at `max_tokens` themselves, but a local server can ignore it and a scripted model
never sees it; a reply that never ends ties its session up until the activity times out, then runs
again. `ReplyBudget` wraps the chat model and cuts a streamed reply after `max_tokens` chunks
(a streamed chunk is about one token), ending it as a provider would: `finish_reason='length'`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from pydantic_ai import RunContext
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
)
from pydantic_ai.models import ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RequestUsage


class ReplyBudget(WrapperModel):
    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncGenerator[StreamedResponse]:
        limit = (model_settings or {}).get('max_tokens')
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream if not limit else _CappedStream(model_request_parameters, inner=stream, limit=limit)


@dataclass
class _CappedStream(StreamedResponse):
    """The wrapped stream's own events until `limit` chunks, sharing its parts (what `get()` builds)."""

    inner: StreamedResponse = field(kw_only=True)
    limit: int = field(kw_only=True)
    capped: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        # The base class turns raw events into part-end and final-result events once, over the parts
        # the wrapped stream's own iterator fills in: both must read the same parts.
        vars(self)['_parts_manager'] = self.inner._parts_manager

    async def _get_event_iterator(self) -> AsyncIterator[ModelResponseStreamEvent]:
        chunks = 0
        # Typed as an iterator, written as an async generator (`async def` with `yield`): close it when cut.
        events = cast(AsyncGenerator[ModelResponseStreamEvent], self.inner._get_event_iterator())
        async with aclosing(events):
            async for event in events:
                yield event
                if isinstance(event, PartStartEvent | PartDeltaEvent):
                    chunks += 1
                    if chunks >= self.limit:
                        self.capped = True
                        break
        if self.capped:
            # Stop the provider generating what nobody will read; a model with no connection has none.
            with suppress(NotImplementedError):
                await self.inner.cancel()

    def get(self) -> ModelResponse:
        response = self.inner.get()
        finish_reason = 'length' if self.capped else response.finish_reason
        return replace(response, finish_reason=finish_reason, state=super().get().state)

    async def close_stream(self) -> None:
        await self.inner.close_stream()

    @property
    def usage(self) -> RequestUsage:
        return self.inner.usage

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def provider_name(self) -> str | None:
        return self.inner.provider_name

    @property
    def provider_url(self) -> str | None:
        return self.inner.provider_url

    @property
    def timestamp(self) -> datetime:
        return self.inner.timestamp
