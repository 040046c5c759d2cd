"""The chat page as people use it, in real headless Chromium on the real stack: type on first load,
markdown with highlighted code and Copy, a reply streaming without redrawing its finished blocks,
following the stream, Stop and Esc, edit and regenerate recorded as turns, the sessions list (live
titles, status badges, rename, delete, search), the URL, the connection state, refusals in words,
the keyboard, and the looks (both widths, both themes, axe-core)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from durable_chat.testing.processes import Process
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.services import api
from durable_chat.testing.stack import Workers
from tests.browser import DESKTOP, PHONE, axe_violations, browser, page, read_session, say, shoot, sign_in
from tests.conftest import token_for
from tests.test_page import FEED, NEW_VIEW, event, open_session_id, snapshot, turn

pytestmark = pytest.mark.integration
__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py


async def expect_listed(page: Page, session_ids: list[str]) -> None:
    """The sessions list shows these chats, in this order."""
    await page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('#sessions li')].map((li) => li.dataset.sessionId))"
        ' === JSON.stringify(ids)',
        arg=session_ids,
    )


def row(page: Page, number: int) -> Any:
    return page.locator(f'#turns li[data-turn="{number}"]')


async def answered(page: Page, number: int) -> None:
    await expect(row(page, number).locator('.assistant')).to_have_attribute(
        'data-status', 'done', timeout=30_000
    )


async def test_first_load_takes_a_message_at_once_and_the_url_names_the_chat(
    page: Page, api_url: str, worker: Process
) -> None:
    await sign_in(page, api_url, 'ada')
    assert 'token' not in page.url  # the token left the URL at once
    await expect(page.locator('#title')).to_have_text('New chat')
    await expect(page.locator('#text')).to_be_focused()  # no New chat click needed
    await page.keyboard.type('hello there')
    await page.keyboard.press('Enter')
    await answered(page, 1)
    await expect(row(page, 1).locator('.assistant')).to_have_text(expected_reply('hello there').strip())

    session_id = open_session_id(page)
    session = await read_session(api_url, 'ada', session_id)
    assert [t['user_text'] for t in session['turns']] == ['hello there']
    # The list shows the chat's title as the header does, newest first, with its last activity.
    entry = page.locator('#sessions li').first
    await expect(entry).to_have_attribute('data-session-id', session_id)
    await expect(entry.locator('.session-title')).to_have_text(session['title'])
    await expect(page.locator('#title')).to_have_text(session['title'])
    await expect(entry.locator('.session-time')).to_have_text('just now')


MARKDOWN = 'Look: **bold**, a [link](https://example.com/doc) and\n\n```python\ndef double(x):\n    return x * 2\n```'


async def test_markdown_renders_with_highlighted_code_and_copy_buttons(
    page: Page, api_url: str, worker: Process
) -> None:
    await page.context.grant_permissions(['clipboard-read', 'clipboard-write'], origin=api_url)
    await sign_in(page, api_url, 'bea')
    await say(page, MARKDOWN)  # the scripted model echoes it: "Echo: Look: **bold**, ..."
    await answered(page, 1)
    reply = row(page, 1).locator('.assistant')
    await expect(reply.locator('strong')).to_have_text('bold')
    link = reply.locator('a')
    await expect(link).to_have_attribute('href', 'https://example.com/doc')
    await expect(link).to_have_attribute('target', '_blank')
    await expect(link).to_have_attribute('rel', 'noopener noreferrer')
    code = reply.locator('.code-block code.hljs')
    await expect(code.locator('.hljs-keyword').first).to_have_text('def')
    await expect(reply.locator('.code-language')).to_have_text('python')
    await expect(reply).not_to_contain_text('**')
    await expect(reply).not_to_contain_text('```')

    clipboard = 'navigator.clipboard.readText()'
    await reply.locator('.copy-code').click()
    await expect(reply.locator('.copy-code')).to_have_text('Copied')
    assert await page.evaluate(clipboard) == 'def double(x):\n    return x * 2\n'
    # A message copies as it was written: the user's text, the reply's markdown.
    await row(page, 1).locator('.slot-user button.copy').click()
    assert await page.evaluate(clipboard) == MARKDOWN
    await row(page, 1).locator('.slot-after button.copy').click()
    assert await page.evaluate(clipboard) == expected_reply(MARKDOWN)


def text(n: int, delta: str) -> dict[str, Any]:
    return event('TEXT_MESSAGE_CONTENT', 1, n, messageId='a', delta=delta)


SAME_NODES = """() => window.firstBlock.isConnected
  && window.firstBlock === document.querySelector('#turns .assistant .md-chunk p')
  && window.turnItem === document.querySelector('#turns li[data-turn="1"]')
  && window.userBubble === document.querySelector('#turns li[data-turn="1"] .user')"""


async def test_a_streaming_reply_redraws_only_its_open_tail(page: Page, api_url: str) -> None:
    await page.goto(f'{api_url}/')  # signed out: only the page's scripts and elements are needed
    await page.evaluate(NEW_VIEW)
    reply = row(page, 1).locator('.assistant')
    chunks, tail = reply.locator('.md-chunk'), reply.locator('.md-tail')

    await page.evaluate(FEED, [snapshot(turn(1, 'running')), text(1, 'Here is **a list**:\n\n- one\n')])
    await expect(chunks).to_have_count(1)
    await expect(chunks.locator('strong')).to_have_text('a list')
    await expect(tail.locator('li')).to_have_text(['one'])
    await page.evaluate(
        """() => {
          window.firstBlock = document.querySelector('#turns .assistant .md-chunk p');
          window.turnItem = document.querySelector('#turns li[data-turn="1"]');
          window.userBubble = document.querySelector('#turns li[data-turn="1"] .user');
        }"""
    )
    await page.evaluate(FEED, [text(2, '- tw'), text(3, 'o\n')])
    await expect(tail.locator('li')).to_have_text(['one', 'two'])
    assert await page.evaluate(SAME_NODES)

    # A blank line inside an open code fence ends no block: the fence stays in the tail.
    await page.evaluate(FEED, [text(4, '\n```python\ndef f():\n\n    return 1\n')])
    await expect(chunks).to_have_count(2)
    await expect(chunks.nth(1).locator('li')).to_have_text(['one', 'two'])
    await expect(tail.locator('code')).to_contain_text('return 1')
    assert await page.evaluate(SAME_NODES)

    await page.evaluate(FEED, [text(5, '```\n\nDone')])
    await expect(chunks).to_have_count(3)
    await expect(chunks.nth(2).locator('code.hljs .hljs-keyword').first).to_have_text('def')
    await expect(tail).to_have_text('Done')
    await page.evaluate(FEED, [text(6, '.')])
    await expect(tail).to_have_text('Done.')
    assert await page.evaluate(SAME_NODES)

    # The final reply is the same text: nothing is redrawn.
    full = 'Here is **a list**:\n\n- one\n- two\n\n```python\ndef f():\n\n    return 1\n```\n\nDone.'
    await page.evaluate(FEED, [event('RUN_FINISHED', 1, 7, step=0, result=full)])
    await expect(reply).to_have_attribute('data-status', 'done')
    assert await page.evaluate(SAME_NODES)

    # A retried attempt drops what the abandoned one streamed: the reply is drawn again from scratch.
    await page.evaluate(NEW_VIEW)
    await page.evaluate(FEED, [snapshot(turn(1, 'running')), text(1, 'First try.\n\nMore')])
    await expect(chunks).to_have_count(1)
    await page.evaluate(FEED, [event('ATTEMPT_STARTED', 1, 2, attempt=2), text(3, 'Second')])
    await expect(chunks).to_have_count(0)
    await expect(reply).to_have_text('Second')


async def test_the_view_follows_the_stream_unless_scrolled_up(page: Page, api_url: str) -> None:
    await page.set_viewport_size(DESKTOP)
    await page.goto(f'{api_url}/')
    await page.evaluate(NEW_VIEW)
    turns = page.locator('#turns')
    at_bottom = 'list => list.scrollHeight - list.scrollTop - list.clientHeight < 2'
    jump = page.locator('.jump-latest').first  # the test view's, put right after the list

    await page.evaluate(
        FEED, [snapshot(turn(1, 'running')), *(text(i, f'line {i}\n\n') for i in range(1, 40))]
    )
    assert await turns.evaluate(at_bottom)
    await expect(jump).to_be_hidden()

    await turns.hover()
    await page.mouse.wheel(0, -5000)
    await page.wait_for_function("() => document.getElementById('turns').scrollTop === 0")
    await page.evaluate(FEED, [text(i, f'line {i}\n\n') for i in range(40, 50)])
    assert await turns.evaluate('list => list.scrollTop') == 0  # left where the user is reading
    await expect(jump).to_be_visible()

    await jump.click()
    assert await turns.evaluate(at_bottom)
    await expect(jump).to_be_hidden()
    await page.evaluate(FEED, [text(i, f'line {i}\n\n') for i in range(50, 60)])
    assert await turns.evaluate(at_bottom)  # following again


async def test_esc_stops_a_streaming_reply(page: Page, api_url: str, worker: Process) -> None:
    await sign_in(page, api_url, 'cleo')
    await say(page, 'slow 300')
    reply = row(page, 1).locator('.assistant')
    await expect(reply).to_contain_text('w3 ')
    stop = page.locator('#interrupt')
    await expect(stop).to_be_visible()
    await expect(page.locator('#status')).to_have_text('thinking…')
    await page.keyboard.press('Escape')
    await expect(reply).to_have_attribute('data-status', 'interrupted')
    await expect(stop).to_be_hidden()
    await expect(page.locator('#send')).to_be_visible()
    stopped = (await reply.text_content() or '').split()
    assert 'w3' in stopped and 'w300' not in stopped
    session = await read_session(api_url, 'cleo', open_session_id(page))
    assert session['turns'][0]['status'] == 'interrupted'


async def test_edit_and_regenerate_are_new_turns_the_workflow_records(
    page: Page, api_url: str, worker: Process
) -> None:
    await sign_in(page, api_url, 'dora')
    await say(page, 'hello')
    await answered(page, 1)

    await row(page, 1).locator('button.regenerate').click()
    await answered(page, 2)
    await expect(row(page, 2).locator('.user')).to_have_text('hello')
    await expect(row(page, 2).locator('.turn-mark')).to_have_text('regenerated')
    await expect(row(page, 1)).to_have_class(re.compile(r'\breplaced\b'))
    await expect(row(page, 1).locator('.turn-mark')).to_have_text('replaced by a newer answer below')
    await expect(row(page, 1).locator('.assistant')).to_have_text(expected_reply('hello').strip())  # kept
    await expect(row(page, 1).locator('button.regenerate, button.edit')).to_have_count(0)

    await row(page, 2).locator('button.edit').click()
    editor = row(page, 2).locator('textarea.edit-text')
    await expect(editor).to_be_focused()
    await expect(editor).to_have_value('hello')
    await editor.fill('hello, edited')
    await editor.press('Enter')
    await answered(page, 3)
    await expect(row(page, 3).locator('.user')).to_have_text('hello, edited')
    await expect(row(page, 3).locator('.assistant')).to_have_text(expected_reply('hello, edited').strip())
    await expect(row(page, 3).locator('.turn-mark')).to_have_text('edited')
    await expect(row(page, 2)).to_have_class(re.compile(r'\breplaced\b'))

    session = await read_session(api_url, 'dora', open_session_id(page))
    assert [(t['number'], t['user_text'], t['replaces']) for t in session['turns']] == [
        (1, 'hello', 0),
        (2, 'hello', 1),
        (3, 'hello, edited', 2),
    ]
    await page.reload()  # as the snapshot alone shows it
    await answered(page, 3)
    await expect(row(page, 3).locator('.turn-mark')).to_have_text('edited')
    await expect(row(page, 2).locator('.turn-mark')).to_have_text('replaced by a newer answer below')

    # Cancel leaves the message as it was.
    await row(page, 3).locator('button.edit').click()
    await row(page, 3).locator('textarea.edit-text').press('Escape')
    await expect(row(page, 3).locator('.user')).to_have_text('hello, edited')
    await expect(page.locator('#turns li')).to_have_count(3)


async def test_sessions_list_is_live_and_renames_deletes_and_searches(
    page: Page, api_url: str, worker: Process
) -> None:
    await sign_in(page, api_url, 'eve')
    await say(page, 'remember that my dog is Rex')
    await answered(page, 1)
    first = open_session_id(page)
    await say(page, 'forget my dog')
    await expect(page.locator('.approval.pending')).to_be_visible()
    entry = page.locator(f'#sessions li[data-session-id="{first}"]')
    await expect(entry.locator('.badge')).to_have_text('awaiting approval')

    # Another chat: its reply streams while the first still waits for a person.
    await page.click('#new-session')
    await expect(page.locator('#title')).to_have_text('New chat')
    await say(page, 'slow 150 beta')
    await expect(row(page, 1).locator('.assistant')).to_contain_text('beta3 ')
    second = open_session_id(page)
    other = page.locator(f'#sessions li[data-session-id="{second}"]')
    await expect(other.locator('.badge')).to_have_text('thinking…')
    await expect(other.locator('.session-title')).to_have_text('slow 150 beta')
    await expect(entry.locator('.badge')).to_have_text('awaiting approval')  # the badge on the other chat
    await expect_listed(page, [second, first])  # newest first
    await expect(other).to_have_class('active')
    await expect(other.locator('.session-open')).to_have_attribute('aria-current', 'page')
    await answered(page, 1)
    await expect(other.locator('.badge')).to_have_count(0)

    # Search by title.
    await page.fill('#search', 'REMEMBER')
    await expect_listed(page, [first])
    await page.fill('#search', 'nothing like this')
    await expect(page.locator('#sessions li')).to_have_count(0)
    await expect(page.locator('#sessions-empty')).to_have_text(
        'No chat has "nothing like this" in its title.'
    )
    await page.fill('#search', '')
    await expect(page.locator('#sessions li')).to_have_count(2)

    # Rename inline: the workflow keeps the title.
    await entry.locator('.session-rename').click()
    title = entry.locator('input.rename-input')
    await expect(title).to_be_focused()
    await title.fill('Dog facts')
    await title.press('Enter')
    await expect(entry.locator('.session-title')).to_have_text('Dog facts')
    assert (await read_session(api_url, 'eve', first))['title'] == 'Dog facts'
    await entry.locator('.session-open').click()
    await expect(page.locator('#title')).to_have_text('Dog facts')
    await page.go_back()
    await expect(page.locator('#title')).to_have_text('slow 150 beta')

    # Delete the open chat: it leaves the list, and the page shows a new chat.
    page.once('dialog', lambda dialog: dialog.accept())
    await other.locator('.session-delete').click()
    await expect(other).to_have_count(0)
    await expect(page.locator('#title')).to_have_text('New chat')
    assert '#/s/' not in page.url
    headers = {'Authorization': f'Bearer {token_for("eve")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as eve:
        assert [s['session_id'] for s in (await eve.get('/sessions')).json()] == [first]
    await page.reload()
    await expect(page.locator('#sessions li')).to_have_count(1)
    await expect(entry.locator('.session-title')).to_have_text('Dog facts')


async def test_url_back_forward_and_reload(page: Page, api_url: str, worker: Process) -> None:
    await sign_in(page, api_url, 'fay')
    await say(page, 'first chat')
    await answered(page, 1)
    first = open_session_id(page)
    await page.click('#new-session')
    await say(page, 'second chat')
    await answered(page, 1)
    second = open_session_id(page)
    assert first != second

    await page.go_back()
    await expect(page.locator('#title')).to_have_text('first chat')
    await expect(row(page, 1).locator('.user')).to_have_text('first chat')
    assert open_session_id(page) == first
    await page.go_forward()
    await expect(page.locator('#title')).to_have_text('second chat')
    await expect(row(page, 1).locator('.user')).to_have_text('second chat')

    await page.locator(f'#sessions li[data-session-id="{first}"] .session-open').click()
    await expect(page.locator('#title')).to_have_text('first chat')
    await page.reload()
    await expect(row(page, 1).locator('.user')).to_have_text('first chat')
    assert open_session_id(page) == first
    await page.go_back()
    await expect(page.locator('#title')).to_have_text('second chat')


async def test_connection_state_and_a_message_sent_while_the_socket_is_down(
    page: Page, api_url: str, worker: Process
) -> None:
    await sign_in(page, api_url, 'gus')
    connection = page.locator('#connection')
    await say(page, 'hello')
    await answered(page, 1)
    await expect(connection).to_have_text('connected')

    await page.context.set_offline(True)
    await expect(connection).to_have_text('offline')
    await page.context.set_offline(False)
    await expect(connection).not_to_have_text('offline')

    # The socket drops and cannot come back for now: the page says so, and a message still goes.
    blocked = True

    async def socket(ws: Any) -> None:
        if blocked:
            await ws.close()
        else:
            ws.connect_to_server()

    await page.route_web_socket(re.compile(r'/ws/sessions/'), socket)
    await page.evaluate('view.socket.close()')
    await expect(connection).to_have_text('reconnecting…')
    await expect(connection).to_have_attribute('data-state', 'reconnecting')
    await say(page, 'while away')  # over REST, the same id as a resend would use
    await expect(row(page, 2).locator('.user')).to_have_text('while away')
    blocked = False
    await expect(connection).to_have_text('connected', timeout=15_000)
    await answered(page, 2)
    session = await read_session(api_url, 'gus', open_session_id(page))
    assert [t['user_text'] for t in session['turns']] == ['hello', 'while away']


@pytest.fixture(scope='module')
def limited_api(service_env: dict[str, str], workers: Workers) -> Iterator[str]:
    """An API with tiny per-user limits and a short message limit."""
    workers.ensure_one()
    tiny = {
        'DURABLE_CHAT_LIMIT_SESSION_BURST': '1',
        'DURABLE_CHAT_LIMIT_SESSIONS_PER_MINUTE': '0.5',
        'DURABLE_CHAT_LIMIT_MESSAGE_BURST': '2',
        'DURABLE_CHAT_LIMIT_MESSAGES_PER_MINUTE': '0.5',
        'DURABLE_CHAT_LIMIT_WEBSOCKETS_PER_USER': '1',
        'DURABLE_CHAT_MAX_MESSAGE_CHARS': '300',
    }
    process = api({**service_env, **tiny}).start()
    yield process.url
    process.stop()


async def test_refusals_are_said_in_words_with_what_to_do(
    browser: Browser, limited_api: str, worker: Process
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    posts: list[str] = []
    page.on('request', lambda r: posts.append(r.url) if r.method == 'POST' else None)
    error, box = page.locator('#error'), page.locator('#text')
    await sign_in(page, limited_api, 'hal')

    # Over the size limit (GET /limits says 300): refused before sending, with the limit in words.
    refused = (
        'Not sent: this message is 301 characters long and the limit is 300. '
        'Shorten it or split it into several messages.'
    )
    await page.fill('#text', 'x' * 301)
    await expect(page.locator('#composer-hint')).to_have_text('301 characters: 1 over the limit of 300.')
    await page.press('#text', 'Enter')
    await expect(error).to_have_text(refused)
    await expect(box).to_have_value('x' * 301)  # still there to shorten
    assert posts == []
    # A page that believes a larger limit (the server's was lowered since): the 413 says it in words,
    # and from then on the page knows the limit.
    await page.evaluate('maxChars = 32000')
    await page.press('#text', 'Enter')
    await expect(error).to_have_text(
        'Too long: message text is 301 characters; the limit is 300. Shorten it or split it in two.'
    )
    await expect(box).to_have_value('x' * 301)
    sent = len(posts)
    await page.press('#text', 'Enter')
    await expect(error).to_have_text(refused)
    assert len(posts) == sent

    # Too many messages (two in a burst): the third is refused over the websocket, in words.
    await say(page, 'one')
    await answered(page, 1)
    await say(page, 'two')
    await answered(page, 2)
    await say(page, 'three')
    await expect(error).to_contain_text(
        'Not sent. Slow down, too many messages: at most 0.5 a minute (bursts of 2); try again in'
    )
    await expect(box).to_have_value('three')
    await expect(page.locator('#turns li')).to_have_count(2)

    # Too many chats: POST /sessions answers 429 with Retry-After.
    await page.click('#new-session')
    await say(page, 'another chat')
    # (its first message counts as a message too: whichever limit it reaches is named)
    await expect(error).to_have_text(
        re.compile(
            r'^Slow down, too many (sessions|messages): at most 0\.5 a minute .*; try again in \d+ s\.$'
        )
    )
    await expect(box).to_have_value('another chat')

    # A second tab on the same user's only websocket slot: closed with 4429, and said so.
    await page.go_back()
    await expect(page.locator('#connection')).to_have_text('connected')
    other = await context.new_page()
    await other.goto(page.url)
    await expect(other.locator('#error')).to_have_text(
        'Not connected: too many open connections: at most 1 per user. '
        'Close this chat in another tab or window, then reload this page.'
    )
    await expect(other.locator('#connection')).to_have_text('not connected')
    await context.close()


async def test_a_failed_reply_says_why_and_offers_to_try_again(page: Page, api_url: str) -> None:
    await page.goto(f'{api_url}/')
    await page.evaluate(NEW_VIEW)
    failed = "The model could not answer: the model server can't be reached. Try again in a moment."
    await page.evaluate(
        FEED, [snapshot(turn(1, 'running')), event('RUN_ERROR', 1, 1, step=0, message=failed)]
    )
    await expect(row(page, 1).locator('.assistant')).to_have_text(failed)
    await page.evaluate(FEED, [snapshot(turn(1, 'failed', failed), status='idle')])
    await expect(row(page, 1).locator('button.regenerate')).to_have_text('Try again')


async def test_keyboard_use(page: Page, api_url: str, worker: Process) -> None:
    await page.set_viewport_size(DESKTOP)
    await sign_in(page, api_url, 'ivy')
    box = page.locator('#text')
    await expect(box).to_be_focused()
    await page.keyboard.type('line one')
    await page.keyboard.press('Shift+Enter')
    await page.keyboard.type('line two')
    await expect(box).to_have_value('line one\nline two')
    await expect(page.locator('#turns li')).to_have_count(0)
    await page.keyboard.press('Enter')
    await expect(row(page, 1).locator('.user')).to_have_text('line one\nline two')
    await answered(page, 1)

    # Tab goes from the message box to Send; focus is visible.
    await box.focus()
    await page.keyboard.press('Tab')
    assert await page.evaluate('document.activeElement.id') == 'send'
    assert await page.evaluate('getComputedStyle(document.activeElement).outlineStyle') == 'solid'
    # The first stop of the page is a skip link, which leads to the message box.
    first = "document.querySelector('a[href], button:not([hidden]), input, textarea, [tabindex]')"
    assert await page.evaluate(f'{first}.className') == 'skip-link'
    await page.evaluate(f'{first}.focus()')
    await expect(page.locator('.skip-link')).to_be_in_viewport()
    await page.keyboard.press('Enter')
    await expect(box).to_be_focused()
    assert '#/s/' in page.url  # still the chat


async def test_phone_width_puts_the_chat_list_in_a_drawer(page: Page, api_url: str, worker: Process) -> None:
    await page.set_viewport_size(PHONE)
    await sign_in(page, api_url, 'jo')
    await say(page, 'hello')
    await answered(page, 1)
    sidebar, opener = page.locator('#sidebar'), page.locator('#drawer-open')
    await expect(sidebar).to_be_hidden()
    await expect(opener).to_have_attribute('aria-expanded', 'false')
    await opener.click()
    await expect(sidebar).to_be_visible()
    await expect(opener).to_have_attribute('aria-expanded', 'true')
    await expect(page.locator('#new-session')).to_be_focused()
    await page.keyboard.press('Escape')
    await expect(sidebar).to_be_hidden()
    await expect(opener).to_be_focused()
    await opener.click()
    await page.click('#new-session')  # choosing closes the drawer
    await expect(sidebar).to_be_hidden()
    await expect(page.locator('#title')).to_have_text('New chat')
    assert await page.evaluate('document.documentElement.scrollWidth') <= PHONE['width']  # nothing wider


async def test_the_chat_page_looks_right_and_passes_axe(page: Page, api_url: str, worker: Process) -> None:
    """A conversation with markdown, a tool card and an approval card, at both widths in both themes."""
    await page.set_viewport_size(DESKTOP)
    await sign_in(page, api_url, 'kim')
    await say(
        page,
        'A plan:\n\n1. **Measure** first\n2. Then `optimise`\n\n```js\nconst total = items.reduce((a, b) => a + b, 0);\n```',
    )
    await answered(page, 1)
    await say(page, 'remember that my cat is called Tom')
    await answered(page, 2)
    await row(page, 2).locator('.tool-call summary').click()
    await say(page, 'forget my cat')
    await expect(page.locator('.approval.pending')).to_be_visible()
    await expect(page.locator('#status')).to_have_text('awaiting approval')

    for size in (DESKTOP, PHONE):
        for theme in ('light', 'dark'):
            await shoot(page, 'chat-page', size, theme)
            assert await axe_violations(page) == [], f'{size["width"]} px, {theme}'
    await page.locator('#drawer-open').click()  # the phone's drawer, open
    await expect(page.locator('#sidebar')).to_be_visible()
    for theme in ('light', 'dark'):
        await shoot(page, 'chat-page-drawer', PHONE, theme)
        assert await axe_violations(page) == [], f'drawer, {theme}'

    # The manual theme wins over the system's, and is remembered.
    await page.set_viewport_size(DESKTOP)
    await page.emulate_media(color_scheme='light')
    await page.keyboard.press('Escape')
    await page.click('#theme')  # system -> light
    await page.click('#theme')  # light -> dark
    await expect(page.locator('#theme')).to_have_text('Theme: dark')
    background = 'getComputedStyle(document.body).backgroundColor'
    assert await page.evaluate(background) == 'rgb(15, 17, 21)'
    await page.reload()
    await expect(page.locator('html')).to_have_attribute('data-theme', 'dark')
    assert await page.evaluate(background) == 'rgb(15, 17, 21)'
