"""A turn's tool calls, from its model messages, as the page's tool cards show them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart

from durable_chat.workflows.contract import TOOL_RESULT_CHARS, ToolCall


def tool_calls(messages: Sequence[ModelMessage], server_of: Callable[[str], str]) -> list[ToolCall]:
    calls: dict[str, ToolCall] = {}
    for message in messages:
        if isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, ToolCallPart):
                    calls[part.tool_call_id] = ToolCall(
                        part.tool_call_id,
                        part.tool_name,
                        part.args_as_dict(),
                        server=server_of(part.tool_name),
                    )
        elif isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart) and (call := calls.get(part.tool_call_id)) is not None:
                    call.result = _text(part.content)[:TOOL_RESULT_CHARS]
    return list(calls.values())


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    try:
        return json.dumps(content, default=str)
    except (TypeError, ValueError):
        return str(content)
