"""The scripted chat model the tests run workers with (`DURABLE_CHAT_MODEL=import:durable_chat.testing.scripted:model`).

Its replies are a pure function of the user's message, so a retried attempt streams the same text:
- `long ID`: a ~2 KB reply in 20 tokens, no delay;
- `slow N [label]`: N numbered words, one token each, 40 ms apart (a reply long enough to interrupt);
- `drip N`: N numbered words, 0.5 s apart (a turn that outlasts a short time budget);
- `unreachable`: fails as a model server that is down does (httpx's ConnectError), every attempt;
- `rejected`: fails as a model server that refuses the request does (not retried);
- `endless`: numbered words, 2 ms apart, that never stop (only the reply budget ends it);
- `burst N`: N numbered words, one token each, as fast as the model can yield (fan-out throughput);
- `remember that ...`, `forget ...`, `what do you remember ...`: the offline assistant's tool flows
  (the memory tools, `forget` asking for approval), replies in fast tokens;
- `call TOOL {json args}`: calls that tool (any tool of the agent: an MCP server's, a Python
  agent's) with those arguments, then replies `TOOL said: <its result>`;
- `tools TOOL {json args}; TOOL {json args} then SCRIPT`: calls the tools one per model step, in
  order, then answers as SCRIPT would (`slow 300` to be interrupted, `unreachable` to fail);
- `decide DECISION: FACT`: a model deciding on the store's proposal: calls `remember(FACT)`, then
  `remember(FACT, decision=DECISION, memory_id=<the first memory proposed>)`, then replies
  `remember said: <its answer>`;
- `instructions: <question>`: lists the memories recalled (for the question) into the instructions;
- anything else: `Echo: <message>` in word tokens, 5 ms apart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator

import httpx
from pydantic_ai.exceptions import ModelRequestRejectedError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from durable_chat.workflows.offline_model import (
    decide,
    instructed_memories,
    last_user_text,
    offline_summary,
    tokens,
)

TOOL_FLOW = re.compile(
    r'^(remember that|forget|what do you remember|remind me|\[Reminder due\]|yes, update it|keep the old one)',
    re.I,
)
DECIDE = re.compile(r'decide (\w+): (.+)', re.S)
PROPOSED_ID = re.compile(r'memory ([0-9a-f-]{36})')
CALL = re.compile(r'call (\S+) (\{.*\})', re.S)
PLAN = re.compile(r'tools (.+) then (.+)', re.S)
PLANNED_CALL = re.compile(r'(\S+) (\{.*\})', re.S)

SLOW_TOKEN_SECONDS = 0.04
FAST_TOKEN_SECONDS = 0.005
ENDLESS_TOKEN_SECONDS = 0.002
DRIP_TOKEN_SECONDS = 0.5


def scripted_reply(text: str) -> tuple[list[str], float]:
    if match := re.fullmatch(r'long (\S+)', text.strip()):
        # ~2 KB in 20 tokens, at full speed: realistic size for long-session tests.
        return [
            f'{match[1]}:{i:02d} ' + 'lorem ipsum dolor sit amet ' * 3 + 'consectetur. ' for i in range(20)
        ], 0.0
    if match := re.fullmatch(r'drip (\d+)', text.strip()):
        return [f'd{i} ' for i in range(1, int(match[1]) + 1)], DRIP_TOKEN_SECONDS
    if match := re.fullmatch(r'burst (\d+)', text.strip()):
        return [f'b{i} ' for i in range(1, int(match[1]) + 1)], 0.0
    if match := re.fullmatch(r'slow (\d+)(?: (\S+))?', text.strip()):
        count, label = int(match[1]), match[2] or 'w'
        return [f'{label}{i} ' for i in range(1, count + 1)], SLOW_TOKEN_SECONDS
    return tokens(f'Echo: {text}'), FAST_TOKEN_SECONDS


def expected_reply(text: str) -> str:
    return ''.join(scripted_reply(text)[0])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    text = last_user_text(messages)
    if plan := PLAN.fullmatch(text.strip()):
        calls = [PLANNED_CALL.fullmatch(call.strip()) for call in plan[1].split(';')]
        done = _tool_returns_since_prompt(messages)
        if done < len(calls) and (call := calls[done]) is not None:
            yield {0: DeltaToolCall(name=call[1], json_args=call[2])}
            return
        text = plan[2].strip()
    if decision := DECIDE.fullmatch(text.strip()):
        returned = [p for p in _tool_returns(messages) if p.tool_name == 'remember']
        if len(returned) < 2:
            args: dict[str, object] = {'fact': decision[2]}
            if returned and (proposed := PROPOSED_ID.search(returned[0].model_response_str())):
                args |= {'decision': decision[1], 'memory_id': proposed[1]}
            yield {0: DeltaToolCall(name='remember', json_args=json.dumps(args))}
            return
        text = 'call remember {}'  # answered below from the last tool return
    if text.startswith('instructions:'):
        listed = '; '.join(instructed_memories(info.instructions)) or 'nothing'
        parts, delay = tokens(f'Instructed: {listed}'), FAST_TOKEN_SECONDS
    elif match := CALL.fullmatch(text.strip()):
        returned = _last_tool_return(messages)
        if returned is None:
            yield {0: DeltaToolCall(name=match[1], json_args=match[2])}
            return
        parts, delay = (
            tokens(f'{returned.tool_name} said: {returned.model_response_str()}'),
            FAST_TOKEN_SECONDS,
        )
    elif TOOL_FLOW.match(text):
        step = decide(messages, info.instructions)
        if isinstance(step, tuple):
            yield {0: DeltaToolCall(name=step[0], json_args=json.dumps(step[1]))}
            return
        parts, delay = tokens(step), FAST_TOKEN_SECONDS
    elif text.strip() == 'unreachable':
        raise httpx.ConnectError('All connection attempts failed')
    elif text.strip() == 'rejected':
        raise ModelRequestRejectedError('scripted', 'the request was rejected')
    elif text.strip() == 'endless':
        for i in itertools.count(1):
            await asyncio.sleep(ENDLESS_TOKEN_SECONDS)
            yield f'e{i} '
        return  # not reached: the turn's budget cancels the stream
    else:
        parts, delay = scripted_reply(text)
    for part in parts:
        await asyncio.sleep(delay)
        yield part


def _last_tool_return(messages: list[ModelMessage]) -> ToolReturnPart | None:
    last = messages[-1] if messages else None
    if isinstance(last, ModelRequest):
        return next((p for p in last.parts if isinstance(p, ToolReturnPart)), None)
    return None


def _tool_returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    """The tool results of this turn so far, oldest first."""
    found: list[ToolReturnPart] = []
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            if any(isinstance(p, UserPromptPart) for p in message.parts):
                break
            found[:0] = [p for p in message.parts if isinstance(p, ToolReturnPart)]
    return found


def _tool_returns_since_prompt(messages: list[ModelMessage]) -> int:
    count = 0
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            if any(isinstance(p, UserPromptPart) for p in message.parts):
                break
            count += sum(isinstance(p, ToolReturnPart) for p in message.parts)
    return count


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Non-streamed requests come from the summarizer: the offline assistant's summary by rule."""
    return ModelResponse(parts=[TextPart(content=offline_summary(last_user_text(messages)))])


model = FunctionModel(_respond, stream_function=_stream, model_name='scripted')
