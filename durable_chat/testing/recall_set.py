"""The labelled recall set (recall_pairs.json, beside it) and how it is scored; the bench uses it too."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
