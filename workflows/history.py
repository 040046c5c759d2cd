"""The model history of a session: measuring and compacting it (a long session's input stays
bounded), and leaving out a redone turn's exchange.

Every model activity carries the whole message history, so its bytes grow with the conversation
(docs/architecture.md, "Long sessions"). Past a budget, the older exchanges are summarised (by the summarizer agent, an
activity) and replaced by one request-side `CompactionPart` holding the summary, followed by the
most recent exchanges verbatim. Pure functions: the workflow calls them, so they stay deterministic.
"""

from __future__ import annotations

from pydantic_ai.messages import (
    CompactionPart,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserPromptPart,
)

from durable_chat.workflows.contract import Turn

SUMMARY_METADATA = {'durable_chat': 'summary'}
LINE_CHARS = 1_000
"""Each message is cut to this many characters in the summarizer's input."""


def history_bytes(messages: list[ModelMessage]) -> int:
    return len(ModelMessagesTypeAdapter.dump_json(messages))


def _starts_exchange(message: ModelMessage) -> bool:
    return isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts)


def split_recent(
    messages: list[ModelMessage], keep_exchanges: int
) -> tuple[list[ModelMessage], list[ModelMessage]]:
    """(older, recent): `recent` starts at a user message, so tool calls and their results stay together."""
    starts = [i for i, message in enumerate(messages) if _starts_exchange(message)]
    if len(starts) <= keep_exchanges:
        return [], messages
    cut = starts[-keep_exchanges] if keep_exchanges else len(messages)
    return messages[:cut], messages[cut:]


def transcript_text(messages: list[ModelMessage], max_chars: int) -> str:
    """The older messages as plain lines for the summarizer, newest kept when it must cut."""
    lines: list[str] = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, CompactionPart) and part.content:
                lines.append(f'Summary of what came before: {part.content[: LINE_CHARS * 4]}')
            elif isinstance(part, UserPromptPart) and isinstance(part.content, str):
                lines.append(f'User: {part.content[:LINE_CHARS]}')
            elif isinstance(message, ModelResponse) and isinstance(part, TextPart):
                lines.append(f'Assistant: {part.content[:LINE_CHARS]}')
    text = '\n'.join(lines)
    return text[-max_chars:]


def compacted(summary: str, recent: list[ModelMessage]) -> list[ModelMessage]:
    """A summary the application wrote goes in a request, in the user's voice (pydantic-ai's convention)."""
    part = CompactionPart(content=summary, metadata=SUMMARY_METADATA)
    return [ModelRequest(parts=[part]), *recent]


def without_exchange(messages: list[ModelMessage], redone: Turn | None) -> list[ModelMessage]:
    """The model history without a redone turn's exchange: it begins at the last request holding
    that turn's message. Only answered or interrupted turns left an exchange there; one compacted
    into a summary can't be taken out, and the history stays as it is."""
    if redone is None or redone.status not in ('done', 'interrupted'):
        return messages
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, ModelRequest) and any(
            isinstance(p, UserPromptPart) and p.content == redone.user_text for p in message.parts
        ):
            return messages[:index]
    return messages
