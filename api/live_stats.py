"""The operator console's live panel: this API process's own measurements over the last 10 minutes.

A ring of 10-second buckets, kept in memory (one process, one event loop: no locks). Each bucket
holds the sessions that had an open websocket during it, the messages accepted, the message -> first
token samples and the errors. Every value but active sessions is over the minute ending with its
bucket (six buckets; the current one is partial, so "the last minute" is 50 to 60 s), which keeps
sparse figures like percentiles from being mostly gaps. Buckets from before the process started are
null, like percentiles of a minute that measured nothing.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

BUCKET_SECONDS = 10
BUCKETS = 60
MINUTE_BUCKETS = 6
SAMPLES_PER_BUCKET = 1_000
"""First-token samples kept per bucket (a uniform sample beyond that): bounds memory under load."""


class Series(TypedDict):
    active_sessions: list[int | None]
    turns_per_minute: list[int | None]
    first_token_p50_ms: list[int | None]
    first_token_p95_ms: list[int | None]
    errors: list[int | None]


class Current(TypedDict):
    active_sessions: int
    turns_per_minute: int
    first_token_p50_ms: int | None
    first_token_p95_ms: int | None
    errors: int


class View(TypedDict):
    bucket_seconds: int
    buckets: int
    series: Series
    current: Current


@dataclass
class _Bucket:
    index: int
    sessions: set[str]
    turns: int = 0
    errors: int = 0
    samples: list[float] = field(default_factory=list[float])
    measured: int = 0
    """First-token measurements made in the bucket (`samples` keeps at most SAMPLES_PER_BUCKET)."""


class LiveStats:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        bucket_seconds: int = BUCKET_SECONDS,
        buckets: int = BUCKETS,
    ) -> None:
        self._clock = clock
        self.bucket_seconds = bucket_seconds
        self.buckets = buckets
        self._open: Counter[str] = Counter()
        """Open websockets per session."""
        self._keep = buckets + MINUTE_BUCKETS - 1  # the first bucket shown needs its minute's five before
        self._ring: deque[_Bucket] = deque(maxlen=self._keep)
        self._started = self._index()
        self._ring.append(_Bucket(self._started, set()))

    # --- what the API reports ---

    def socket_opened(self, session_id: str) -> None:
        self._now().sessions.add(session_id)
        self._open[session_id] += 1

    def socket_closed(self, session_id: str) -> None:
        self._now()
        self._open[session_id] -= 1
        if self._open[session_id] <= 0:
            del self._open[session_id]

    def turn_accepted(self) -> None:
        self._now().turns += 1

    def first_token(self, seconds: float) -> None:
        bucket = self._now()
        bucket.measured += 1
        if len(bucket.samples) < SAMPLES_PER_BUCKET:
            bucket.samples.append(seconds)
        elif (slot := random.randrange(bucket.measured)) < SAMPLES_PER_BUCKET:
            bucket.samples[slot] = seconds  # reservoir sampling: every measurement equally likely kept

    def error(self) -> None:
        self._now().errors += 1

    @property
    def active_sessions(self) -> int:
        return len(self._open)

    # --- what the console reads ---

    def view(self) -> View:
        self._now()
        by_index = {b.index: b for b in self._ring}
        last = self._ring[-1].index
        active: list[int | None] = []
        turns: list[int | None] = []
        p50: list[int | None] = []
        p95: list[int | None] = []
        errors: list[int | None] = []
        for index in range(last - self.buckets + 1, last + 1):
            if index < self._started:
                for values in (active, turns, p50, p95, errors):
                    values.append(None)
                continue
            minute = [b for i in range(index - MINUTE_BUCKETS + 1, index + 1) if (b := by_index.get(i))]
            samples = sorted(s for b in minute for s in b.samples)
            active.append(len(by_index[index].sessions))
            turns.append(sum(b.turns for b in minute))
            p50.append(_percentile_ms(samples, 50))
            p95.append(_percentile_ms(samples, 95))
            errors.append(sum(b.errors for b in minute))
        series = Series(
            active_sessions=active,
            turns_per_minute=turns,
            first_token_p50_ms=p50,
            first_token_p95_ms=p95,
            errors=errors,
        )
        current = Current(
            active_sessions=self.active_sessions,
            turns_per_minute=series['turns_per_minute'][-1] or 0,
            first_token_p50_ms=series['first_token_p50_ms'][-1],
            first_token_p95_ms=series['first_token_p95_ms'][-1],
            errors=series['errors'][-1] or 0,
        )
        return View(bucket_seconds=self.bucket_seconds, buckets=self.buckets, series=series, current=current)

    # --- the ring ---

    def _index(self) -> int:
        return math.floor(self._clock() / self.bucket_seconds)

    def _now(self) -> _Bucket:
        """The current bucket, after adding the ones since the last call (holding the sessions still
        open: they had a websocket open during those buckets too)."""
        index = self._index()
        last = self._ring[-1].index
        for skipped in range(max(last + 1, index - self._keep + 1), index + 1):
            self._ring.append(_Bucket(skipped, set(self._open)))
        return self._ring[-1]


def _percentile_ms(sorted_seconds: list[float], percent: int) -> int | None:
    """Nearest-rank percentile, so p50 <= p95 always and each is a measured value."""
    if not sorted_seconds:
        return None
    rank = max(1, math.ceil(percent / 100 * len(sorted_seconds)))
    return round(sorted_seconds[rank - 1] * 1000)


TERMINAL_FRAMES = frozenset({'RUN_FINISHED', 'RUN_ERROR', 'TURN_INTERRUPTED', 'SESSION_CLOSED'})
WAITS_FOR_A_PERSON = 'APPROVAL_REQUESTED'
FIRST_TOKEN = 'TEXT_MESSAGE_CONTENT'
PENDING_SECONDS = BUCKET_SECONDS * BUCKETS
MAX_PENDING = 256


class FirstTokens:
    """Message -> first token on one websocket: maps the messages accepted on it to the turns that
    answer them, from the frames it relays (no frame names the message a turn answers).

    The approximation: the first frame of a turn numbered above every turn this socket knew of when
    the message was accepted belongs to the oldest message still waiting (the workflow numbers turns
    in the order messages arrive). The time runs to that turn's first TEXT_MESSAGE_CONTENT. A turn
    that ends, or asks a person for approval, before any text measures nothing (a person's answer
    is not the model's speed). It is wrong when a message sent another way (REST, another socket)
    is queued behind the running turn and starts first: that turn is then taken for this socket's
    message. A message whose turn never streams (a duplicate id, a full queue) is dropped after
    10 minutes or when 256 more wait.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._highest = 0
        self._pending: deque[tuple[float, int]] = deque()
        """(accepted at, highest turn known then), oldest first."""
        self._claimed: dict[int, float] = {}
        """Turn -> when the message it answers was accepted, until its first text."""

    def knows_turns_up_to(self, turn: int) -> None:
        """Turns that exist already (the snapshot's, queued ones included) answer no new message."""
        self._highest = max(self._highest, turn)

    def accepted(self) -> tuple[float, int]:
        """A message is about to be signalled; `withdraw` the ticket if that fails."""
        now = self._clock()
        while self._pending and (
            len(self._pending) >= MAX_PENDING or now - self._pending[0][0] > PENDING_SECONDS
        ):
            self._pending.popleft()
        ticket = (now, self._highest)
        self._pending.append(ticket)
        return ticket

    def withdraw(self, ticket: tuple[float, int]) -> None:
        try:
            self._pending.remove(ticket)
        except ValueError:
            pass  # a turn already claimed it

    def relayed(self, frame_type: str, turn: int) -> float | None:
        """Seconds from a message's acceptance to its reply's first token, when this frame is that."""
        if turn > self._highest:
            self._highest = turn
            if self._pending:  # accepted when the highest turn was lower: this turn is its answer
                self._claimed[turn] = self._pending.popleft()[0]
        if turn not in self._claimed:
            return None
        if frame_type == FIRST_TOKEN:
            return self._clock() - self._claimed.pop(turn)
        if frame_type in TERMINAL_FRAMES or frame_type == WAITS_FOR_A_PERSON:
            del self._claimed[turn]
        return None


class RecentKeys:
    """Remembers the last `capacity` keys: counts a RUN_ERROR once though many sockets relay it."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._keys: dict[tuple[str, int], None] = {}
        self._capacity = capacity

    def first_time(self, key: tuple[str, int]) -> bool:
        if key in self._keys:
            return False
        if len(self._keys) >= self._capacity:
            del self._keys[next(iter(self._keys))]
        self._keys[key] = None
        return True


LIVE = LiveStats()
RUN_ERRORS_SEEN = RecentKeys()
