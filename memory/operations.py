"""What the API asks of memory: the input and result of the MemoryOperation workflow.

A plain module so the workflow imports it through the sandbox as pass-through (DESIGN P1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from memory.types import Memory

MEMORY_OPERATION_WORKFLOW = 'MemoryOperation'

OperationKind = Literal['list', 'search', 'forget', 'forget_all']


@dataclass
class MemoryOperationRequest:
    kind: OperationKind
    user_id: str
    query: str = ''
    memory_id: str | None = None
    k: int = 10


@dataclass
class MemoryOperationResult:
    memories: list[Memory] = field(default_factory=list[Memory])
    deleted: int = 0
