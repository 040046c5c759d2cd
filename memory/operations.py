"""What the API asks of memory: the input and result of the MemoryOperation workflow.

A plain module so the workflow imports it through the sandbox as pass-through (docs/architecture.md, "Types that cross the workflow boundary").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from durable_chat.memory.types import Memory

MEMORY_OPERATION_WORKFLOW = 'MemoryOperation'

OperationKind = Literal[
    'list', 'search', 'forget', 'forget_all', 'transcript', 'history', 'undo', 'erase_user'
]

# Transcript archive activities: persisted names, never rename.
ARCHIVE_TURNS = 'archive_turns'
READ_TRANSCRIPT = 'read_transcript'
# Erasing a user (memory/erase.py): persisted names, never rename.
ERASE_USER = 'erase_user'
COUNT_USER_POINTS = 'count_user_points'


@dataclass
class UserPoints:
    """The input and result of `erase_user` and `count_user_points`: a user's points in Qdrant."""

    user_id: str
    memories: int = 0
    """Points of the memory collection: current memories and their past versions."""
    transcript_pages: int = 0


@dataclass
class MemoryOperationRequest:
    kind: OperationKind
    user_id: str
    query: str = ''
    memory_id: str | None = None
    k: int = 10
    session_id: str = ''
    page: int = 1


@dataclass
class ArchivePage:
    """Consecutive finished turns of one session, archived once the workflow stops carrying them."""

    session_id: str
    user_id: str
    page: int
    turns: list[dict[str, object]] = field(default_factory=list[dict[str, object]])


@dataclass
class TranscriptRequest:
    session_id: str
    user_id: str
    first_page: int = 1
    max_bytes: int = 1_000_000
    """A chunk stops before this much text (but holds one page at least): results stay under 2 MB."""


@dataclass
class TranscriptChunk:
    turns: list[dict[str, object]] = field(default_factory=list[dict[str, object]])
    next_page: int | None = None


@dataclass
class MemoryOperationResult:
    memories: list[Memory] = field(default_factory=list[Memory])
    deleted: int = 0
    turns: list[dict[str, object]] = field(default_factory=list[dict[str, object]])
    next_page: int | None = None
    versions: list[Memory] = field(default_factory=list[Memory])
    """`history`: the memory's previous versions, newest first (`memories` holds the current one)."""
    undone: str = ''
    """`undo`: what was undone ('update', 'add' or '')."""
    erased: UserPoints | None = None
    """`erase_user`: the points deleted."""
