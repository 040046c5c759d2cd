"""The built-in offline assistant: a small rule-based model that needs no key and no download.

It exists so that every part of the product can be seen with nothing configured (DESIGN 7). It
streams its replies token by token like a real model and says plainly what it is.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCalls, FunctionModel

LABEL = '[offline assistant]'
TOKEN_DELAY_SECONDS = 0.02
"""Pace of the stream: fast enough to read along, slow enough to see it stream."""

_HELP = (
    "I'm the offline assistant built into durable-chat: a few rules, not a language model. "
    'I answer greetings and questions about this app, and I echo everything else. '
    'Set DURABLE_CHAT_MODEL (for example openai:gpt-4o) to talk to a real model. '
    'Your conversation is kept by a Temporal workflow, so you can reload the page or restart '
    'any process and nothing is lost.'
)


def last_user_text(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ''


def offline_reply(text: str) -> str:
    lowered = text.strip().lower()
    if re.match(r'^(hi|hello|hey|good (morning|afternoon|evening))\b', lowered):
        return f'{LABEL} Hello! {_HELP}'
    if 'help' in lowered or 'what can you do' in lowered or 'who are you' in lowered:
        return f'{LABEL} {_HELP}'
    words = len(text.split())
    return (
        f'{LABEL} You said: "{text.strip()}" ({words} word{"s" if words != 1 else ""}). '
        "I can't reason about it, I'm only rules; ask me for help to see what I can do."
    )


def tokens(text: str) -> list[str]:
    """Splits text into word-sized tokens that concatenate back to exactly the text."""
    return re.findall(r'\S+\s*|\s+', text)


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    for token in tokens(offline_reply(last_user_text(messages))):
        await asyncio.sleep(TOKEN_DELAY_SECONDS)
        yield token


def offline_model() -> FunctionModel:
    return FunctionModel(stream_function=_stream, model_name='offline-assistant')
