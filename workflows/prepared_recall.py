"""A recall prepared by the API while the message travels to the session, taken by the turn.

A user with memories waits, before the model runs, for the recall activity: its dispatch to the
memory worker, the search, then a workflow task more. The API knows the message first: it starts
the same recall (a standalone activity) as it signals, and leaves the result in Redis under the
session and message id. The turn takes it in a local activity (recorded in history like any
activity) if it was asked exactly as the turn would ask it and no memory of the user changed since
(the memory generation, `workflows/memory_hints.py`); else it recalls as before.

Shared by the API and the session: this module imports no pydantic-ai.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter

from durable_chat.memory.types import RecallRequest, RecallResult

RECALL_MIN_SCORE = 0.25
"""Memories less relevant than this stay out of a turn (`memory.retrieval`)."""
PREPARED_TTL_SECONDS = 120
WAIT_SECONDS = 1.0
"""How long a turn waits for a recall the API is still preparing before recalling itself."""


@dataclass
class PreparedRecall:
    request: RecallRequest
    generation: int
    """The user's memory generation read before the recall ran."""
    result: RecallResult | None = None
    """None while the API's recall runs, and when it failed."""
    done: bool = False


CODEC = TypeAdapter(PreparedRecall)


def recall_request(user_id: str, text: str, k: int) -> RecallRequest:
    """What a turn asks the memory store before the model runs."""
    return RecallRequest(user_id, text, k=k, min_score=RECALL_MIN_SCORE)


# In the session's hash tag: one slot with the session's stream (Redis Cluster).
def prepared_key(session_id: str, message_id: str) -> str:
    return f'session:{{{session_id}}}:recall:{message_id}'


def ready_key(session_id: str, message_id: str) -> str:
    """A list the API pushes to when the recall is done: a waiting turn blocks on it."""
    return f'session:{{{session_id}}}:recall:{message_id}:ready'


# The user in braces, a Redis Cluster hash tag: the hint reads both keys in one MGET.
def generation_key(user_id: str) -> str:
    return f'memory:{{{user_id}}}:generation'


def empty_key(user_id: str) -> str:
    return f'memory:{{{user_id}}}:known-empty'
