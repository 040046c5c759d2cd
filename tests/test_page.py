"""The chat page in real headless Chromium: start a chat, watch it stream, reload mid-reply."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.processes import Process
from tests.scripted import expected_reply

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
