"""Reminders and double-texting on the chat page, in real headless Chromium on the real stack: the
page's time zone goes with a new chat, a pending reminder is listed in it (local time, how soon) and
can be cancelled, a due one arrives in the open chat as a "Reminder" message, one due in another chat
marks that chat in the list; the double-texting policy is chosen on New chat and changed in the
header, and a refused message is said in words with its text kept."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from durable_chat.api.chat_sessions import BUSY
from durable_chat.testing.processes import Process
from durable_chat.workflows.offline_model import LABEL
from tests.browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    browser,
    read_session,
    say,
    shoot,
    sign_in,
    watch_for_problems,
)
from tests.conftest import token_for
from tests.rollover import eventually
from tests.test_page import open_session_id

pytestmark = pytest.mark.integration
__all__ = ['browser']  # the page fixture of tests/browser.py

ZONE = 'Asia/Tokyo'


@pytest.fixture
async def tokyo(browser: Browser) -> AsyncIterator[Page]:
    """A page whose browser is in Tokyo (the stack's processes are in UTC)."""
    context = await browser.new_context(timezone_id=ZONE, viewport=DESKTOP)
    yield await context.new_page()
    await context.close()


def someone() -> str:
    return f'pr-{uuid.uuid4().hex[:8]}'


def row(page: Page, number: int) -> Any:
    return page.locator(f'#turns li[data-turn="{number}"]')


async def answered(page: Page, number: int) -> None:
    await expect(row(page, number).locator('.assistant')).to_have_attribute(
        'data-status', 'done', timeout=30_000
    )


async def listed_sessions(api_url: str, user: str) -> list[dict[str, Any]]:
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as client:
        response = await client.get('/sessions')
        response.raise_for_status()
        return response.json()


async def test_a_reminder_is_listed_in_local_time_cancelled_or_delivered_as_a_reminder_message(
    tokyo: Page, api_url: str, worker: Process
) -> None:
    page, user = tokyo, someone()
    problems = watch_for_problems(page)
    await sign_in(page, api_url, user)
    await say(page, 'remind me in 60 seconds to call Ana')
    await answered(page, 1)
    session_id = open_session_id(page)
    session = await read_session(api_url, user, session_id)
    assert session['timezone'] == ZONE  # the page's time zone went with the new chat
    [reminder] = session['reminders']

    panel = page.locator('#reminders')
    await expect(panel).to_be_visible()
    await expect(panel.locator('#reminders-count')).to_have_text('1 reminder')
    item = panel.locator('.reminder')
    await expect(item.locator('.reminder-text')).to_have_text('call Ana')
    local = datetime.fromisoformat(reminder['due']).astimezone(ZoneInfo(ZONE))
    # In Tokyo's time (UTC+9), to the second; and how soon.
    await expect(item.locator('.reminder-when')).to_contain_text(f'{local:%H:%M:%S} GMT+9')
    await expect(item.locator('.reminder-soon')).to_have_text(re.compile(r'^in (\d+ s|1 min)$'))
    assert await axe_violations(page) == []
    await shoot(page, 'reminders', DESKTOP, 'light')

    await item.get_by_role('button', name='cancel the reminder: call Ana').click()
    await expect(panel.locator('#reminders-note')).to_have_text('Cancelled: call Ana')
    await expect(panel.locator('.reminder')).to_have_count(0)
    cancelled = await read_session(api_url, user, session_id)
    assert [(r['id'], r['status']) for r in cancelled['reminders']] == [(reminder['id'], 'cancelled')]

    # One that comes: a message of the assistant's labelled "Reminder", with no message of the user's.
    await say(page, 'remind me in 3 seconds to stretch')
    await answered(page, 2)
    await expect(panel.locator('.reminder-text')).to_have_text('stretch')
    await answered(page, 3)
    reminder_row = row(page, 3)
    await expect(reminder_row.locator('.reminder-label')).to_have_text('Reminder')
    await expect(reminder_row.locator('.user')).to_have_count(0)
    await expect(reminder_row.locator('.assistant')).to_have_text(f'{LABEL} Reminder: stretch')
    # Nothing to edit or regenerate: the last turn is the session's own.
    await expect(page.locator('#turns .edit, #turns .regenerate')).to_have_count(0)
    await expect(panel).to_be_hidden()  # none pending
    turns = (await read_session(api_url, user, session_id))['turns']
    assert [(t['kind'], t['user_text']) for t in turns] == [
        ('message', 'remind me in 60 seconds to call Ana'),
        ('message', 'remind me in 3 seconds to stretch'),
        ('reminder', ''),
    ]
    await shoot(page, 'reminder-message', PHONE, 'dark')
    assert await axe_violations(page) == []  # the phone layout, dark
    assert problems == []


async def test_a_reminder_due_in_another_chat_marks_it_in_the_list(
    tokyo: Page, api_url: str, worker: Process
) -> None:
    page, user = tokyo, someone()
    await sign_in(page, api_url, user)
    await say(page, 'remind me in 15 seconds to drink water')
    await answered(page, 1)
    first = open_session_id(page)

    # The page has seen the chat as it is once its turn ended (idle, with that turn's last activity):
    # any later activity is the reminder's.
    async def idle() -> bool:
        return [s['status'] for s in await listed_sessions(api_url, user) if s['session_id'] == first] == [
            'idle'
        ]

    await eventually(idle, True)
    [listed] = [s for s in await listed_sessions(api_url, user) if s['session_id'] == first]
    await page.wait_for_function(
        "([id, at]) => JSON.parse(localStorage.getItem('durable-chat-seen') || '{}')[id] === at",
        arg=[first, listed['last_activity']],
        timeout=15_000,
    )

    await page.click('#new-session')
    await say(page, 'hello')
    await answered(page, 1)
    entry = page.locator(f'#sessions li[data-session-id="{first}"]')
    await expect(entry.locator('.badge-unread')).to_have_count(0)
    # The reminder turn runs in the other chat: its entry says so (the list is read every few seconds).
    await expect(entry.locator('.badge-unread')).to_have_text('new', timeout=40_000)
    held = await read_session(api_url, user, first)
    assert [t['kind'] for t in held['turns']] == ['message', 'reminder']
    assert await axe_violations(page) == []

    await entry.locator('.session-open').click()
    await expect(row(page, 2).locator('.reminder-label')).to_have_text('Reminder')
    await expect(row(page, 2).locator('.assistant')).to_have_text(f'{LABEL} Reminder: drink water')
    await expect(entry.locator('.badge-unread')).to_have_count(0)  # seen now


async def test_the_policy_is_chosen_on_new_chat_changed_in_the_header_and_a_refusal_said(
    tokyo: Page, api_url: str, worker: Process
) -> None:
    page, user = tokyo, someone()
    await sign_in(page, api_url, user)
    await page.click('#new-session')
    await expect(page.locator('#new-policy')).to_have_value('enqueue')
    await page.select_option('#new-policy', 'reject')
    await say(page, 'slow 300')
    await expect(row(page, 1).locator('.assistant')).to_contain_text('w3 ')
    session_id = open_session_id(page)
    assert (await read_session(api_url, user, session_id))['double_texting'] == 'reject'
    policy = page.locator('#session-policy')
    await expect(policy).to_have_value('reject')

    # While the reply is written: refused, in words, and the text stays in the box to send later.
    await say(page, 'are you there?')
    await expect(page.locator('#error')).to_have_text(f'Not sent. {BUSY}')
    await expect(page.locator('#text')).to_have_value('are you there?')
    assert [t['user_text'] for t in (await read_session(api_url, user, session_id))['turns']] == ['slow 300']

    # Changed in the header to interrupt: the same text, sent again, stops the reply and is answered.
    await policy.select_option('interrupt')
    await expect(page.locator('#policy-note')).to_have_text(
        'New messages while a reply is written now stop the reply.'
    )
    assert (await read_session(api_url, user, session_id))['double_texting'] == 'interrupt'
    await page.press('#text', 'Enter')
    await answered(page, 2)
    await expect(row(page, 1).locator('.assistant')).to_have_attribute('data-status', 'interrupted')
    await expect(row(page, 2).locator('.user')).to_have_text('are you there?')
    await expect(policy).to_have_value('interrupt')
    await policy.select_option('enqueue')
    await expect(page.locator('#policy-note')).to_have_text(
        'New messages while a reply is written now wait their turn.'
    )
    assert (await read_session(api_url, user, session_id))['double_texting'] == 'enqueue'
    assert await axe_violations(page) == []

    # The next New chat starts from the default again.
    await page.click('#new-session')
    await expect(page.locator('#new-policy')).to_have_value('enqueue')
