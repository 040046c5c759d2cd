"""Recall is skipped for users known to have no memories, and never skipped for one who has them."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from durable_chat.testing.stack import Workers
from tests.test_memory_sessions import new_session, say, signed_in
from tests.test_prepared_recall import recalls

pytestmark = pytest.mark.integration


async def recalls_run(temporal_client: Client, session_id: str) -> int:
    """Recalls the session's turns ran: its own recall activities, and the API's prepared ones it took."""
    activities, prepared = await recalls(temporal_client, session_id)
    return activities + sum(prepared)


async def test_a_user_without_memories_is_recalled_once_then_skipped(
    api_url: str, workers: Workers, temporal_client: Client
) -> None:
    workers.ensure_one()
    async with signed_in(api_url, 'hint-empty') as http:
        session = await new_session(http)
        for text in ('hello', 'instructions: what is my name?', 'and now?'):
            await say(api_url, http, 'hint-empty', session, text)
        # The first turn learned that there is nothing to recall; the next two asked Redis only.
        assert await recalls_run(temporal_client, session) == 1


async def recalled_after_a_store_elsewhere(api_url: str, username: str) -> list[str]:
    """A session finds the user empty, another stores a fact, then the first one recalls it.
    Returns the two sessions' ids."""
    async with signed_in(api_url, username) as http:
        try:
            waiting = await new_session(http)
            question = 'instructions: what is my dog called?'
            assert await say(api_url, http, username, waiting, question) == 'Instructed: nothing'

            telling = await new_session(http)
            await say(api_url, http, username, telling, 'remember that my dog is called Rex')

            # The first session had marked this user empty; the store in the other one unmarked it.
            assert await say(api_url, http, username, waiting, question) == 'Instructed: my dog is called Rex'
            return [waiting, telling]
        finally:
            await http.delete('/memories')


async def test_a_memory_stored_elsewhere_is_recalled_by_a_session_that_found_none(
    api_url: str, workers: Workers
) -> None:
    workers.ensure_one()
    await recalled_after_a_store_elsewhere(api_url, 'hint-race')


async def test_a_user_whose_memories_were_deleted_is_recalled_until_found_empty(
    api_url: str, workers: Workers, temporal_client: Client
) -> None:
    workers.ensure_one()
    async with signed_in(api_url, 'hint-deleted') as http:
        session = await new_session(http)
        await say(api_url, http, 'hint-deleted', session, 'remember that my car is red')
        question = 'instructions: what colour is my car?'
        assert await say(api_url, http, 'hint-deleted', session, question) == 'Instructed: my car is red'
        assert (await http.delete('/memories')).status_code in (200, 204)
        assert await say(api_url, http, 'hint-deleted', session, question) == 'Instructed: nothing'
        before = await recalls_run(temporal_client, session)
        await say(api_url, http, 'hint-deleted', session, question)
        assert await recalls_run(temporal_client, session) == before
