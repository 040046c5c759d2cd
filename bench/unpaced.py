"""The scripted model (durable_chat/testing/scripted.py) without its pacing: the same tool calls and replies, each
reply's tokens all at once (`DURABLE_CHAT_MODEL=import:bench.unpaced:model`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from durable_chat.testing.scripted import TOOL_FLOW, scripted_reply
from durable_chat.workflows.offline_model import decide, last_user_text, offline_summary, tokens


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    text = last_user_text(messages)
    if not TOOL_FLOW.match(text):
        for part in scripted_reply(text)[0]:
            yield part
        return
    step = decide(messages, info.instructions)
    if isinstance(step, tuple):
        yield {0: DeltaToolCall(name=step[0], json_args=json.dumps(step[1]))}
        return
    for part in tokens(step):
        yield part


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart(content=offline_summary(last_user_text(messages)))])


model = FunctionModel(_respond, stream_function=_stream, model_name='scripted-unpaced')
