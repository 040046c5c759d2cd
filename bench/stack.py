"""The real stack for a benchmark run (durable_chat.testing.stack): Temporal dev server, Valkey, the
memory worker, chat workers, an API and a second API whose sessions continue as new every few turns."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from durable_chat.api.auth import Role
from durable_chat.testing import stack

REPO = Path(__file__).resolve().parent.parent
"""On the children's PYTHONPATH: bench's own models (`import:bench.unpaced:model`) live here."""

BENCH_SETTINGS = {
    # The fan-out scenario streams 5,000-token replies: past the default reply budget.
    'DURABLE_CHAT_MAX_REPLY_TOKENS': '100000',
    # Bench runs hundreds of turns as one user: per-user limits out of reach.
    **stack.HIGH_LIMITS,
    'PYTHONPATH': os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])),
}

SMALL_LIMITS = {'DURABLE_CHAT_SESSION_MAX_RUN_EVENTS': '150'}
"""The second API's sessions roll over to a new run every few turns (continue-as-new)."""


class Stack(stack.Stack):
    """A bench stack: `api_url` for the scenarios, `small_limits_api` for continue-as-new."""

    def __init__(self, model: str = stack.SCRIPTED_MODEL) -> None:
        super().__init__(secret='bench-secret', model=model, settings=dict(BENCH_SETTINGS))

    def start(self, chat_workers: int = 1, apis: Sequence[Mapping[str, str]] = ({}, SMALL_LIMITS)) -> Stack:
        super().start(chat_workers, apis)
        self.main_api = self.apis[0]
        self.api_url = self.main_api.url
        self.small_limits_api = self.apis[1].url
        return self

    def token(self, username: str = 'bench', role: Role = 'user') -> str:
        return super().token(username, role)

    @property
    def pids(self) -> dict[str, int]:
        """The stack's own processes by role (chat workers: `workers.chat`), for resource sampling."""
        return {
            'api': self.main_api.pid,
            'memory worker': self.workers.memory.pid,
            'temporal': self.temporal.pid,
        }
