"""Nothing the server sends is run as code by the chat page: markup, script and `javascript:` links
go through every place the page shows text (the user's message, the model's reply, the chat's
title in the header and the list, a memory, a tool card's arguments and result, an approval's
reason) and nothing executes, nor does any element or handler they describe reach the DOM.

The browser context bypasses the Content-Security-Policy on purpose: the policy would stop inline
handlers anyway, and what is under test is the page's own rule (text as text, markdown sanitized).
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from durable_chat.testing.processes import Process
from tests.browser import browser, read_session
from tests.conftest import token_for
from tests.test_page import open_session_id

pytestmark = pytest.mark.integration
__all__ = ['browser']  # the browser fixture of tests/browser.py

XSS = 'window.__xss = 1'
SCRIPT_URL = 'javascript:window.__xss=1'  # no spaces: markdown takes it as a link's URL
PAYLOAD = (
    f'<img src=x onerror="{XSS}"> <script>{XSS}</script> <svg onload="{XSS}"></svg> '
    f'<iframe srcdoc="<script>parent.__xss = 1</script>"></iframe> '
    f'<a href="{SCRIPT_URL}">html link</a> [md link]({SCRIPT_URL}) <{SCRIPT_URL}> '
    f'![md image]({SCRIPT_URL}) <details open ontoggle="{XSS}">x</details>'
)

# What must never be in the page: elements that run or load something, handlers, script URLs.
FORBIDDEN = """() => {
  const found = [];
  const hosts = 'img, iframe, object, embed, svg, math, frame, script:not([src]), base, meta[http-equiv], style';
  for (const node of document.body.querySelectorAll(hosts)) found.push(node.outerHTML.slice(0, 80));
  for (const node of document.querySelectorAll('*')) {
    for (const attr of node.attributes) {
      if (/^on/i.test(attr.name)) found.push(`${node.tagName} ${attr.name}`);
      if (/^\\s*javascript:/i.test(attr.value)) found.push(`${node.tagName} ${attr.name}=${attr.value}`);
    }
  }
  return found;
}"""


async def unsafe_page(browser: Browser, api_url: str, user: str) -> Page:
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    await page.goto(f'{api_url}/#token={token_for(user)}')
    await expect(page.locator('#me')).to_have_text(user)
    return page


async def nothing_ran(page: Page) -> None:
    await page.wait_for_load_state('networkidle')  # an <img src=x> would have failed to load by now
    assert await page.evaluate('typeof window.__xss') == 'undefined'
    assert await page.evaluate(FORBIDDEN) == []


async def answered(page: Page, number: int) -> None:
    reply = page.locator(f'#turns li[data-turn="{number}"] .assistant')
    await expect(reply).to_have_attribute('data-status', 'done', timeout=30_000)


async def test_markup_in_messages_replies_and_titles_stays_text(
    browser: Browser, api_url: str, worker: Process
) -> None:
    page = await unsafe_page(browser, api_url, 'mallory')
    await page.fill('#text', PAYLOAD)
    await page.press('#text', 'Enter')
    await answered(page, 1)  # the scripted model echoes it: "Echo: <img ...> ..."
    row = page.locator('#turns li[data-turn="1"]')
    await expect(row.locator('.user')).to_have_text(PAYLOAD)  # the user's words, exactly, as text
    reply = row.locator('.assistant')
    await expect(reply).to_contain_text('<script>window.__xss = 1</script>')  # raw HTML shows as text
    await expect(reply).to_contain_text('<img src=x onerror=')
    # The markdown link is a link without its URL; the markdown image is neither image nor link.
    await expect(reply.locator('a', has_text='md link')).to_have_count(1)
    assert await reply.locator('a[href]').count() == 0
    await reply.locator('a', has_text='md link').click()
    session_id = open_session_id(page)
    title = (await read_session(api_url, 'mallory', session_id))['title']
    assert '<script>' in title
    await expect(page.locator('#title')).to_have_text(title)
    await expect(page.locator('#sessions .session-title')).to_have_text(title)
    await nothing_ran(page)

    # A title chosen by the user goes through the rename box, the list and the header.
    entry = page.locator(f'#sessions li[data-session-id="{session_id}"]')
    await entry.locator('.session-rename').click()
    renamed = f'<img src=y onerror="{XSS}"><b>bold</b>'
    await entry.locator('input.rename-input').fill(renamed)
    await entry.locator('input.rename-input').press('Enter')
    await expect(entry.locator('.session-title')).to_have_text(renamed)
    await page.reload()
    await expect(page.locator('#title')).to_have_text(renamed)
    await nothing_ran(page)
    await page.context.close()


async def test_markup_in_memories_tool_cards_and_approval_reasons_stays_text(
    browser: Browser, api_url: str, worker: Process
) -> None:
    page = await unsafe_page(browser, api_url, 'trudy')
    fact = f'my cat is Tom <img src=x onerror="{XSS}"> <script>{XSS}</script>'
    await page.fill('#text', f'remember that {fact}')
    await page.press('#text', 'Enter')
    await answered(page, 1)
    await expect(page.locator('#memories li[data-memory-id] span')).to_have_text(fact)
    card = page.locator('#turns li[data-turn="1"] .tool-call')
    await card.locator('summary').click()
    await expect(card.locator('.tool-args pre')).to_contain_text('<img src=x onerror=')
    await expect(card.locator('.tool-result pre')).to_contain_text('<script>window.__xss = 1</script>')
    await nothing_ran(page)

    await page.fill('#text', 'forget my cat')
    await page.press('#text', 'Enter')
    prompt = page.locator('.approval.pending')
    await expect(prompt).to_be_visible()
    reason = f'<img src=z onerror="{XSS}"> [no]({SCRIPT_URL})'
    await prompt.locator('.approval-reason').fill(reason)
    await prompt.locator('button.deny').click()
    await expect(page.locator('.approval.denied .approval-status')).to_have_text(f'denied by trudy: {reason}')
    await answered(page, 2)
    await page.reload()
    await expect(page.locator('.approval.denied .approval-status')).to_have_text(f'denied by trudy: {reason}')
    await nothing_ran(page)
    await page.context.close()
