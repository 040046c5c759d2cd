"""Memory expiry through the product: a fact remembered with an expiry is listed with it, is neither
recalled nor listed once it passed, and the purge schedule's workflow deletes it. The offline
assistant's 'remember for ...' phrases are a unit test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Page, expect
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.memory.expiry import PURGE_SCHEDULE_ID
from durable_chat.testing.processes import Process
from durable_chat.testing.stack import Workers
from durable_chat.workflows.offline_model import decide, remember_for
from tests.browser import browser, page
from tests.conftest import token_for
from tests.test_memory_sessions import new_session, say, signed_in
from tests.workflows.driver import eventually

__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py


def test_the_offline_assistant_reads_how_long_to_remember() -> None:
    assert remember_for('remember for a week that I am in Rome') == (
        'remember',
        {'fact': 'I am in Rome', 'decision': 'rules', 'expires_in_days': 7.0},
    )
    assert remember_for('Please remember for 3 days that the code is 1234') == (
        'remember',
        {'fact': 'the code is 1234', 'decision': 'rules', 'expires_in_days': 3.0},
    )
    step = remember_for('remember for 12 hours, that I am on call')
    assert step is not None and step[1]['expires_in_days'] == 0.5
    # Through the day named, UTC.
    assert remember_for('remember until 2026-12-01 that I am in Oslo') == (
        'remember',
        {'fact': 'I am in Oslo', 'decision': 'rules', 'expires_at': '2026-12-02T00:00:00+00:00'},
    )
    assert remember_for('remember that I am in Oslo') is None
    assert remember_for('remember until 2026-13-01 that I am in Oslo') is None


def test_the_offline_assistant_calls_remember_with_the_expiry() -> None:
    said: list[ModelMessage] = [
        ModelRequest(parts=[UserPromptPart('remember for 2 days that my bike is at the shop')])
    ]
    assert decide(said, None) == (
        'remember',
        {'fact': 'my bike is at the shop', 'decision': 'rules', 'expires_in_days': 2.0},
    )
    plain: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart('remember that my bike is at the shop')])]
    assert decide(plain, None) == ('remember', {'fact': 'my bike is at the shop', 'decision': 'rules'})


@pytest.fixture
async def hana(api_url: str, workers: Workers) -> AsyncIterator[httpx.AsyncClient]:
    workers.ensure_one()
    async with signed_in(api_url, 'hana') as http:
        await http.delete('/memories')
        yield http
        await http.delete('/memories')


@pytest.mark.integration
async def test_an_expired_memory_is_not_recalled_nor_listed_and_the_schedule_purges_it(
    api_url: str, hana: httpx.AsyncClient, temporal_client: Client
) -> None:
    session = await new_session(hana)
    # An expiry that can't be kept is said to the model, and nothing is stored.
    for bad in ({'expires_in_days': 0}, {'expires_at': 'next week'}, {'expires_at': '2020-01-01T00:00:00Z'}):
        answer = await say(
            api_url, hana, 'hana', session, f'call remember {json.dumps({"fact": "x y z"} | bad)}'
        )
        assert answer.startswith('remember said: Not remembered:'), answer
    assert 'x y z' not in [m['text'] for m in (await hana.get('/memories')).json()]

    # Short, and set just before the call: a slow turn on a busy machine still lists it.
    expires = datetime.now(UTC) + timedelta(seconds=6)
    args = {'fact': 'I am parked on level 3', 'decision': 'add', 'expires_at': expires.isoformat()}
    reply = await say(api_url, hana, 'hana', session, f'call remember {json.dumps(args)}')
    assert reply.startswith(
        f'remember said: added: I am parked on level 3 (until {expires:%Y-%m-%d %H:%M} UTC)'
    )
    [memory] = (await hana.get('/memories')).json()
    assert datetime.fromisoformat(memory['expires_at']) == expires

    async def listed_none() -> bool | None:
        return True if (await hana.get('/memories')).json() == [] else None

    # The expiry itself is what is awaited: it passes, and the memory is gone from the listing.
    await eventually(listed_none, 'the expired memory to leave the listing', 30)
    assert datetime.now(UTC) >= expires
    assert (await hana.get('/memories', params={'q': 'where am I parked?'})).json() == []
    assert (await hana.get(f'/memories/{memory["id"]}')).status_code == 404
    assert await say(api_url, hana, 'hana', session, 'instructions: where am I parked?') == (
        'Instructed: nothing'
    )

    async def schedule_made() -> bool | None:
        try:
            await temporal_client.get_schedule_handle(PURGE_SCHEDULE_ID).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return True

    await eventually(schedule_made, 'the purge schedule', 30)  # made by the memory worker as it starts
    handle = temporal_client.get_schedule_handle(PURGE_SCHEDULE_ID)
    seen = {
        a.action.workflow_id
        for a in (await handle.describe()).info.recent_actions
        if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
    }
    await handle.trigger()

    async def new_run() -> str | None:
        actions = (await handle.describe()).info.recent_actions
        started = [
            a.action.workflow_id
            for a in actions
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow) and a.action.workflow_id not in seen
        ]
        return started[-1] if started else None

    run = await eventually(new_run, 'the triggered purge run', 30)
    deleted = await temporal_client.get_workflow_handle(run).result()
    assert isinstance(deleted, int) and deleted >= 1
    # Nothing of it is left to come back: remembering it again is a new memory.
    again = await say(api_url, hana, 'hana', session, 'remember that I am parked on level 3')
    assert 'added: I am parked on level 3' in again


@pytest.mark.integration
async def test_the_memory_panel_shows_until_when_a_memory_is_kept(
    page: Page, api_url: str, worker: Process
) -> None:
    async with signed_in(api_url, 'ivo') as http:
        await http.delete('/memories')
    await page.goto(f'{api_url}/#token={token_for("ivo")}')
    await page.click('#new-session')
    await expect(page.locator('#text')).to_be_enabled()
    args = {'fact': 'I am in Lisbon this week', 'decision': 'add', 'expires_in_days': 7}
    await page.fill('#text', f'call remember {json.dumps(args)}')
    await page.press('#text', 'Enter')
    await expect(page.locator('#turns li .assistant').first).to_have_attribute('data-status', 'done')
    kept = datetime.now(UTC) + timedelta(days=7)

    memory = page.locator('#memories li[data-memory-id]')
    await expect(memory.locator('.memory-text')).to_have_text('I am in Lisbon this week')
    await expect(memory.locator('.memory-expires')).to_contain_text('until')
    # The page's locale spells the date; its year and day are in it either way.
    await expect(memory.locator('.memory-expires')).to_contain_text(str(kept.year))
    await expect(memory.locator('.memory-said')).to_contain_text('said')
