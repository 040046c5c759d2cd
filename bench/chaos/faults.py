"""The fault injector: SIGKILL a process of each kind in turn, at random moments, and start it again."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.chaos.stack import KINDS, ChaosStack

MID_STREAM_WAIT_SECONDS = 10
"""How long a fault waits for some reply to be mid-stream before it strikes anyway."""


@dataclass
class Fault:
    kind: str
    target: int
    at: float
    """Seconds since the run started."""
    mid_stream: int
    """Replies streaming when the process died."""
    down_seconds: float
    restart_seconds: float
    """From starting the replacement to it serving (Temporal lists its pollers, `/readyz` answers)."""


def plan(count: int, rng: random.Random) -> list[str]:
    """Every kind once per round, in a random order: a short run still covers all five."""
    kinds: list[str] = []
    while len(kinds) < count:
        kinds += rng.sample(KINDS, len(KINDS))
    return kinds[:count]


@dataclass
class Injector:
    stack: ChaosStack
    rng: random.Random
    started: float
    streaming: Callable[[], int]
    gap: tuple[float, float] = (1.0, 4.0)
    max_down: float = 1.5

    def __post_init__(self) -> None:
        self.faults: list[Fault] = []
        self.done = False
        self.last_recovered = time.monotonic()

    async def run(self, count: int) -> list[Fault]:
        try:
            for kind in plan(count, self.rng):
                await asyncio.sleep(self.rng.uniform(*self.gap))
                await self._strike(kind)
        finally:
            self.done = True
        return self.faults

    async def _strike(self, kind: str) -> None:
        deadline = time.monotonic() + MID_STREAM_WAIT_SECONDS
        # Polled: the users' sockets share no event to wait on.
        while not self.streaming() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        target = self.rng.randrange(2) if kind in ('chat_worker', 'api') else 0
        mid_stream, at = self.streaming(), time.monotonic() - self.started
        await asyncio.to_thread(self.stack.kill, kind, target)
        down = self.rng.uniform(0, self.max_down)
        await asyncio.sleep(down)
        begun = time.monotonic()
        await asyncio.to_thread(self.stack.restart, kind, target)
        self.last_recovered = time.monotonic()
        fault = Fault(
            kind, target, round(at, 2), mid_stream, round(down, 2), round(self.last_recovered - begun, 2)
        )
        self.faults.append(fault)
        print(
            f'[{at:7.1f} s] SIGKILL {kind} {target} ({mid_stream} replies streaming), back in {fault.restart_seconds} s',
            file=sys.stderr,
            flush=True,
        )
