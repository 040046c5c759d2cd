"""The memory panel in real headless Chromium: why a memory is remembered (a link to the chat it
was said in), its history once a newer statement replaced it, and undo of that change."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from durable_chat.testing.processes import Process
from tests.browser import browser, page
from tests.conftest import token_for

pytestmark = pytest.mark.integration
__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py


async def say(page: Page, text: str, turn: int) -> None:
    await page.fill('#text', text)
    await page.press('#text', 'Enter')
    await expect(page.locator('#turns li .assistant').nth(turn - 1)).to_have_attribute('data-status', 'done')


async def test_memory_panel_shows_why_history_and_undoes_the_last_change(
    page: Page, api_url: str, worker: Process
) -> None:
    await page.goto(f'{api_url}/#token={token_for("kim")}')
    await page.click('#new-session')
    await expect(page.locator('#text')).to_be_enabled()
    await say(page, 'remember that rent is 700 a month', 1)
    await expect(page).to_have_url(re.compile(r'#/s/[0-9a-f-]+$'))  # the URL names the open chat
    chat = page.url.split('#', 1)[1]
    await say(page, 'remember that rent went up to 850', 2)

    memory = page.locator('#memories li[data-memory-id]')
    await expect(memory.locator('.memory-text')).to_have_text('rent went up to 850')
    why = memory.locator('a.memory-why')
    await expect(why).to_have_attribute('href', f'#{chat}')
    await expect(why).to_have_attribute('title', 'turn 2 of that chat')

    await memory.locator('button.memory-history').click()
    versions = memory.locator('.memory-versions li')
    await expect(versions).to_have_count(1)
    await expect(versions.first).to_contain_text('rent is 700 a month')
    await expect(versions.first).to_contain_text('until')

    await memory.locator('button.memory-undo').click()
    await expect(memory.locator('.memory-text')).to_have_text('rent is 700 a month')
    await expect(memory.locator('button.memory-undo')).to_have_count(0)  # nothing left to undo
