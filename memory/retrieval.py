"""Which recalled memories are relevant enough to go into the model's instructions.

Cosine alone can't tell: on tests/memory_data/natural.json, questions about nothing the user said
reach 0.25-0.34 with some memory, while a fifth of the right answers score under 0.35. What tells
them apart is a shared content word ('what does the *gym* cost me' / 'the *gym*'s gone up to 38'):
a memory passes when its cosine is high on its own, or above the caller's floor with a shared word.
"""

from __future__ import annotations

from durable_chat.memory.rules import content_stems

CLEARLY_RELEVANT = 0.4
"""Cosine from which a memory is relevant without a shared word (measured, see the module)."""


def relevant(query: str, text: str, cosine: float, floor: float) -> bool:
    if cosine >= max(floor, CLEARLY_RELEVANT):
        return True
    return cosine >= floor and bool(content_stems(query) & content_stems(text))
