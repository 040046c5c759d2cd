"""Check-ins on the chat page, in real headless Chromium on the real stack: an active check-in is listed
in the open chat (what about, when in words in the chat's time zone, its next time) and can be
cancelled; each time one comes, it is a message of the assistant's labelled "Check-in"."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from durable_chat.testing.processes import Process
from tests.browser import (
    DESKTOP,
    axe_violations,
    browser,
    read_session,
    say,
    shoot,
    sign_in,
    watch_for_problems,
)
from tests.test_page import open_session_id
from tests.test_page_reminders import ZONE, row, tokyo

pytestmark = pytest.mark.integration
__all__ = ['browser', 'tokyo']  # fixtures: the browser (tests/browser.py), a page in Tokyo


async def answered(page: Page, number: int) -> None:
    await expect(row(page, number).locator('.assistant')).to_have_attribute(
        'data-status', 'done', timeout=30_000
    )


def call(**args: object) -> str:
    return f'call check_in {json.dumps(args)}'


async def test_a_check_in_is_listed_cancelled_and_comes_as_a_check_in_message(
    tokyo: Page, api_url: str, worker: Process
) -> None:
    page, user = tokyo, f'pc-{uuid.uuid4().hex[:8]}'
    problems = watch_for_problems(page)
    await sign_in(page, api_url, user)
    await say(page, call(text='my week', cron='0 9 * * 1'))
    await answered(page, 1)
    session_id = open_session_id(page)

    panel = page.locator('#check-ins')
    await expect(panel).to_be_visible()
    await expect(panel.locator('#check-ins-count')).to_have_text('1 check-in')
    item = panel.locator('.check-in')
    await expect(item.locator('.reminder-text')).to_have_text('my week')
    await expect(item.locator('.check-in-schedule')).to_have_text('every Monday at 09:00 (Asia/Tokyo)')
    # Its next time, from its schedule, in Tokyo's time: a Monday at 9:00.
    await expect(item.locator('.check-in-next')).to_contain_text('09:00:00 GMT+9')
    next_run = await item.locator('.check-in-next').get_attribute('datetime')
    assert next_run is not None
    assert datetime.fromisoformat(next_run).astimezone(ZoneInfo(ZONE)).strftime('%A %H:%M') == 'Monday 09:00'
    assert await axe_violations(page) == []
    await shoot(page, 'check-ins', DESKTOP, 'light')

    await item.get_by_role('button', name='cancel the check-in: my week').click()
    await expect(panel.locator('#check-ins-note')).to_have_text('Cancelled: my week')
    await expect(panel.locator('.check-in')).to_have_count(0)
    [cancelled] = (await read_session(api_url, user, session_id))['check_ins']
    assert (cancelled['status'], cancelled['cancelled_by']) == ('cancelled', user)

    # One that comes: a message of the assistant's labelled "Check-in", with no message of the user's.
    await say(page, call(text='drink water', every_seconds=2))
    await answered(page, 2)
    await expect(panel.locator('.reminder-text')).to_have_text('drink water')
    await expect(panel.locator('.check-in-schedule')).to_have_text('every 2 seconds')
    await answered(page, 3)
    check_in_row = row(page, 3)
    await expect(check_in_row.locator('.reminder-label')).to_have_text('Check-in')
    await expect(check_in_row.locator('.user')).to_have_count(0)
    await expect(check_in_row.locator('.assistant')).to_contain_text('ask them about: drink water')
    await panel.get_by_role('button', name='cancel the check-in: drink water').click()
    await expect(panel.locator('#check-ins-note')).to_have_text('Cancelled: drink water')
    assert [c['status'] for c in (await read_session(api_url, user, session_id))['check_ins']] == [
        'cancelled',
        'cancelled',
    ]
    assert await axe_violations(page) == []
    assert problems == []
