"""Sessions that have continued as new, for the list tests: chat against an API with small run
budgets (`small_limits_api` in tests/conftest.py) until Temporal holds several runs of each."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.workflows.contract import workflow_id
from tests.conftest import token_for

_T = TypeVar('_T')


@dataclass
class RolledOver:
    """One user's two sessions, each continued as new at least `times` times."""

    user: str
    idle: str  # still running, waiting for a message
    closed: str  # closed after its last run started


async def ended_runs(temporal_client: Client, session_id: str) -> int:
    """How many of the session's runs have continued as new (as Temporal visibility has it)."""
    query = f'WorkflowId = "{workflow_id(session_id)}" AND ExecutionStatus = "ContinuedAsNew"'
    return (await temporal_client.count_workflows(query)).count


async def chat_until_continued_as_new(
    api_url: str, user: str, temporal_client: Client, times: int = 2, max_turns: int = 80
) -> str:
    """A new session of `user`'s, chatted turn by turn until `times` of its runs continued as new."""
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=headers) as http:
        response = await http.post('/sessions', json={})
        assert response.status_code == 201, response.text
        session_id = response.json()['session_id']
    client = await ChatClient(api_url, session_id, token_for(user)).connect()
    try:
        for turn in range(1, max_turns + 1):
            if await ended_runs(temporal_client, session_id) >= times:
                return session_id
            await client.send(f'm-{turn}', f'message number {turn} ' + 'word ' * 40)
            await client.wait_for(lambda turn=turn: client.finished(turn))
    finally:
        await client.disconnect()
    raise AssertionError(f'{session_id} did not continue as new {times} times in {max_turns} turns')


async def rolled_over_sessions(api_url: str, temporal_client: Client) -> RolledOver:
    """A fresh user with one idle and one closed session, both past two continue-as-new."""
    user = f'roll-{uuid.uuid4().hex[:10]}'
    idle = await chat_until_continued_as_new(api_url, user, temporal_client)
    closed = await chat_until_continued_as_new(api_url, user, temporal_client)
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        response = await http.post(f'/sessions/{closed}/close')
        assert response.status_code == 200, response.text
    return RolledOver(user=user, idle=idle, closed=closed)


async def eventually(read: Callable[[], Awaitable[_T]], expected: _T, timeout: float = 20) -> None:
    """Visibility is eventually consistent: read until it gives `expected`, or fail with the last read."""
    deadline = time.monotonic() + timeout
    while (got := await read()) != expected:
        assert time.monotonic() < deadline, f'still {got!r}, expected {expected!r}'
        await asyncio.sleep(0.2)
