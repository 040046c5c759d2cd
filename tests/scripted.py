"""The scripted chat model the tests run workers with (`DURABLE_CHAT_MODEL=import:tests.scripted:model`).

Its replies are a pure function of the user's message, so a retried attempt streams the same text:
- `slow N [label]`: N numbered words, one token each, 40 ms apart (a reply long enough to interrupt);
- anything else: `Echo: <message>` in word tokens, 5 ms apart.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, DeltaToolCalls, FunctionModel

from workflows.offline_model import last_user_text, tokens

SLOW_TOKEN_SECONDS = 0.04
FAST_TOKEN_SECONDS = 0.005


def scripted_reply(text: str) -> tuple[list[str], float]:
    if match := re.fullmatch(r'slow (\d+)(?: (\S+))?', text.strip()):
        count, label = int(match[1]), match[2] or 'w'
        return [f'{label}{i} ' for i in range(1, count + 1)], SLOW_TOKEN_SECONDS
    return tokens(f'Echo: {text}'), FAST_TOKEN_SECONDS


def expected_reply(text: str) -> str:
    return ''.join(scripted_reply(text)[0])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    parts, delay = scripted_reply(last_user_text(messages))
    for part in parts:
        await asyncio.sleep(delay)
        yield part


model = FunctionModel(stream_function=_stream, model_name='scripted')
