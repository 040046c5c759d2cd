"""How a memory lies in Qdrant: ids, payloads, filters, and the checks on what callers pass.

A memory is one *current* point (id = the memory id) and, once it has been updated, one point per
previous version (`previous: true`, `memory_id` = the memory it belongs to, `valid_until` = when a
newer statement replaced it). Every read of current memories filters previous versions out with a
`must_not`, so points written before versions existed (no `previous` field) stay current.

Expiry. A memory may carry `expires_at` (ISO UTC; each version keeps its own). Reads of current
memories also exclude `expires_at <= now` with a `must_not`, so a point without the field never
expires; the scheduled purge (`memory.expiry`) deletes expired points later.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from qdrant_client import models

from durable_chat.memory.rules import normalise, slot_of
from durable_chat.memory.types import Memory

NAMESPACE = uuid.UUID('5b0b6c1e-3f5e-4d2b-9a47-6d2c1f0e8a13')
"""Persisted: part of every memory id. Never change it."""

MAX_FACT_CHARS = 2_000
"""A fact is a sentence or two; anything longer is a document, not a memory."""
MAX_USER_ID_CHARS = 256
MAX_RECALL_K = 50


class InvalidMemory(ValueError):
    """A fact, user id or argument that the store refuses; the message says why."""


class InvalidMemoryId(InvalidMemory):
    """A memory id that is not a UUID string."""


def memory_point(memory: Memory, vector: list[float], slot: str | None = None) -> models.PointStruct:
    """The current point of a memory, for `remember` and for bulk imports that skip the update rule."""
    payload = _payload(memory)
    payload['text_key'] = text_key(memory.text)
    if slot := slot or slot_of(memory.text):
        payload['slot'] = slot
    return models.PointStruct(id=memory.id, vector=vector, payload=payload)


def version_point(memory: Memory, vector: list[float], valid_until: datetime) -> models.PointStruct:
    """A previous version of `memory`, kept (never recalled) once a newer text replaced it."""
    payload = _payload(memory)
    payload.update(previous=True, memory_id=memory.id, valid_until=valid_until.isoformat())
    return models.PointStruct(id=version_id(memory.id, memory.version), vector=vector, payload=payload)


def _payload(memory: Memory) -> dict[str, Any]:
    return {
        'user_id': memory.user_id,
        'text': memory.text,
        'created_at': memory.created_at.isoformat(),
        'updated_at': memory.updated_at.isoformat(),
        'session_id': memory.session_id,
        'turn': memory.turn,
        'version': memory.version,
        'change': memory.change,
    } | ({'expires_at': memory.expires_at.astimezone(UTC).isoformat()} if memory.expires_at else {})


def new_memory_id(user_id: str, text: str, attempt: int = 0) -> str:
    """The id a fact gets when it is first added: the same for every retry and every worker.

    `attempt` > 0 only when an updated memory kept the first id for another text (`_free_id`);
    a normalised text holds no newline, so the suffix can't collide with another fact's id.
    """
    name = f'{user_id}\n{normalise(text)}'
    return str(uuid.uuid5(NAMESPACE, f'{name}\n{attempt}' if attempt else name))


def version_id(memory_id: str, version: int) -> str:
    """The point id of a memory's previous version: derived, so a retried write lands on it again."""
    return str(uuid.uuid5(NAMESPACE, f'{memory_id}\nversion {version}'))


def to_memory(
    point_id: models.ExtendedPointId, payload: dict[str, Any], score: float | None = None
) -> Memory:
    until = payload.get('valid_until')
    expires = payload.get('expires_at')
    return Memory(
        id=str(payload.get('memory_id', point_id)),
        user_id=payload['user_id'],
        text=payload['text'],
        created_at=datetime.fromisoformat(payload['created_at']),
        updated_at=datetime.fromisoformat(payload['updated_at']),
        score=score,
        session_id=payload.get('session_id', ''),
        turn=payload.get('turn', 0),
        version=payload.get('version', 1),
        change=payload.get('change', 'added'),
        valid_until=datetime.fromisoformat(until) if until else None,
        expires_at=datetime.fromisoformat(expires) if expires else None,
    )


def text_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode()).hexdigest()[:32]


def match(key: str, value: str | bool) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


NOT_PREVIOUS: list[models.Condition] = [match('previous', True)]


def expired(now: datetime | None = None) -> models.FieldCondition:
    """Points whose `expires_at` has passed (a point without the field never matches)."""
    return models.FieldCondition(key='expires_at', range=models.DatetimeRange(lte=now or datetime.now(UTC)))


def current_filter(user_id: str, *more: models.Condition) -> models.Filter:
    """The user's current memories (no previous version, not expired), narrowed by `more`."""
    return models.Filter(must=[match('user_id', user_id), *more], must_not=[*NOT_PREVIOUS, expired()])


def memory_filter(user_id: str, memory_id: str) -> models.Filter:
    """A memory of the user with every previous version of it."""
    return models.Filter(
        must=[match('user_id', user_id)],
        should=[models.HasIdCondition(has_id=[memory_id]), match('memory_id', memory_id)],
    )


def versions_filter(user_id: str, memory_id: str) -> models.Filter:
    return models.Filter(must=[match('user_id', user_id), match('memory_id', memory_id)])


def check_user(user_id: str) -> str:
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidMemory('user_id must be a non-empty string')
    if len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidMemory(f'user_id is longer than {MAX_USER_ID_CHARS} characters')
    return user_id


def check_fact(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidMemory(f'a fact must be a string, not {type(text).__name__}')
    text = text.strip()
    if not text:
        raise InvalidMemory('a fact to remember must not be empty or only whitespace')
    if len(text) > MAX_FACT_CHARS:
        raise InvalidMemory(
            f'a fact to remember is at most {MAX_FACT_CHARS} characters; this one has {len(text)}'
        )
    return text


def check_id(memory_id: str) -> str:
    try:
        return str(uuid.UUID(memory_id))
    except (TypeError, ValueError, AttributeError):
        raise InvalidMemoryId(f'memory id must be a UUID string, not {memory_id!r}') from None


def dense(vector: object) -> list[float]:
    """A retrieved point's unnamed dense vector as a list of floats."""
    if not isinstance(vector, list):
        raise TypeError(f'expected a dense vector, got {type(vector).__name__}')
    return [float(x) for x in vector]
