"""Recall quality on a hand-written labelled set: each question must bring back its own fact."""

from __future__ import annotations

from durable_chat.memory.store import MemoryStore
from durable_chat.testing.recall_set import load_pairs, score

# Measured with the offline embedder: recall@1 0.919 (57/62), recall@5 1.000. The floors sit below
# that so a small change in the model or the store fails loudly only when recall really drops.
RECALL_AT_1_FLOOR = 0.85
RECALL_AT_5_FLOOR = 0.95


async def test_recall_at_1_and_5(store: MemoryStore) -> None:
    pairs = load_pairs()
    assert len(pairs) >= 50
    actions = [(await store.remember('user', p.fact)).action for p in pairs]
    # Every fact is distinct: none may be merged into another by the update rule.
    assert actions == ['added'] * len(pairs)

    result = await score(store, 'user', pairs)
    print(f'\nrecall@1 {result.recall_at_1:.3f}  recall@5 {result.recall_at_5:.3f}  ({result.pairs} pairs)')
    for question, got in result.misses_at_1:
        print(f'  miss@1: {question!r} -> {got!r}')
    assert result.recall_at_1 >= RECALL_AT_1_FLOOR
    assert result.recall_at_5 >= RECALL_AT_5_FLOOR
