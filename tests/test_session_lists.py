"""Session lists of sessions that continued as new: one row per session, its current run's status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from tests.conftest import token_for
from tests.rollover import RolledOver, eventually, rolled_over_sessions

pytestmark = pytest.mark.integration


@pytest.fixture(scope='module')
async def rolled_over(small_limits_api: str, temporal_client: Client) -> RolledOver:
    return await rolled_over_sessions(small_limits_api, temporal_client)


def rows(sessions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((s['session_id'], s['status']) for s in sessions)


async def test_users_list_shows_a_rolled_over_session_once_with_its_current_status(
    small_limits_api: str, rolled_over: RolledOver
) -> None:
    headers = {'Authorization': f'Bearer {token_for(rolled_over.user)}'}
    async with httpx.AsyncClient(base_url=small_limits_api, timeout=30, headers=headers) as http:

        async def listed() -> list[tuple[str, str]]:
            return rows((await http.get('/sessions')).json())

        await eventually(listed, sorted([(rolled_over.idle, 'idle'), (rolled_over.closed, 'closed')]))


async def test_operator_list_and_its_status_filter_see_each_sessions_current_run(
    small_limits_api: str, rolled_over: RolledOver
) -> None:
    operator = {'Authorization': f'Bearer {token_for("olga", "operator")}'}
    async with httpx.AsyncClient(base_url=small_limits_api, timeout=30, headers=operator) as http:

        async def listed(status: str | None = None) -> list[tuple[str, str]]:
            query = {'user': rolled_over.user, **({'status': status} if status else {})}
            response = await http.get('/operator/sessions', params=query)
            assert response.status_code == 200, response.text
            return rows(response.json())

        idle, closed = (rolled_over.idle, 'idle'), (rolled_over.closed, 'closed')
        await eventually(lambda: listed('closed'), [closed])
        await eventually(lambda: listed('idle'), [idle])
        await eventually(listed, sorted([idle, closed]))
        assert await listed('thinking') == []

        # A turn running in the latest run: the session is thinking, and nothing else of it is listed.
        client = await ChatClient(small_limits_api, rolled_over.idle, token_for(rolled_over.user)).connect()
        await client.wait_for(lambda: client.of_type('SNAPSHOT'))
        await client.send('slow-1', 'slow 300')
        try:
            await eventually(lambda: listed('thinking'), [(rolled_over.idle, 'thinking')])
            await eventually(listed, sorted([(rolled_over.idle, 'thinking'), closed]))
            assert await listed('idle') == []
            assert await listed('closed') == [closed]
        finally:
            interrupted = await http.post(f'/sessions/{rolled_over.idle}/interrupt', json={})
            await client.disconnect()
        assert interrupted.status_code == 200, interrupted.text
        await eventually(lambda: listed('idle'), [idle])
