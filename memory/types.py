"""Types that cross the workflow boundary: memory activity inputs and results.

A plain module (standard library only) so the workflow imports it through the sandbox as
pass-through (docs/architecture.md, "Types that cross the workflow boundary"). Field names are part of recorded workflow histories: add fields with
defaults, never rename or remove one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

StoreAction = Literal['added', 'updated', 'unchanged', 'proposed', 'conflict', 'ignored']
Decision = Literal['rules', 'propose', 'add', 'update', 'supersede', 'ignore']
"""Who decides what a new fact does to the memories it resembles (`StoreRequest.decision`):
`rules` the store's own rules (`memory.rules.decide`, for the offline assistant); `propose` nothing is
written while related memories exist: they come back as candidates for the model to decide on; the
other four are that decision, enforced by the store (`update` and `supersede` name the memory)."""
ChangeKind = Literal['added', 'restated', 'superseded', 'corrected']

# Activity names (`memory.activities`), here so the workflow can name them without importing the
# store. Persisted in workflow histories: never rename one.
RECALL_MEMORIES = 'recall_memories'
STORE_MEMORY = 'store_memory'
FORGET_MEMORY = 'forget_memory'
LIST_MEMORIES = 'list_memories'
MEMORY_HISTORY = 'memory_history'
UNDO_MEMORY_CHANGE = 'undo_memory_change'
PURGE_EXPIRED_MEMORIES = 'purge_expired_memories'


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
    session_id: str = ''
    """The session this version was said in ('' for memories stored before provenance was kept)."""
    turn: int = 0
    """The turn of that session (0 when unknown)."""
    version: int = 1
    """1 for the text first remembered; each update or supersession adds one."""
    change: str = 'added'
    """How this version came to be (`ChangeKind`)."""
    valid_until: datetime | None = None
    """Set on previous versions only: when a newer statement replaced this one."""
    expires_at: datetime | None = None
    """When this memory stops being recalled and listed (then purged); None: never."""


@dataclass
class StoreResult:
    memory: Memory
    action: StoreAction
    """`added` a new memory, `updated` an existing one in place (same id), or `unchanged`."""
    marked_changed: bool = False
    """The store bumped the user's memory generation, as `StoreRequest.mark_changed` asked."""
    previous: Memory | None = None
    """`updated`: the version this one replaced (kept in the memory's history)."""
    candidates: list[Memory] = field(default_factory=list[Memory])
    """`proposed` and `conflict`: the related memories the decision is about (nothing was written)."""


@dataclass
class RecallRequest:
    user_id: str
    query: str
    k: int = 5
    min_score: float | None = None
    """Drop memories less relevant than this (`memory.retrieval`); None returns the top k."""
    plain: bool = False
    """Texts as stored. False (a session's recall before a turn, which keeps only texts): each
    text is `<ISO date said>\\t<text>`, so the instructions can date it."""


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
    session_id: str = ''
    turn: int = 0
    """Where the fact was said: kept with the version (provenance)."""
    decision: str = 'rules'
    """A `Decision`."""
    memory_id: str | None = None
    """The memory an `update` or `supersede` decision replaces."""
    expires_at: str | None = None
    """ISO UTC time the fact expires at (None: never)."""


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


@dataclass
class HistoryRequest:
    user_id: str
    memory_id: str


@dataclass
class HistoryResult:
    memory: Memory | None = None
    """The current version; None if the user has no such memory."""
    versions: list[Memory] = field(default_factory=list[Memory])
    """Previous versions, newest first (each with `valid_until`)."""


@dataclass
class UndoRequest:
    user_id: str
    memory_id: str
    version: int = 0
    """Undo only if the memory's current version is this one (0: whatever it is)."""


@dataclass
class UndoResult:
    undone: str = ''
    """'update': the previous version is current again; 'add': the memory is gone; '' nothing to undo."""
    memory: Memory | None = None
    """The memory as it is now (None after undoing an add)."""


@dataclass
class PurgeResult:
    deleted: int = 0
    """How many points (memories and their versions) were past their `expires_at` and deleted."""
