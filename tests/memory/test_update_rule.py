"""The update rule on the real embedder: restated or contradicted facts update, others add."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from durable_chat.memory.rules import anchors, slot_of
from durable_chat.memory.store import MemoryStore, memory_point, new_memory_id
from durable_chat.memory.types import Memory

SUPERSEDES = [
    # The new statement says what changed: it replaces the old one, whenever that was said.
    ('I live in Paris', 'I moved to Lyon'),
    ('I live in Paris', "I'm now based in Berlin"),
    ('I work as a nurse', "I'm a software engineer now"),
    ('I work at Google', 'I now work for Microsoft'),
    ('I am 34 years old', 'I turned 35 last week'),
    ("I'm vegetarian", 'I eat meat again now'),
    ('I work at a bakery on Elm Street', "I quit the bakery, I'm at the library now"),
    ('rent is 700 a month', 'rent went up to 850'),
    # A plan, then the thing done.
    ("we're thinking of getting a dog, maybe a spaniel", 'we got the dog! a spaniel called Murphy'),
]
RESTATEMENTS = [
    ('I have a dog named Rex', 'I have a dog called Rex'),
    ('I play the guitar', 'I play guitar'),
    ('I prefer tea over coffee', 'I prefer tea to coffee'),
    ("I'm learning Japanese", 'I am learning Japanese'),
    ('I go to the gym on Mondays', 'I go to the gym every Monday'),
]
CONFLICTS = [
    # The same attribute, another value, no word of change: ask when both were said recently.
    ('my favorite color is blue', 'My favourite colour is green'),
    ('Blue is my favourite colour', 'my favorite color is red'),
    ('My name is Sam', 'Call me Samantha'),
    ("My wife's name is Anna", 'My wife is called Maria'),
    ('I have two kids', 'I have three children'),
    ('My birthday is on May 3rd', 'My birthday is on June 3rd'),
]
UPDATES = SUPERSEDES + RESTATEMENTS

ADDS = [
    ('I live in Paris', 'I have a dog named Rex'),
    ('I have a dog named Rex', 'I have a cat named Tom'),
    ('I have a dog named Rex', 'I have a dog named Max'),
    ('My wife is named Anna', 'My sister is named Anna'),
    ('I live in Paris', 'My sister lives in Paris'),
    ('I live in Paris', 'I grew up in Marseille'),
    ('my favorite color is blue', 'my favorite food is sushi'),
    ('I work as a nurse', "I work at St Mary's hospital"),
    ('I play the guitar', 'I play the piano'),
    ('I speak French', 'I speak Spanish'),
    ("I'm allergic to peanuts", "I'm allergic to shellfish"),
    ('I like hiking in the mountains', 'I like skiing in the mountains'),
    ('I go to the gym on Mondays', 'I go to the gym on Tuesdays'),
    ('I have a meeting with my boss on Friday', 'I have a meeting with my boss on Thursday'),
    ('my locker code is 1234', 'my bike lock code is 9876'),
    ('my son Leo is 9', 'my son Leo is 10'),
    ("My son's name is Leo", 'My name is Sam'),
    ('My favourite food is pizza', 'My favourite snack is pizza'),
    ('My favourite drink is coffee', 'My favourite hot drink is coffee'),
    ('I live in Paris', 'I work in Paris'),
]


@pytest.mark.parametrize(('old', 'new'), UPDATES)
async def test_restated_or_contradicting_fact_updates_in_place(
    store: MemoryStore, old: str, new: str
) -> None:
    first = (await store.remember('u', old)).memory
    second = await store.remember('u', new)
    assert second.action == 'updated'
    assert second.memory.id == first.id
    assert second.memory.created_at == first.created_at
    assert second.memory.updated_at > first.updated_at
    assert [m.text for m in await store.list('u')] == [new]
    # The old wording is gone from recall too: only the new text comes back.
    assert [m.text for m in await store.recall('u', old, k=5)] == [new]
    # The old text is kept as the previous version, no longer valid.
    current, versions = await store.history('u', first.id)
    assert current == second.memory
    assert [(v.text, v.version) for v in versions] == [(old, 1)]
    assert versions[0].valid_until == second.memory.updated_at
    assert second.previous is not None and second.previous.text == old


@pytest.mark.parametrize(('old', 'new'), CONFLICTS)
async def test_a_recent_contradiction_is_a_conflict_to_ask_about(
    store: MemoryStore, old: str, new: str
) -> None:
    first = (await store.remember('u', old)).memory
    result = await store.remember('u', new)
    assert result.action == 'conflict'
    assert [c.id for c in result.candidates] == [first.id]
    assert [m.text for m in await store.list('u')] == [old]  # nothing written until the user says


@pytest.mark.parametrize(('old', 'new'), CONFLICTS)
async def test_a_contradiction_of_an_old_statement_supersedes_it(
    store: MemoryStore, old: str, new: str
) -> None:
    said = datetime.now(UTC) - timedelta(days=3)
    first = Memory(new_memory_id('u', old), 'u', old, said, said)
    vector = list((await store.embedder.embed_documents(old)).embeddings[0])
    await store.run_qdrant(store.client.upsert(store.collection, [memory_point(first, vector)], wait=True))
    result = await store.remember('u', new)
    assert (result.action, result.memory.id) == ('updated', first.id)
    assert [m.text for m in await store.list('u')] == [new]


@pytest.mark.parametrize(('old', 'new'), ADDS)
async def test_unrelated_fact_is_added(store: MemoryStore, old: str, new: str) -> None:
    first = (await store.remember('u', old)).memory
    second = await store.remember('u', new)
    assert second.action == 'added'
    assert second.memory.id != first.id
    assert [m.text for m in await store.list('u')] == [old, new]


async def test_a_slot_belongs_to_one_user(store: MemoryStore) -> None:
    await store.remember('a', 'I live in Paris')
    assert (await store.remember('b', 'I moved to Lyon')).action == 'added'
    assert [m.text for m in await store.list('a')] == ['I live in Paris']


@pytest.mark.parametrize(
    ('text', 'slot'),
    [
        ('I live in Paris', 'residence'),
        ("I'm living in Berlin now", 'residence'),
        ('I just moved to Rome', 'residence'),
        ("I'm originally from Italy", 'hometown'),
        ('My name is Sam', 'name'),
        ('Call me Sammy', 'name'),
        ("I'm a senior software engineer", 'job'),
        ('I work as a nurse', 'job'),
        ('I work for Acme', 'employer'),
        ('I am 34 years old', 'age'),
        ("I'm 35 now", 'age'),
        ('my favorite color is blue', 'favorite:color'),
        ('Green is my favourite colour', 'favorite:color'),
        ('My favourite films are the Godfather ones', 'favorite:movie'),
        ("My wife's name is Anna", 'partner_name'),
        ("I'm vegan", 'diet'),
        ('My email is sam@example.com', 'email'),
        ('I have a dog named Rex', None),
        ('My sister lives in Berlin', None),
        ("My sister's favourite colour is red", None),
        ("My son's name is Leo", None),
        ("I'm a big fan of jazz", None),
        ("I'm allergic to peanuts", None),
        ("I'm 5 minutes away", None),
        ('I live with my parents', None),
    ],
)
def test_slots(text: str, slot: str | None) -> None:
    assert slot_of(text) == slot


def test_anchors() -> None:
    assert anchors('I have a dog named Rex') == {'dog', 'rex'}
    assert anchors('My sister Clara is 31') == {'sister', 'clara', '31'}
    assert anchors('Please keep your answers short') == set()
    assert anchors('I go to the gym on Mondays') == anchors('I go to the gym every Monday')
