"""The built-in offline assistant: a small rule-based model that needs no key and no download.

It exists so that every part of the product can be seen with nothing configured (docs/architecture.md, "Models"). It
streams its replies token by token like a real model, says plainly what it is, and drives the
memory tools: "remember that ...", "what do you remember?", "forget ..." (which asks for approval),
sets reminders: "remind me in 10 minutes to stretch", and check-ins: "check in every 2 hours about my
water intake", "every Monday at 9 ask me about my week"; an agent that delegates hands "ask the
researcher to ..." to that agent.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

LABEL = '[offline assistant]'
TOKEN_DELAY_SECONDS = 0.02
"""Pace of the stream: fast enough to read along, slow enough to see it stream."""

_HELP = (
    "I'm the offline assistant built into durable-chat: a few rules, not a language model. "
    'Tell me "remember that ..." and I will keep it across your chats; ask "what do you remember?" '
    'or say "forget ..." (you will be asked to approve). Everything else I echo. '
    'Set DURABLE_CHAT_MODEL (for example openai:gpt-4o) to talk to a real model. '
    'Your conversation is kept by a Temporal workflow, so you can reload the page or restart '
    'any process and nothing is lost.'
)
_REMEMBER_FOR = re.compile(
    r'^\s*(?:please\s+)?remember\s+(?:for\s+(?:an?|one|(?P<count>\d+(?:\.\d+)?))\s+(?P<unit>hour|day|week)s?'
    r'|until\s+(?P<until>\d{4}-\d{2}-\d{2}))\s*,?\s+that\s+(?P<fact>.+)$',
    re.I | re.S,
)
_UNIT_DAYS = {'hour': 1 / 24, 'day': 1.0, 'week': 7.0}
_REMEMBER = re.compile(r'^\s*(?:please\s+)?remember(?:\s+that)?\s*:?\s+(?P<fact>.+)$', re.I | re.S)
_FORGET = re.compile(r'^\s*(?:please\s+)?forget(?:\s+(?:that|about))?\s*:?\s+(?P<what>.+)$', re.I | re.S)
_RECALL = re.compile(r'what do you (?:know|remember)|^\s*recall\b', re.I)
_REMIND = re.compile(
    r'^\s*(?:please\s+)?remind me in (?P<count>\d+)\s*(?P<unit>s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\s+'
    r'(?:to\s+|that\s+|about\s+)?(?P<what>.+)$',
    re.I | re.S,
)
_UNIT_SECONDS = {'s': 1, 'm': 60, 'h': 3600}
_CHECK_IN_EVERY = re.compile(
    r'^\s*(?:please\s+)?check in(?: with me)? every (?P<count>\d+)?\s*'
    r'(?P<unit>s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\s+(?:about|on|to ask about)\s+(?P<what>.+)$',
    re.I | re.S,
)
_WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday']
_DAY = r'(?:day|weekday|sunday|monday|tuesday|wednesday|thursday|friday|saturday)s?'
_CHECK_IN_AT = re.compile(
    rf'^\s*(?:please\s+)?every (?P<days>{_DAY}(?:\s*(?:,|and)\s*{_DAY})*) at (?P<hour>\d{{1,2}})'
    r'(?::(?P<minute>\d{2}))?\s*(?P<half>am|pm)?,?\s+(?:ask me|check in(?: with me)?)\s+(?:about|on)\s+(?P<what>.+)$',
    re.I | re.S,
)
_ASK_AGENT = re.compile(
    r'^\s*(?:please\s+)?ask (?:the\s+)?(?P<agent>[A-Za-z][\w-]*)\s+(?:to|about|for)\s+(?P<task>.+)$',
    re.I | re.S,
)
_CHECK_IN_DUE = re.compile(r'^\[Check-in due\].*? ask them about: (?P<what>.+?)\nWrite the check-in', re.S)
_DUE = re.compile(r'^\[Reminder due\].*? of: (?P<what>.+?)\nWrite the reminder', re.S)
_MEMORY_HEADER = 'What you remember about this user'
_SAID = re.compile(r'^The user said (?:on [^:]+|earlier): ')
_CONFLICT = re.compile(
    r'^conflict: the user said recently that "(?P<old>.*)" \(memory (?P<id>[0-9a-f-]{36}), .*?\) and now "(?P<new>.*)"\. Nothing stored',
    re.S,
)
_TAKE_NEW = re.compile(
    r'^\s*(?:yes|yeah|yep|the new one|the newer one|the second)\b|\bupdate it\b|\breplace it\b', re.I
)
_KEEP_OLD = re.compile(r'^\s*(?:no\b|nope\b|the old one|the first)|\bkeep the old\b', re.I)


def last_user_text(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ''


def tokens(text: str) -> list[str]:
    """Splits text into word-sized tokens that concatenate back to exactly the text."""
    return re.findall(r'\S+\s*|\s+', text)


def _tool_return(messages: list[ModelMessage]) -> ToolReturnPart | None:
    """The tool result the model is being asked to continue from, if the last request carries one."""
    last = messages[-1] if messages else None
    if isinstance(last, ModelRequest):
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        return returns[-1] if returns else None
    return None


def instructed_memories(instructions: str | None) -> list[str]:
    if not instructions or _MEMORY_HEADER not in instructions:
        return []
    return [
        _SAID.sub('', line[2:])
        for line in instructions.split(_MEMORY_HEADER, 1)[1].splitlines()
        if line.startswith('- ')
    ]


def decide(
    messages: list[ModelMessage], instructions: str | None, delegates: list[str] | None = None
) -> tuple[str, dict[str, object]] | str:
    """The next step: a tool call `(name, args)` or the reply text. `delegates`: the agents the
    agent's `delegate` tool may hand a task to."""
    text = last_user_text(messages)
    tool_return = _tool_return(messages)
    if tool_return is not None:
        return _after_tool(text, tool_return)
    if (match := _ASK_AGENT.match(text)) and match['agent'].lower() in {d.lower() for d in delegates or ()}:
        agent = next(d for d in delegates or () if d.lower() == match['agent'].lower())
        return 'delegate', {'agent': agent, 'task': match['task'].strip()}
    if match := _DUE.match(text):
        return f'{LABEL} Reminder: {match["what"].strip()}'
    if match := _CHECK_IN_DUE.match(text):
        return f'{LABEL} Checking in about {match["what"].strip()}: how is it going?'
    if step := check_in_call(text):
        return step
    if match := _REMIND.match(text):
        seconds = int(match['count']) * _UNIT_SECONDS[match['unit'][0].lower()]
        return 'remind', {'in_seconds': seconds, 'text': match['what'].strip().rstrip('.')}
    if conflict := _open_conflict(messages):
        if _TAKE_NEW.search(text):
            return 'remember', {'fact': conflict['new'], 'decision': 'supersede', 'memory_id': conflict['id']}
        if _KEEP_OLD.search(text):
            return f'{LABEL} All right, I keep what you told me before: {conflict["old"]}.'
    if step := remember_for(text):
        return step
    if match := _REMEMBER.match(text):
        # A rule-based assistant lets the store's own rules decide what a fact replaces.
        return 'remember', {'fact': match['fact'].strip(), 'decision': 'rules'}
    if match := _FORGET.match(text):
        return 'recall', {'query': match['what'].strip()}
    if _RECALL.search(text):
        return 'recall', {'query': text}
    return _reply(text, instructed_memories(instructions))


def remember_for(text: str) -> tuple[str, dict[str, object]] | None:
    """'remember for a week that X', 'for N days|hours that X', 'until 2026-12-01 that X' (through
    that day, UTC): a `remember` call with an expiry."""
    if not (match := _REMEMBER_FOR.match(text)):
        return None
    args: dict[str, object] = {'fact': match['fact'].strip(), 'decision': 'rules'}
    if match['until']:
        try:
            day = date.fromisoformat(match['until'])
        except ValueError:
            return None
        args['expires_at'] = f'{day + timedelta(days=1)}T00:00:00+00:00'
    else:
        args['expires_in_days'] = float(match['count'] or 1) * _UNIT_DAYS[match['unit'].lower()]
    return 'remember', args


def check_in_call(text: str) -> tuple[str, dict[str, object]] | None:
    """A `check_in` call for "check in every N units about X" or "every Monday at 9 ask me about X"."""
    if match := _CHECK_IN_EVERY.match(text):
        seconds = int(match['count'] or 1) * _UNIT_SECONDS[match['unit'][0].lower()]
        return 'check_in', {'every_seconds': seconds, 'text': match['what'].strip().rstrip('.')}
    if match := _CHECK_IN_AT.match(text):
        hour, minute = int(match['hour']), int(match['minute'] or 0)
        if match['half']:
            hour = hour % 12 + (12 if match['half'].lower() == 'pm' else 0)
        return 'check_in', {
            'cron': f'{minute} {hour} * * {_weekdays(match["days"])}',
            'text': match['what'].strip().rstrip('.'),
        }
    return None


def _weekdays(days: str) -> str:
    """Cron's day-of-week field for "Monday", "Mondays and Fridays", "weekday", "day"."""
    named = [d.rstrip('s') for d in re.findall(r'[a-z]+', days.lower()) if d != 'and']
    if 'day' in named:
        return '*'
    if 'weekday' in named:
        return '1-5'
    return ','.join(str(n) for n in sorted({_WEEKDAYS.index(d) for d in named}))


def _open_conflict(messages: list[ModelMessage]) -> re.Match[str] | None:
    """The conflict the previous answer asked the user about, if the user is answering it now."""
    prompts = 0
    for message in reversed(messages):
        if not isinstance(message, ModelRequest):
            continue
        for part in reversed(message.parts):
            if isinstance(part, UserPromptPart):
                prompts += 1
                if prompts > 1:
                    return None
            elif isinstance(part, ToolReturnPart) and part.tool_name == 'remember':
                return _CONFLICT.match(part.content) if isinstance(part.content, str) else None
    return None


def _after_tool(text: str, tool_return: ToolReturnPart) -> tuple[str, dict[str, object]] | str:
    content = tool_return.content
    if tool_return.tool_name in ('remind', 'check_in'):
        return f'{LABEL} {content}.'
    if tool_return.tool_name == 'delegate':
        return f'{LABEL} It reported back: {content}'
    if tool_return.tool_name == 'remember':
        if isinstance(content, str) and (conflict := _CONFLICT.match(content)):
            return (
                f'{LABEL} You told me recently that {conflict["old"]}, and now that {conflict["new"]}. '
                f'Which is right? Say "yes, update it" and I will remember the new one instead, '
                'or "keep the old one".'
            )
        return f"{LABEL} Noted. I'll remember it ({content})."
    if tool_return.tool_name == 'recall':
        memories = content if isinstance(content, list) else []
        if _FORGET.match(text):
            if not memories:
                return f"{LABEL} I don't remember anything like that, so there is nothing to forget."
            return 'forget', {'memory_id': memories[0]['id']}
        if not memories:
            return f"{LABEL} I don't remember anything about you yet."
        listed = '; '.join(m['text'] for m in memories)
        return f'{LABEL} Here is what I remember: {listed}.'
    if tool_return.tool_name == 'forget':
        if isinstance(content, str) and content.startswith('Forgotten'):
            return f"{LABEL} Done: I've forgotten it."
        return f"{LABEL} All right, I'll keep it. ({content})"
    return f'{LABEL} ({content})'


def _reply(text: str, remembered: list[str]) -> str:
    lowered = text.strip().lower()
    if re.match(r'^(hi|hello|hey|good (morning|afternoon|evening))\b', lowered):
        return f'{LABEL} Hello! {_HELP}'
    if 'help' in lowered or 'what can you do' in lowered or 'who are you' in lowered:
        return f'{LABEL} {_HELP}'
    if remembered and text.strip().endswith('?'):
        return f'{LABEL} I can only match words, but this is what I remember that may help: {"; ".join(remembered)}.'
    words = len(text.split())
    return (
        f'{LABEL} You said: "{text.strip()}" ({words} word{"s" if words != 1 else ""}). '
        "I can't reason about it, I'm only rules; ask me for help to see what I can do."
    )


def offline_summary(conversation: str, max_chars: int = 1_500) -> str:
    """A summary by rule: the user's own words, newest last, cut to fit."""
    said = [line.removeprefix('User: ') for line in conversation.splitlines() if line.startswith('User: ')]
    earlier = [line for line in conversation.splitlines() if line.startswith('Summary of what came before: ')]
    summary = f'{LABEL} Summary: the user said: ' + '; '.join(said)
    if earlier:
        summary = earlier[0].removeprefix('Summary of what came before: ') + ' Then ' + summary
    return summary[-max_chars:]


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Non-streamed requests: the summarizer's (the chat agent always streams)."""
    return ModelResponse(parts=[TextPart(content=offline_summary(last_user_text(messages)))])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    step = decide(messages, info.instructions, _delegates(info))
    if isinstance(step, tuple):
        name, args = step
        yield {0: DeltaToolCall(name=name, json_args=json.dumps(args))}
        return
    for token in tokens(step):
        await asyncio.sleep(TOKEN_DELAY_SECONDS)
        yield token


def _delegates(info: AgentInfo) -> list[str]:
    """The agents the run's `delegate` tool may name (its schema's enum), if it has one."""
    tool = next((t for t in info.function_tools if t.name == 'delegate'), None)
    agent = tool.parameters_json_schema.get('properties', {}).get('agent', {}) if tool else {}
    return [str(name) for name in agent.get('enum', [])]


def offline_model() -> FunctionModel:
    return FunctionModel(_respond, stream_function=_stream, model_name='offline-assistant')
