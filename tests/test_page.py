"""The chat page in real headless Chromium: start a chat, watch it stream, reload mid-reply."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.client import Client

from tests.conftest import token_for
from tests.processes import Process
from tests.rollover import rolled_over_sessions
from tests.scripted import expected_reply
from workflows.offline_model import LABEL

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
]


@pytest.fixture(scope='session')
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    yield page
    await context.close()


async def test_page_streams_a_reply_and_a_reload_mid_reply_continues_it(
    page: Page, api_url: str, worker: Process, alice_token: str
) -> None:
    await page.goto(f'{api_url}/#token={alice_token}')
    await expect(page.locator('#me')).to_have_text('alice')
    await page.click('#new-session')
    await expect(page.locator('#text')).to_be_enabled()
    await page.fill('#text', 'slow 40')
    await page.press('#text', 'Enter')

    reply = page.locator('#turns li .assistant').last
    await expect(reply).to_contain_text('w3 ')
    partial = await reply.text_content()
    assert partial is not None and 'w40' not in partial  # seen mid-stream, not whole

    await page.reload()
    await expect(page.locator('#turns li .user').first).to_have_text('slow 40')
    reply = page.locator('#turns li .assistant').last
    await expect(reply).to_have_attribute('data-status', 'done', timeout=30_000)
    assert await reply.text_content() == expected_reply('slow 40')

    # The session is listed, and a second message is answered after the first.
    await expect(page.locator('#sessions li')).not_to_have_count(0)
    await page.fill('#text', 'and another')
    await page.press('#text', 'Enter')
    second = page.locator('#turns li').nth(1).locator('.assistant')
    await expect(second).to_have_attribute('data-status', 'done', timeout=30_000)
    assert await second.text_content() == expected_reply('and another')


async def test_page_approval_prompt_approves_a_forget(page: Page, api_url: str, worker: Process) -> None:
    await page.goto(f'{api_url}/#token={token_for("gina")}')
    await page.click('#new-session')
    await expect(page.locator('#text')).to_be_enabled()
    await page.fill('#text', 'remember that my cat is called Tom')
    await page.press('#text', 'Enter')
    await expect(page.locator('#turns li').nth(0).locator('.assistant')).to_have_attribute(
        'data-status', 'done'
    )
    await page.fill('#text', 'forget my cat')
    await page.press('#text', 'Enter')

    prompt = page.locator('.approval.pending')
    await expect(prompt).to_contain_text('forget(')
    await expect(page.locator('#status')).to_have_text('awaiting approval')
    await prompt.locator('button.approve').click()
    second = page.locator('#turns li').nth(1).locator('.assistant')
    await expect(second).to_have_attribute('data-status', 'done')
    await expect(second).to_have_text(f"{LABEL} Done: I've forgotten it.")
    await expect(page.locator('.approval.approved')).to_contain_text('approved by gina')


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


async def test_memory_panel_lists_what_was_remembered_and_forgets_it(
    page: Page, api_url: str, worker: Process
) -> None:
    await page.goto(f'{api_url}/#token={token_for("jill")}')
    await expect(page.locator('#memories')).to_contain_text('Nothing yet')
    await page.click('#new-session')
    await expect(page.locator('#text')).to_be_enabled()
    await page.fill('#text', 'remember that my favourite tree is the oak')
    await page.press('#text', 'Enter')
    memory = page.locator('#memories li[data-memory-id]')
    await expect(memory).to_have_text('my favourite tree is the oakforget')
    await memory.locator('button.forget').click()
    await expect(page.locator('#memories')).to_contain_text('Nothing yet')
    headers = {'Authorization': f'Bearer {token_for("jill")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as jill:
        assert (await jill.get('/memories')).json() == []
