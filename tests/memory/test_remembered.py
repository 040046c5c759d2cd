"""The instructions a turn's recalled memories become: dated facts the user told, one a line."""

from __future__ import annotations

from pydantic_ai import RunContext
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage

from durable_chat.workflows.agents.durability import remembered
from durable_chat.workflows.offline_model import instructed_memories
from durable_chat.workflows.shared import TurnDeps


def context(memories: list[str]) -> RunContext[TurnDeps]:
    deps = TurnDeps(session_id='s', turn=1, user_id='u', memories=memories)
    return RunContext(deps=deps, model=TestModel(), usage=RunUsage())


def test_memories_are_dated_facts_the_user_told() -> None:
    text = remembered(
        context(['2025-05-03\tI am allergic to peanuts', 'an older session kept the plain text'])
    )
    assert 'things the user told you about themselves (not things you said)' in text
    assert 'the later one is true now' in text
    assert text.splitlines()[-2:] == [
        '- The user said on 3 May 2025: I am allergic to peanuts',
        '- The user said earlier: an older session kept the plain text',
    ]
    # The offline assistant reads the facts back without the dates.
    assert instructed_memories(text) == ['I am allergic to peanuts', 'an older session kept the plain text']


def test_no_memories_no_instructions() -> None:
    assert remembered(context([])) == ''
