"""One simulated user: a session made through the API, a websocket on it, and turns one after another."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from durable_chat.testing.chat_client import ChatClient

FIRST_TOKEN_TIMEOUT = 60.0
TURN_TIMEOUT = 120.0


@dataclass
class Tally:
    """What every chatter of a run adds to: samples carry the monotonic time they were taken at."""

    first_token: list[tuple[float, float]] = field(default_factory=list[tuple[float, float]])
    turns_done: list[float] = field(default_factory=list[float])
    tokens: int = 0
    errors: Counter[str] = field(default_factory=Counter[str])


class TurnFailed(Exception):
    pass


async def create_session(http: httpx.AsyncClient, token: str) -> str:
    """The cheapest real way to a session: POST /sessions without a first message (a plain start)."""
    response = await http.post('/sessions', json={}, headers={'Authorization': f'Bearer {token}'})
    if response.status_code != 201:
        raise TurnFailed(f'create {response.status_code}: {response.text[:80]}')
    return response.json()['session_id']


class Chatter:
    def __init__(self, api_url: str, token: str, session_id: str, tally: Tally) -> None:
        self.api_url, self.token, self.session_id, self.tally = api_url, token, session_id, tally
        self.client: ChatClient | None = None
        self.turn = 0

    async def connect(self) -> None:
        """(Re)opens the websocket; the snapshot says which turn the session is at."""
        if self.client is not None:
            await _quietly(self.client.disconnect())
            self.client = None  # if this connect fails, the next turn connects again, not on a closed socket
        client = await ChatClient(self.api_url, self.session_id, self.token).connect()
        snapshot = await client.wait_for(lambda: client.of_type('SNAPSHOT'), timeout=FIRST_TOKEN_TIMEOUT)
        turns = snapshot[-1]['session']['turns']
        self.turn = turns[-1]['number'] if turns else snapshot[-1]['session']['archived_turns']
        self.client = client

    async def chat(self, text: str) -> float | None:
        """One turn: send, first token, finish. Returns the first-token latency; records failures by kind."""
        try:
            return await self._chat(text)
        except Exception as error:  # every failure is a figure here, counted by kind
            self.tally.errors[_kind(error)] += 1
            await _quietly(self.connect())
            return None

    async def _chat(self, text: str) -> float:
        if self.client is None:
            await self.connect()
        client = self.client
        assert client is not None
        # Earlier turns' frames are done with: keep the per-frame predicate scans short.
        client.frames.clear()
        client.received_at.clear()
        self.turn += 1
        turn = self.turn
        started = time.monotonic()
        await client.send(f'{self.session_id[:8]}-{turn}', text)
        found = await _wait(client, lambda: _index(client.first_delta_index(turn)), FIRST_TOKEN_TIMEOUT)
        first_token = client.received_at[found] - started
        self.tally.first_token.append((client.received_at[found], first_token))
        await _wait(client, lambda: client.finished(turn) or _run_error(client, turn), TURN_TIMEOUT)
        if _run_error(client, turn):
            raise TurnFailed('RUN_ERROR')
        self.tally.tokens += len(client.of_type('TEXT_MESSAGE_CONTENT', turn))
        self.tally.turns_done.append(time.monotonic())
        return first_token

    async def close(self) -> None:
        if self.client is not None:
            await _quietly(self.client.disconnect())


def _index(index: int | None) -> tuple[int] | None:
    return None if index is None else (index,)


def _run_error(client: ChatClient, turn: int) -> bool:
    return bool(client.of_type('RUN_ERROR', turn))


async def _wait(client: ChatClient, predicate: Any, timeout: float) -> Any:
    """Waits for the predicate, or fails at once on an ERROR frame (e.g. a refused message)."""

    def done() -> Any:
        if errors := client.of_type('ERROR'):
            raise TurnFailed(f'ERROR frame {errors[0].get("status")}: {errors[0].get("reason", "")[:60]}')
        return predicate()

    try:
        found = await client.wait_for(done, timeout)
    except TimeoutError:
        raise TurnFailed(f'no answer within {timeout:.0f} s') from None
    return found[0] if isinstance(found, tuple) else found


def _kind(error: Exception) -> str:
    if isinstance(error, TurnFailed):
        return str(error)
    return f'{type(error).__name__}: {str(error)[:60]}'


async def _quietly(awaitable: Any) -> None:
    try:
        await asyncio.wait_for(awaitable, 30)
    except Exception:  # closing a broken socket may fail; nothing to report
        pass
