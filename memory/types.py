"""Types that cross the workflow boundary: memory activity inputs and results.

A plain module (standard library only) so the workflow imports it through the sandbox as
pass-through (docs/architecture.md, "Types that cross the workflow boundary"). Field names are part of recorded workflow histories: add fields with
defaults, never rename or remove one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

StoreAction = Literal['added', 'updated', 'unchanged']

# Activity names (`memory.activities`), here so the workflow can name them without importing the
# store. Persisted in workflow histories: never rename one.
RECALL_MEMORIES = 'recall_memories'
STORE_MEMORY = 'store_memory'
FORGET_MEMORY = 'forget_memory'
LIST_MEMORIES = 'list_memories'


@dataclass
class Memory:
    """One fact remembered about one user."""

    id: str
    user_id: str
    text: str
    created_at: datetime
    updated_at: datetime
    score: float | None = None
    """Cosine similarity to the query, set by recall only."""


@dataclass
class StoreResult:
    memory: Memory
    action: StoreAction
    """`added` a new memory, `updated` an existing one in place (same id), or `unchanged`."""
    marked_changed: bool = False
    """The store bumped the user's memory generation, as `StoreRequest.mark_changed` asked."""


@dataclass
class RecallRequest:
    user_id: str
    query: str
    k: int = 5
    min_score: float | None = None
    """Drop memories less similar than this; None returns the top k whatever their score."""


@dataclass
class RecallResult:
    memories: list[Memory] = field(default_factory=list[Memory])
    """Most similar first."""
    user_has_memories: bool = True
    """False when the user has no memory at all (not just none close enough to the query)."""


@dataclass
class StoreRequest:
    user_id: str
    text: str
    mark_changed: bool = False
    """Once the point is written, bump the user's memory generation (workflows/memory_hints.py),
    which spares the session a local activity; `StoreResult.marked_changed` says if it did."""


@dataclass
class ForgetRequest:
    """Forget one memory by id, or every memory of the user with `forget_all=True` (never by default)."""

    user_id: str
    memory_id: str | None = None
    forget_all: bool = False


@dataclass
class ForgetResult:
    deleted: int
    """How many memories were deleted: 0 or 1 for one id (0 if it was already gone)."""


@dataclass
class ListRequest:
    user_id: str


@dataclass
class ListResult:
    memories: list[Memory] = field(default_factory=list[Memory])
    """Oldest first."""
