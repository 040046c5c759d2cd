"""The labelled recall sets and how they are scored (the tests and bench/memory.py): recall_pairs.json
beside this file (one fact, one question), and tests/memory_data/natural.json (six users' natural
statements, later replacements, questions worded differently, questions about nothing said)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from durable_chat.memory.store import MemoryStore

PAIRS_FILE = Path(__file__).resolve().parent / 'recall_pairs.json'


@dataclass(frozen=True)
class Pair:
    fact: str
    question: str


@dataclass
class RecallScore:
    pairs: int
    recall_at_1: float
    recall_at_5: float
    misses_at_1: list[tuple[str, str]]
    """(question, what came first instead) for each question whose fact was not the top hit."""


def load_pairs() -> list[Pair]:
    return [Pair(**p) for p in json.loads(PAIRS_FILE.read_text())['pairs']]


async def score(store: MemoryStore, user_id: str, pairs: list[Pair]) -> RecallScore:
    """Recall@1 and @5 of each question's own fact, the facts already stored for `user_id`."""
    hits_1 = hits_5 = 0
    misses: list[tuple[str, str]] = []
    for pair in pairs:
        texts = [m.text for m in await store.recall(user_id, pair.question, k=5)]
        hits_1 += texts[:1] == [pair.fact]
        hits_5 += pair.fact in texts
        if texts[:1] != [pair.fact]:
            misses.append((pair.question, texts[0] if texts else ''))
    return RecallScore(len(pairs), hits_1 / len(pairs), hits_5 / len(pairs), misses)


# --- The natural set (tests/memory_data/natural.json): statements, replacements, questions -----

NATURAL_FILE = Path(__file__).resolve().parents[2] / 'tests' / 'memory_data' / 'natural.json'
INSTRUCTIONS_MIN_SCORE = 0.25
"""The floor a session's recall before a turn passes (`workflows.prepared_recall.RECALL_MIN_SCORE`)."""


@dataclass(frozen=True)
class Statement:
    id: str
    user: str
    text: str
    replaces: str | None = None


@dataclass(frozen=True)
class Question:
    user: str
    text: str
    answer: str | None
    """The id of the statement that answers it; None for a question about nothing said."""


@dataclass
class NaturalSet:
    statements: list[Statement]
    """In the order told: every user's statements, then the replacements."""
    questions: list[Question]

    def text(self, statement_id: str) -> str:
        return next(s.text for s in self.statements if s.id == statement_id)


def load_natural(path: Path = NATURAL_FILE) -> NaturalSet:
    data = json.loads(path.read_text())
    statements: list[Statement] = []
    for user, said in data['users'].items():
        statements += [Statement(s['id'], user, s['text']) for s in said['statements']]
    for user, said in data['users'].items():
        statements += [Statement(s['id'], user, s['text'], s['replaces']) for s in said['replacements']]
    questions = [Question(q['user'], q['q'], q['answer']) for q in data['questions']]
    questions += [Question(q['user'], q['q'], None) for q in data['unanswerable']]
    return NaturalSet(statements, questions)


@dataclass
class NaturalScore:
    answerable: int = 0
    recall_at_1: float = 0.0
    recall_at_5: float = 0.0
    replaced: int = 0
    replaced_handled: int = 0
    """Replacements whose question ranks the new statement above the old, or finds the old gone."""
    unanswerable: int = 0
    false_recalls: int = 0
    """Questions about nothing said that put some memory into the instructions."""
    answers_instructed: float = 0.0
    """Answerable questions whose own memory passes into the instructions."""
    leaks: int = 0
    """Memories of another user returned."""
    misses_at_1: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])


async def score_natural(
    store: MemoryStore, data: NaturalSet, prefix: str = '', *, plain_gate: bool = False
) -> NaturalScore:
    """Scores the statements stored for `prefix + user` by `store`'s recall, as the API (top 5)
    and a session before a turn (`INSTRUCTIONS_MIN_SCORE`) ask for them. `plain_gate`: the
    instructions take every memory whose cosine reaches the floor (the baseline)."""
    score = NaturalScore()
    replaced_by = {s.id: s.replaces for s in data.statements if s.replaces}
    hits_1 = hits_5 = instructed = 0
    for question in data.questions:
        user = prefix + question.user
        found = await store.recall(user, question.text, k=5)
        if plain_gate:
            gated = [m for m in found if (m.score or 0.0) >= INSTRUCTIONS_MIN_SCORE]
        else:
            gated = await store.recall(user, question.text, k=5, min_score=INSTRUCTIONS_MIN_SCORE)
        score.leaks += sum(m.user_id != user for m in found + gated)
        texts = [m.text for m in found]
        if question.answer is None:
            score.unanswerable += 1
            score.false_recalls += bool(gated)
            continue
        score.answerable += 1
        want = data.text(question.answer)
        hits_1 += texts[:1] == [want]
        hits_5 += want in texts
        instructed += want in [m.text for m in gated]
        if texts[:1] != [want]:
            score.misses_at_1.append((question.text, texts[0] if texts else ''))
        if old_id := replaced_by.get(question.answer):
            score.replaced += 1
            old = data.text(old_id)
            score.replaced_handled += old not in texts or (
                want in texts and texts.index(want) < texts.index(old)
            )
    score.recall_at_1 = hits_1 / score.answerable
    score.recall_at_5 = hits_5 / score.answerable
    score.answers_instructed = instructed / score.answerable
    return score
