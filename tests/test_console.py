"""The operator console in real headless Chromium: every session listed once, watched live, its
approvals answered, its turn interrupted and the session cancelled."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect
from temporalio.client import Client

from durable_chat.testing.processes import Process
from tests.browser import browser, page
from tests.conftest import token_for
from tests.rollover import rolled_over_sessions

pytestmark = pytest.mark.integration
__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py


async def test_operator_console_watches_denies_interrupts_and_cancels(
    page: Page, api_url: str, worker: Process
) -> None:
    headers = {'Authorization': f'Bearer {token_for("hank")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as hank:
        first = {'id': 'm-1', 'text': 'remember that my boat is blue'}
        waiting = (await hank.post('/sessions', json={'message': first})).json()['session_id']
        await hank.post(f'/sessions/{waiting}/messages', json={'id': 'm-2', 'text': 'forget my boat'})
        running = (await hank.post('/sessions', json={'message': {'id': 'm-1', 'text': 'slow 300'}})).json()[
            'session_id'
        ]

        await page.goto(f'{api_url}/operator.html#token={token_for("olga", "operator")}')
        await page.fill('#filter-user', 'hank')
        await page.click('#filters button')
        row = page.locator(f'tr[data-session-id="{waiting}"]')
        await expect(row).to_have_attribute('data-status', 'awaiting_approval', timeout=15_000)
        await row.click()
        prompt = page.locator('.approval.pending')
        await prompt.locator('.approval-reason').fill('not today')
        await prompt.locator('button.deny').click()
        reply = page.locator('#turns li').nth(1).locator('.assistant')
        await expect(reply).to_have_attribute('data-status', 'done')
        await expect(reply).to_contain_text('not today')

        await page.locator(f'tr[data-session-id="{running}"]').click()
        live = page.locator('#turns li').nth(0).locator('.assistant')
        await expect(live).to_contain_text('w3 ')
        await page.click('#interrupt')
        await expect(live).to_have_attribute('data-status', 'interrupted')
        await page.click('#cancel')
        await expect(page.locator('#status')).to_have_text('closed')
        await expect(page.locator(f'tr[data-session-id="{running}"]')).to_have_attribute(
            'data-status', 'closed', timeout=15_000
        )
        assert (await hank.get(f'/sessions/{running}')).json()['status'] == 'closed'


async def test_operator_console_lists_a_rolled_over_session_once(
    page: Page, small_limits_api: str, temporal_client: Client
) -> None:
    sessions = await rolled_over_sessions(small_limits_api, temporal_client)
    await page.goto(f'{small_limits_api}/operator.html#token={token_for("olga", "operator")}')
    await page.fill('#filter-user', sessions.user)
    await page.click('#filters button')
    rows = page.locator('#sessions tr')
    idle = page.locator(f'tr[data-session-id="{sessions.idle}"]')
    closed = page.locator(f'tr[data-session-id="{sessions.closed}"]')
    await expect(rows).to_have_count(2, timeout=15_000)
    await expect(idle).to_have_count(1)
    await expect(closed).to_have_count(1)
    await expect(idle).to_have_attribute('data-status', 'idle')
    await expect(closed).to_have_attribute('data-status', 'closed')

    await page.select_option('#filter-status', 'closed')
    await page.click('#filters button')
    await expect(rows).to_have_count(1)
    await expect(rows).to_have_attribute('data-session-id', sessions.closed)
