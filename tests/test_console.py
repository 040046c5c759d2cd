"""The operator console in Chromium on the real stack: sessions listed, searched and watched live
(in the URL), interrupted and cancelled; all approvals in one queue; live stats; hostile text; axe."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect
from temporalio.client import Client

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from tests import browser as pages
from tests.browser import browser, page
from tests.conftest import token_for
from tests.rollover import rolled_over_sessions

pytestmark = pytest.mark.integration
__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py


def user_named(name: str) -> str:
    """A user of this test alone: the queue and the lists hold every test's sessions."""
    return f'{name}-{uuid.uuid4().hex[:6]}'


def client_of(api_url: str, user: str) -> httpx.AsyncClient:
    headers = {'Authorization': f'Bearer {token_for(user)}'}
    return httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30)


async def start(client: httpx.AsyncClient, text: str) -> str:
    response = await client.post('/sessions', json={'message': {'id': 'm-1', 'text': text}})
    response.raise_for_status()
    return response.json()['session_id']


async def ask_to_forget(client: httpx.AsyncClient, thing: str, value: str) -> str:
    """A session whose second turn waits for approval: the offline assistant asks to run `forget`."""
    session_id = await start(client, f'remember that my {thing} is {value}')
    message = {'id': 'm-2', 'text': f'forget my {thing}'}
    (await client.post(f'/sessions/{session_id}/messages', json=message)).raise_for_status()
    return session_id


async def open_console(page: Page, api_url: str, user: str | None = None) -> None:
    await page.goto(f'{api_url}/operator.html#token={token_for("olga", "operator")}')
    if user:
        await page.fill('#filter-user', user)
        await page.click('#filters button[type=submit]')


def row(page: Page, session_id: str) -> Locator:
    return page.locator(f'#sessions li[data-session-id="{session_id}"]')


def queued(page: Page, session_id: str) -> Locator:
    return page.locator(f'#approvals .queue-item[data-session-id="{session_id}"]')


def reply(page: Page, turn: int) -> Locator:
    return page.locator('#turns li').nth(turn - 1).locator('.assistant')


async def test_console_streams_a_running_turn_keeps_it_across_reload_interrupts_and_cancels(
    page: Page, api_url: str, worker: Process
) -> None:
    hank = user_named('hank')
    async with client_of(api_url, hank) as client:
        running = await start(client, 'slow 600')
        await open_console(page, api_url, hank)
        # By keyboard: the row's link, Enter.
        await row(page, running).locator('.session-open').focus()
        await page.keyboard.press('Enter')
        await expect(page).to_have_url(re.compile(f'#session={running}$'))
        live = reply(page, 1)
        await expect(live).to_contain_text('w3 ', timeout=15_000)
        await expect(live).to_have_attribute('data-status', 'running')
        await expect(page.locator('#session-info')).to_contain_text(hank)

        # The URL names the watched session: a reload watches it again, the stream going on.
        await page.reload()
        await expect(page.locator('#title')).to_have_text('slow 600')
        await expect(reply(page, 1)).to_contain_text('w20 ', timeout=15_000)
        await expect(row(page, running)).to_have_class(re.compile('selected'))

        await page.click('#interrupt')
        await expect(reply(page, 1)).to_have_attribute('data-status', 'interrupted')
        await expect(page.locator('#watch-note')).to_contain_text('Interrupted')

        # Cancel asks first: keeping it changes nothing.
        await page.click('#cancel')
        await expect(page.locator('#confirm-cancel')).to_be_visible()
        await expect(page.locator('#confirm-cancel-text')).to_contain_text(hank)
        await page.keyboard.press('Escape')
        await expect(page.locator('#confirm-cancel')).to_be_hidden()
        assert (await client.get(f'/sessions/{running}')).json()['status'] != 'closed'

        await page.click('#cancel')
        await page.click('#confirm-cancel-yes')
        await expect(page.locator('#status')).to_have_text('closed')
        await expect(page.locator('#cancel')).to_be_disabled()
        await expect(row(page, running)).to_have_attribute('data-status', 'closed', timeout=15_000)
        assert (await client.get(f'/sessions/{running}')).json()['status'] == 'closed'


async def test_console_queues_two_users_approvals_and_each_answer_resumes_its_turn(
    page: Page, api_url: str, worker: Process
) -> None:
    hank, ivy = user_named('hank'), user_named('ivy')
    async with client_of(api_url, hank) as hank_client, client_of(api_url, ivy) as ivy_client:
        boat = await ask_to_forget(hank_client, 'boat', 'blue')
        car = await ask_to_forget(ivy_client, 'car', 'red')
    await open_console(page, api_url)
    for session_id, user in ((boat, hank), (car, ivy)):
        item = queued(page, session_id)
        await expect(item).to_have_count(1, timeout=20_000)
        await expect(item.locator('.queue-user')).to_have_text(user)
        await expect(item.locator('.queue-tool-name')).to_have_text('forget')
        await expect(item.locator('.queue-args')).to_contain_text('memory_id')

    # Watch hank's session from its queue item, then deny with a reason: the turn goes on, refused.
    await queued(page, boat).locator('.queue-watch').click()
    await expect(page).to_have_url(re.compile(f'#session={boat}$'))
    await expect(reply(page, 1)).to_have_attribute('data-status', 'done')
    await queued(page, boat).locator('.queue-reason').fill('not today')
    await queued(page, boat).locator('button.deny').click()
    await expect(queued(page, boat)).to_have_count(0)
    await expect(page.locator('#approvals-note')).to_contain_text(f'Denied forget for {hank}: not today')
    await expect(reply(page, 2)).to_have_attribute('data-status', 'done', timeout=15_000)
    await expect(reply(page, 2)).to_contain_text('not today')

    # Ivy's, approved with a reason, by keyboard: the memory is forgotten and her turn finishes.
    await queued(page, car).locator('.queue-watch').click()
    await expect(page).to_have_url(re.compile(f'#session={car}$'))
    await queued(page, car).locator('.queue-reason').fill('she asked twice')
    await queued(page, car).locator('button.approve').focus()
    await page.keyboard.press('Enter')
    await expect(queued(page, car)).to_have_count(0)
    await expect(reply(page, 2)).to_have_attribute('data-status', 'done', timeout=15_000)
    await expect(reply(page, 2)).to_contain_text('forgotten')
    approval = (await pages.read_session(api_url, ivy, car))['approvals'][0]
    answered = (approval['status'], approval['reason'], approval['answered_by'])
    assert answered == ('approved', 'she asked twice', 'olga')
    await expect(queued(page, boat)).to_have_count(0)  # answered ones stay out on later refreshes


async def test_console_stats_panel_draws_the_api_measurements_as_sparklines(
    page: Page, api_url: str, worker: Process
) -> None:
    # The API measures what passes through it: turns asked over a websocket (kept open, an active
    # session) and their first tokens.
    sam = user_named('sam')
    async with client_of(api_url, sam) as client:
        session_id = await start(client, 'hello one')
    chat = await ChatClient(api_url, session_id, token_for(sam)).connect()
    await chat.wait_for(lambda: chat.done(1))
    for turn, text in ((2, 'hello two'), (3, 'hello three')):
        await chat.send(f'm-{turn}', text)
        await chat.wait_for(lambda turn=turn: chat.done(turn))
    try:
        await open_console(page, api_url)
        await expect(page.locator('.metric svg')).to_have_count(5, timeout=15_000)  # one chart a metric
        # The turns just made are measured: the turns and first-token series have a line with points.
        for metric in ('turns_per_minute', 'first_token_p50_ms', 'first_token_p95_ms'):
            line = page.locator(f'.metric[data-metric="{metric}"] polyline').first
            await expect(line).to_have_attribute(
                'points', re.compile(r'^[\d.]+,[\d.]+( [\d.]+,[\d.]+)+$'), timeout=30_000
            )
        # Each tile's words are its numbers: the value shown is the one its chart's label and title say.
        tiles = await page.eval_on_selector_all(
            '.metric',
            """tiles => tiles.map(t => ({
                value: t.querySelector('.metric-value').textContent,
                label: t.querySelector('svg').getAttribute('aria-label'),
                title: t.querySelector('svg title').textContent,
                role: t.querySelector('svg').getAttribute('role')}))""",
        )
        assert len(tiles) == 5
        for tile in tiles:
            assert tile['role'] == 'img' and tile['label'] == tile['title']
            assert re.fullmatch(r'\d+(\.\d)?( ms| s)?|\d+\.\d\d s|—', tile['value']), tile
            said = 'no measurement' if tile['value'] == '—' else tile['value']
            assert f'now {said};' in tile['label'], tile
        assert int(tiles[0]['value']) >= 1  # active sessions: at least sam's, its websocket open
    finally:
        await chat.disconnect()


async def test_console_shows_hostile_titles_arguments_and_reasons_as_text(
    browser: Browser, api_url: str, worker: Process
) -> None:
    # Past the Content-Security-Policy: the page itself must insert them as text.
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    mallory = user_named('mallory')
    title = '<img src=x onerror="window.__xss=1">'
    args = '{"memory_id": "<script>window.__xss=2</script>"}'
    reason = '<img src=y onerror="window.__xss=3">'
    async with client_of(api_url, mallory) as client:
        titled = await start(client, title)
        asking = await start(client, f'call forget {args}')
    problems = pages.watch_for_problems(page)
    await open_console(page, api_url, mallory)
    await expect(row(page, titled).locator('.session-title')).to_have_text(title, timeout=15_000)
    item = queued(page, asking)
    script = '<script>window.__xss=2</script>'
    await expect(item.locator('.queue-args')).to_contain_text(script, timeout=20_000)

    await row(page, titled).locator('.session-open').click()
    await expect(page.locator('#title')).to_have_text(title)
    await expect(reply(page, 1)).to_contain_text(title)
    await item.locator('.queue-watch').click()
    await item.locator('.queue-reason').fill(reason)
    await item.locator('button.deny').click()
    await expect(page.locator('#approvals-note')).to_contain_text(reason)
    await expect(reply(page, 1)).to_have_attribute('data-status', 'done', timeout=15_000)

    assert await page.evaluate('() => window.__xss') is None
    hostile = "document.querySelectorAll('img[src=x], img[src=y], script:not([src])').length"
    assert await page.evaluate(f'() => {hostile}') == 0
    assert not [p for p in problems if 'uncaught' in p], problems
    await context.close()


async def test_console_passes_axe_at_both_widths_in_both_themes_and_is_photographed(
    page: Page, api_url: str, worker: Process
) -> None:
    nora, otto = user_named('nora'), user_named('otto')
    async with client_of(api_url, nora) as nora_client, client_of(api_url, otto) as otto_client:
        greeted = await start(nora_client, 'hello there')
        watched = await start(nora_client, 'remember that my garden gate code is 4321')
        message = {'id': 'm-2', 'text': 'forget my garden gate code'}
        (await nora_client.post(f'/sessions/{watched}/messages', json=message)).raise_for_status()
        await ask_to_forget(otto_client, 'bike', 'green')
    # A turn over a websocket, so the stats panel has first-token times to draw.
    chat = await ChatClient(api_url, greeted, token_for(nora)).connect()
    try:
        await chat.send('m-2', 'how are you')
        await chat.wait_for(lambda: chat.done(2))
    finally:
        await chat.disconnect()
    problems = pages.watch_for_problems(page)
    await page.goto(f'{api_url}/operator.html#token={token_for("olga", "operator")}&session={watched}')
    await expect(queued(page, watched)).to_have_count(1, timeout=20_000)
    await expect(reply(page, 1)).to_have_attribute('data-status', 'done')
    first_token = page.locator('.metric[data-metric="first_token_p50_ms"] .metric-value')
    await expect(first_token).not_to_have_text('—', timeout=15_000)

    for size in (pages.DESKTOP, pages.PHONE):
        for theme in ('light', 'dark'):
            await pages.shoot(page, 'console', size, theme)  # docs/images/console.png: 1280, light
            assert await pages.axe_violations(page) == [], (size, theme)
            # Nothing wider than the screen: the panels stack on a phone.
            assert await page.evaluate('() => document.documentElement.scrollWidth <= innerWidth'), size
    assert problems == []  # nothing failed to load, no script error, nothing the CSP refused


async def test_console_search_and_filters_list_a_rolled_over_session_once_and_a_deleted_one_as_deleted(
    page: Page, small_limits_api: str, temporal_client: Client
) -> None:
    sessions = await rolled_over_sessions(small_limits_api, temporal_client)
    await open_console(page, small_limits_api, sessions.user)
    rows = page.locator('#sessions li')
    idle = row(page, sessions.idle)
    closed = row(page, sessions.closed)
    await expect(rows).to_have_count(2, timeout=15_000)
    await expect(idle).to_have_attribute('data-status', 'idle')
    await expect(closed).to_have_attribute('data-status', 'closed')
    link = idle.locator('a.temporal-link')
    await expect(link).to_have_attribute('rel', 'noopener noreferrer')
    await expect(link).to_have_attribute('href', re.compile(sessions.idle))
    await expect(idle.locator('.session-when')).not_to_be_empty()

    await page.select_option('#filter-status', 'closed')
    await expect(rows).to_have_count(1)
    await expect(rows).to_have_attribute('data-session-id', sessions.closed)
    await page.select_option('#filter-status', '')
    await expect(rows).to_have_count(2)
    # The search box narrows the list by any word of a row (here the session id's start).
    await page.fill('#filter-q', sessions.idle[:12])
    await expect(rows).to_have_count(1)
    await expect(rows).to_have_attribute('data-session-id', sessions.idle)

    # Deleted by its user: listed as deleted (a status the page filters by), nothing left to cancel.
    async with client_of(small_limits_api, sessions.user) as http:
        (await http.delete(f'/sessions/{sessions.idle}')).raise_for_status()
    await page.fill('#filter-q', '')
    await page.select_option('#filter-status', 'deleted')
    await expect(rows).to_have_count(1, timeout=15_000)
    await expect(idle.locator('.session-status')).to_have_text('deleted')
    await idle.locator('.session-open').click()
    await expect(page.locator('#title')).not_to_have_text('Pick a session')
    await expect(page.locator('#cancel')).to_be_disabled()
