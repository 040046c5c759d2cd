"""New chat with several agents, in real headless Chromium, on a stack of its own: its agents (the
built-in one and tests/page_agents) are not the other tests', and it starts with no chat worker, so
the page meets `GET /agents` before any worker has published them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.stack import HIGH_LIMITS, SCRIPTED_MODEL, Stack
from durable_chat.workflows.agents.specs import BUILTIN_DIR
from durable_chat.workflows.offline_model import LABEL
from tests.browser import browser, page, read_agents, read_session
from tests.conftest import SECRET, token_for
from tests.test_page import open_session_id

pytestmark = pytest.mark.integration
__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py

PAGE_AGENTS = Path(__file__).parent / 'page_agents'


@pytest.fixture(scope='module')
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {**HIGH_LIMITS, 'DURABLE_CHAT_AGENTS_DIR': f'{BUILTIN_DIR}:{PAGE_AGENTS}'}
    stack = Stack(tmp_path_factory.mktemp('page-agents'), secret=SECRET, settings=settings)
    stack.start(chat_workers=0)
    try:
        stack.api()
        yield stack
    finally:
        stack.stop()


async def test_new_chat_lists_the_agents_and_starts_with_the_picked_one(page: Page, own_stack: Stack) -> None:
    api_url = own_stack.apis[0].url
    await page.goto(f'{api_url}/#token={token_for("rosa")}')
    await expect(page.locator('#me')).to_have_text('rosa')

    # No chat worker has published its agents yet: New chat says so, and a message still starts a
    # chat (the default agent's), answered once a worker comes.
    await page.click('#new-session')
    error = page.locator('#error')
    await expect(error).to_have_text(
        'The agents could not be listed: no chat worker has published its agents yet: start one (durable-chat worker)'
    )
    await expect(page.locator('#new-chat')).to_be_hidden()
    await page.fill('#text', 'hello')
    await page.press('#text', 'Enter')
    await expect(page.locator('#turns li .user')).to_have_text('hello')
    await expect(error).to_have_text('')

    await asyncio.to_thread(own_stack.workers.start)
    first = page.locator('#turns li .assistant')
    await expect(first).to_have_attribute('data-status', 'done', timeout=30_000)
    await expect(first).to_have_text(expected_reply('hello'))
    session = await read_session(api_url, 'rosa', open_session_id(page))
    assert (session['agent'], session['turns'][0]['model']) == ('chat', SCRIPTED_MODEL)
    await expect(page.locator('#session-agent')).to_have_text('chat')
    await expect(page.locator('#session-model')).to_have_value(SCRIPTED_MODEL)  # the agent's default

    agents = await read_agents(api_url, 'rosa')
    assert [(a['name'], a['default']) for a in agents] == [('chat', True), ('poet', False)]
    await page.click('#new-session')
    options = page.locator('#agent-choice .agent-option')
    await expect(options.locator('.agent-name')).to_have_text([a['name'] for a in agents])
    await expect(options.locator('.agent-description')).to_have_text([a['description'] for a in agents])
    await expect(error).to_have_text('')
    chat, poet = options.nth(0), options.nth(1)
    await expect(chat.locator('input')).to_be_checked()  # the default agent, with its default model
    await expect(page.locator('#new-model')).to_have_value(SCRIPTED_MODEL)
    await expect(page.locator('#new-model option')).to_have_text([SCRIPTED_MODEL, 'offline'])

    await poet.click()
    await expect(page.locator('#model-choice')).to_be_hidden()  # one model: nothing to pick
    await page.fill('#text', 'hello')
    await page.press('#text', 'Enter')
    reply = page.locator('#turns li .assistant').first
    await expect(reply).to_have_attribute('data-status', 'done')
    await expect(reply).to_contain_text(LABEL)
    session = await read_session(api_url, 'rosa', open_session_id(page))
    assert (session['agent'], session['model']) == ('poet', 'offline')
    await expect(page.locator('#session-agent')).to_have_text('poet')
    await expect(page.locator('#session-model-name')).to_have_text('offline')
    await expect(page.locator('#session-model')).to_be_hidden()
