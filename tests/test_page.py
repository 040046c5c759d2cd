"""The chat page in real headless Chromium: start a chat, watch it stream, reload mid-reply, stop a
reply, read why a turn ended or why the model is slow, pick and switch the model, see tool calls as
cards, all without a failed request."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect

from durable_chat.settings import Settings
from durable_chat.testing.processes import Process
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.stack import SCRIPTED_MODEL
from durable_chat.workflows.offline_model import LABEL
from tests.browser import browser, page, page_of_its_own, read_agents, read_session, watch_for_problems
from tests.conftest import token_for

pytestmark = pytest.mark.integration
__all__ = ['browser', 'page']  # the page fixtures of tests/browser.py

REPLY_TOKENS: int = Settings.model_fields['max_reply_tokens'].default  # the stack leaves it as is


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
    await expect(reply).to_have_text(expected_reply('slow 40').strip())  # as markdown: one paragraph

    # The session is listed, and a second message is answered after the first.
    await expect(page.locator('#sessions li')).not_to_have_count(0)
    await page.fill('#text', 'and another')
    await page.press('#text', 'Enter')
    second = page.locator('#turns li').nth(1).locator('.assistant')
    await expect(second).to_have_attribute('data-status', 'done', timeout=30_000)
    await expect(second).to_have_text(expected_reply('and another').strip())


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
    await expect(memory.locator('.memory-text')).to_have_text('my favourite tree is the oak')
    await memory.locator('button.forget').click()
    await expect(page.locator('#memories')).to_contain_text('Nothing yet')
    headers = {'Authorization': f'Bearer {token_for("jill")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as jill:
        assert (await jill.get('/memories')).json() == []


SNAPSHOT_URL = re.compile(r'/sessions/[^/?#]+$')


async def refuse_snapshot_refreshes(page: Page) -> None:
    """From here on the page's snapshot refreshes fail: what it shows comes from the stream's frames."""

    async def refuse(route: Route) -> None:
        await (route.abort() if route.request.method == 'GET' else route.continue_())

    await page.route(SNAPSHOT_URL, refuse)


async def start_chat(page: Page, api_url: str, user: str, text: str) -> None:
    await page.goto(f'{api_url}/#token={token_for(user)}')
    await expect(page.locator('#me')).to_have_text(user)
    await page.click('#new-session')
    await expect(page.locator('#text')).to_be_enabled()
    await page.fill('#text', text)
    await page.press('#text', 'Enter')


async def test_page_stop_keeps_the_text_streamed_so_far(page: Page, api_url: str, worker: Process) -> None:
    await start_chat(page, api_url, 'kate', 'slow 300')
    row = page.locator('#turns li').nth(0)
    reply, mark = row.locator('.assistant'), row.locator('.interrupted-mark')
    await expect(page.locator('#interrupt')).to_be_visible()
    await expect(reply).to_contain_text('w3 ')
    seen = await reply.text_content()
    assert seen is not None

    await refuse_snapshot_refreshes(page)  # the TURN_INTERRUPTED frame alone must keep the text
    await page.click('#interrupt')
    await expect(reply).to_have_attribute('data-status', 'interrupted')
    await expect(mark).to_be_visible()
    stopped = await reply.text_content()
    assert stopped is not None and stopped.strip().startswith(seen.strip()) and 'w300' not in stopped
    await page.unroute(SNAPSHOT_URL)

    session_id = open_session_id(page)
    headers = {'Authorization': f'Bearer {token_for("kate")}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as kate:
        kept = (await kate.get(f'/sessions/{session_id}')).json()['turns'][0]['reply']
        assert kept.strip() == stopped.strip()

    await page.reload()
    await expect(reply).to_have_attribute('data-status', 'interrupted')
    await expect(reply).to_have_text(stopped.strip())
    await expect(mark).to_be_visible()


async def test_page_says_why_a_reply_was_cut_off(page: Page, api_url: str, worker: Process) -> None:
    await start_chat(page, api_url, 'lena', 'endless')
    row = page.locator('#turns li').nth(0)
    reply, note = row.locator('.assistant'), row.locator('.turn-note')
    await expect(page.locator('#interrupt')).to_be_visible()
    await expect(reply).to_contain_text('e3 ')
    await expect(note).to_have_count(0)

    await refuse_snapshot_refreshes(page)  # the note comes with RUN_FINISHED
    await expect(reply).to_have_attribute('data-status', 'done', timeout=60_000)
    cut_off = f'Cut off: a reply may be at most {REPLY_TOKENS} tokens long.'
    await expect(note).to_have_text(cut_off)
    await page.unroute(SNAPSHOT_URL)

    await page.reload()
    await expect(reply).to_have_attribute('data-status', 'done')
    await expect(reply).to_contain_text(f'e{REPLY_TOKENS} ')
    await expect(note).to_have_text(cut_off)


async def test_pages_load_without_a_failed_request(browser: Browser, api_url: str, worker: Process) -> None:
    async with page_of_its_own(browser) as page:
        problems = watch_for_problems(page)
        await start_chat(page, api_url, 'mona', 'hello')
        await expect(page.locator('#turns li .assistant')).to_have_attribute('data-status', 'done')
        await page.wait_for_load_state('networkidle')  # the icon is asked for once the page has loaded
        assert problems == []

    async with page_of_its_own(browser) as page:
        problems = watch_for_problems(page)
        await page.goto(f'{api_url}/operator.html#token={token_for("olga", "operator")}')
        await expect(page.locator('#sessions tr, #sessions li')).not_to_have_count(0)
        await page.wait_for_load_state('networkidle')
        assert problems == []


# A session view fed frames by hand, on the chat page's own elements: the model failing is not
# something the scripted model does, so MODEL_ERROR frames are written here as the worker sends them.
NEW_VIEW = """() => {
  window.testView = new DC.SessionView({
    turnsEl: DC.$('turns'), statusEl: DC.$('status'), titleEl: DC.$('title'),
    errorEl: DC.$('error'), connectionEl: DC.$('connection'),
  });
  testView.scheduleRefresh = () => {};  // what shows must come from the frames alone
  DC.$('signin').hidden = true;  // signed out: the sign-in box would cover the transcript
}"""
FEED = 'frames => { for (const frame of frames) { testView.onFrame(frame); testView.render(); } }'
UNREACHABLE = "the model server can't be reached"


def snapshot(
    *turns: dict[str, Any],
    status: str = 'thinking',
    agent: str = 'chat',
    approvals: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    session = {
        'session_id': 's',
        'status': status,
        'title': 't',
        'agent': agent,
        'model': 'm',
        'approvals': approvals or [],
        'turns': list(turns),
    }
    return {'type': 'SNAPSHOT', 'session': session}


def turn(
    number: int, status: str, reply: str = '', note: str = '', tool_calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        'number': number,
        'message_id': f'm{number}',
        'user_text': f'question {number}',
        'status': status,
        'reply': reply,
        'note': note,
        'model': 'm',
        'tool_calls': tool_calls or [],
    }


def event(type: str, turn: int, n: int, step: int = 1, attempt: int = 1, **data: Any) -> dict[str, Any]:
    return {'type': type, 'event_id': f'{turn}-{n}', 'turn': turn, 'step': step, 'attempt': attempt, **data}


def model_error(turn: int, n: int, attempt: int, retrying: bool = True) -> dict[str, Any]:
    return event(
        'MODEL_ERROR',
        turn,
        n,
        attempt=attempt,
        id=f'1-{attempt}',
        reason=UNREACHABLE,
        max_attempts=8,
        retrying=retrying,
    )


async def test_page_shows_model_errors_notes_and_stops_from_frames(page: Page, api_url: str) -> None:
    await page.goto(f'{api_url}/')  # signed out: only the page's scripts and elements are needed
    await page.evaluate(NEW_VIEW)
    first = page.locator('#turns li').nth(0)
    status = first.locator('.model-status')

    await page.evaluate(FEED, [snapshot(turn(1, 'running')), model_error(1, 1, attempt=1)])
    await expect(status).to_have_text("The model server can't be reached — trying again (attempt 2 of 8)…")
    await page.evaluate(FEED, [model_error(1, 2, attempt=2), event('ATTEMPT_STARTED', 1, 3, attempt=3)])
    await expect(status).to_have_text("The model server can't be reached — trying again (attempt 3 of 8)…")
    text = event('TEXT_MESSAGE_CONTENT', 1, 4, attempt=3, messageId='a', delta='Hello')
    await page.evaluate(FEED, [text])
    await expect(status).to_have_count(0)
    await expect(first.locator('.assistant')).to_have_text('Hello')
    cut_off = 'Cut off: a reply may be at most 2048 tokens long.'
    await page.evaluate(FEED, [event('RUN_FINISHED', 1, 5, step=0, result='Hello there', note=cut_off)])
    await expect(first.locator('.assistant')).to_have_text('Hello there')
    await expect(first.locator('.turn-note')).to_have_text(cut_off)

    second = page.locator('#turns li').nth(1)
    failed = f'The model could not answer: {UNREACHABLE}. Try again in a moment.'
    await page.evaluate(
        FEED,
        [
            snapshot(turn(1, 'done', 'Hello there', cut_off), turn(2, 'running')),
            model_error(2, 6, attempt=8, retrying=False),
        ],
    )
    await expect(second.locator('.model-status')).to_have_text(
        "The model server can't be reached — giving up."
    )
    await page.evaluate(FEED, [event('RUN_ERROR', 2, 7, step=0, message=failed)])
    await expect(second.locator('.model-status')).to_have_count(0)
    await expect(second.locator('.assistant')).to_have_text(failed)

    third = page.locator('#turns li').nth(2)
    stopped = 'Stopped: a reply may take at most 3 minutes.'
    running = snapshot(turn(1, 'done', 'Hello there', cut_off), turn(2, 'failed', failed), turn(3, 'running'))
    interrupted = event(
        'TURN_INTERRUPTED', 3, 9, step=0, by='time budget', reply='It was a dark', note=stopped
    )
    await page.evaluate(
        FEED, [running, event('TEXT_MESSAGE_CONTENT', 3, 8, messageId='b', delta='It was'), interrupted]
    )
    await expect(third.locator('.assistant')).to_have_text('It was a dark')
    await expect(third.locator('.interrupted-mark')).to_be_visible()
    await expect(third.locator('.turn-note')).to_have_text(stopped)

    # As a reload shows them: from the snapshot alone.
    await page.evaluate(NEW_VIEW)
    finished = snapshot(
        turn(1, 'done', 'Hello there', cut_off),
        turn(2, 'failed', failed),
        turn(3, 'interrupted', 'It was a dark', stopped),
        turn(4, 'interrupted'),
        status='idle',
    )
    await page.evaluate(FEED, [finished])
    await expect(first.locator('.turn-note')).to_have_text(cut_off)
    await expect(second.locator('.turn-note')).to_have_count(0)
    await expect(third.locator('.assistant')).to_have_text('It was a dark')
    await expect(third.locator('.interrupted-mark')).to_be_visible()
    await expect(third.locator('.turn-note')).to_have_text(stopped)
    fourth = page.locator('#turns li').nth(3)
    await expect(fourth.locator('.assistant')).to_have_text('(interrupted)')
    await expect(fourth.locator('.interrupted-mark')).to_have_count(0)
    await expect(page.locator('.model-status')).to_have_count(0)


def open_session_id(page: Page) -> str:
    """The open chat, as the URL names it (`#/s/<id>`)."""
    return page.url.split('#/s/')[1]


async def test_new_chat_offers_the_models_and_starts_with_the_picked_one(
    page: Page, api_url: str, worker: Process
) -> None:
    [chat] = await read_agents(api_url, 'nina')  # this stack: one agent, two models
    assert (chat['name'], chat['models'], chat['default_model']) == (
        'chat',
        [SCRIPTED_MODEL, 'offline'],
        SCRIPTED_MODEL,
    )
    await page.goto(f'{api_url}/#token={token_for("nina")}')
    await expect(page.locator('#me')).to_have_text('nina')
    await page.click('#new-session')
    models = page.locator('#new-model')
    await expect(page.locator('#new-chat')).to_be_visible()
    await expect(page.locator('#agent-choice')).to_be_hidden()  # one agent: nothing to pick
    await expect(models.locator('option')).to_have_text(chat['models'])
    await expect(models).to_have_value(SCRIPTED_MODEL)

    await models.select_option('offline')
    await page.fill('#text', 'hello')
    await page.press('#text', 'Enter')
    reply = page.locator('#turns li .assistant').first
    await expect(reply).to_have_attribute('data-status', 'done')
    await expect(reply).to_contain_text(LABEL)  # the offline assistant answered, not the scripted model
    session = await read_session(api_url, 'nina', open_session_id(page))
    assert (session['agent'], session['model'], session['turns'][0]['model']) == (
        'chat',
        'offline',
        'offline',
    )
    await expect(page.locator('#new-chat')).to_be_hidden()
    await expect(page.locator('#session-agent')).to_have_text('chat')
    await expect(page.locator('#session-model')).to_have_value('offline')


async def test_header_switches_the_model_of_the_next_replies(
    page: Page, api_url: str, worker: Process
) -> None:
    await start_chat(page, api_url, 'omar', 'slow 100')
    first = page.locator('#turns li').nth(0).locator('.assistant')
    await expect(first).to_contain_text('w3 ')
    header_model = page.locator('#session-model')
    await expect(header_model).to_have_value(SCRIPTED_MODEL)
    await expect(page.locator('.turn-model')).to_have_count(0)  # one model so far: not worth a line

    # Mid-reply: the reply being written keeps its model, the next ones get the new one.
    await header_model.select_option('offline')
    note = page.locator('#model-note')
    await expect(note).to_have_text('Model switched to offline from the next reply.')
    session_id = open_session_id(page)
    assert (await read_session(api_url, 'omar', session_id))['model'] == 'offline'
    await expect(first).to_have_attribute('data-status', 'done', timeout=30_000)
    await expect(first).to_have_text(expected_reply('slow 100').strip())

    await page.fill('#text', 'hello again')
    await page.press('#text', 'Enter')
    second = page.locator('#turns li').nth(1)
    await expect(second.locator('.assistant')).to_have_attribute('data-status', 'done')
    await expect(second.locator('.assistant')).to_contain_text(LABEL)
    await expect(second.locator('.turn-model')).to_have_text('answered by offline')
    await expect(page.locator('#turns li').nth(0).locator('.turn-model')).to_have_text(
        f'answered by {SCRIPTED_MODEL}'
    )
    turns = (await read_session(api_url, 'omar', session_id))['turns']
    assert [t['model'] for t in turns] == [SCRIPTED_MODEL, 'offline']

    # A model the agent does not offer (the picker never lists one; a stale page could): refused in words.
    await page.evaluate(
        """() => {
          const select = DC.$('session-model');
          select.append(new Option('no-such-model'));
          select.value = 'no-such-model';
          select.dispatchEvent(new Event('change'));
        }"""
    )
    await expect(note).to_contain_text(
        "The model was not switched: 'no-such-model' is not a model of the agent 'chat'"
    )
    await expect(header_model).to_have_value('offline')
    assert (await read_session(api_url, 'omar', session_id))['model'] == 'offline'


async def test_tool_call_card_shows_name_arguments_and_result_and_survives_a_reload(
    page: Page, api_url: str, worker: Process
) -> None:
    await start_chat(page, api_url, 'pia', 'remember that my cat is Tom')
    row = page.locator('#turns li').nth(0)
    await expect(row.locator('.assistant')).to_have_attribute('data-status', 'done')
    [call] = (await read_session(api_url, 'pia', open_session_id(page)))['turns'][0]['tool_calls']
    assert (call['name'], call['args'], call['server']) == (
        'remember',
        {'fact': 'my cat is Tom', 'decision': 'rules'},  # the offline assistant lets the store's rules decide
        '',
    )
    assert 'my cat is Tom' in call['result']

    for _ in range(2):  # as it was, then after a reload
        card = row.locator('.tool-call')
        await expect(card).to_have_count(1)
        await expect(card.locator('summary .tool-name')).to_have_text('remember')
        await expect(card.locator('.tool-server')).to_have_count(0)  # the agent's own tool, no MCP server
        await expect(card.locator('.tool-args')).to_be_hidden()  # collapsed until asked
        await card.locator('summary').click()
        await expect(card.locator('.tool-args pre')).to_have_text(
            '{\n  "fact": "my cat is Tom",\n  "decision": "rules"\n}'
        )
        await expect(card.locator('.tool-result pre')).to_have_text(call['result'])
        await page.reload()
        await expect(row.locator('.assistant')).to_have_attribute('data-status', 'done')


def clock_call(n: int, attempt: int) -> list[dict[str, Any]]:
    """The frames of an MCP server's tool call in step 1 of turn 1, numbered from `n`."""
    return [
        event(
            'TOOL_CALL_START', 1, n, attempt=attempt, toolCallId='c1', toolCallName='time_get_current_time'
        ),
        event('TOOL_CALL_ARGS', 1, n + 1, attempt=attempt, toolCallId='c1', delta='{"timezone": '),
        event('TOOL_CALL_ARGS', 1, n + 2, attempt=attempt, toolCallId='c1', delta='"UTC"}'),
        event('TOOL_CALL_END', 1, n + 3, attempt=attempt, toolCallId='c1'),
    ]


async def test_page_builds_tool_cards_from_frames_and_drops_a_retried_steps(page: Page, api_url: str) -> None:
    await page.goto(f'{api_url}/')
    await page.evaluate(NEW_VIEW)
    clock = {
        'name': 'clock',
        'description': '',
        'models': ['m'],
        'default_model': 'm',
        'mcp_servers': ['time'],
    }
    await page.evaluate('agents => { testView.agents = agents; }', [clock])
    first = page.locator('#turns li').nth(0)
    card = first.locator('.tool-call')
    start, *args, end = clock_call(1, attempt=1)

    await page.evaluate(FEED, [snapshot(turn(1, 'running'), agent='clock'), start, args[0]])
    await expect(card.locator('.tool-name')).to_have_text('time_get_current_time')
    await expect(card.locator('.tool-server')).to_have_text('MCP server: time')
    await expect(card.locator('.tool-state')).to_have_text('running…')
    await page.evaluate(FEED, [args[1], end])
    await card.locator('summary').click()
    await expect(card.locator('.tool-args pre')).to_have_text('{\n  "timezone": "UTC"\n}')

    # The model request is retried: what its first attempt streamed goes, the retry streams it again.
    await page.evaluate(FEED, [event('ATTEMPT_STARTED', 1, 5, attempt=2)])
    await expect(card).to_have_count(0)
    again = clock_call(6, attempt=2)
    result = '{"timezone":"UTC","datetime":"2026-11-24T19:00:00+00:00"}'
    returned = event('TOOL_CALL_RESULT', 1, 10, messageId='r1', toolCallId='c1', content=result, role='tool')
    await page.evaluate(FEED, [*again, returned])
    await expect(card.locator('.tool-args pre')).to_be_visible()  # still open: the user opened it
    await expect(card.locator('.tool-result pre')).to_have_text(result)
    await expect(card.locator('.tool-state')).to_have_count(0)
    await expect(card.locator('.tool-retried')).to_have_text('retried 1×')  # its step's second attempt

    # As a reload shows a finished turn: from the snapshot, its server named by the worker.
    await page.evaluate(NEW_VIEW)
    finished = {
        'id': 'c1',
        'name': 'time_get_current_time',
        'args': {'timezone': 'UTC'},
        'result': result,
        'server': 'time',
    }
    await page.evaluate(
        FEED, [snapshot(turn(1, 'done', 'It is 19:00.', tool_calls=[finished]), status='idle')]
    )
    await expect(card.locator('.tool-server')).to_have_text('MCP server: time')
    await card.locator('summary').click()
    await expect(card.locator('.tool-args pre')).to_have_text('{\n  "timezone": "UTC"\n}')
    await expect(card.locator('.tool-result pre')).to_have_text(result)

    # A call waiting for a person's answer says so, and the Approve/Deny prompt is there as before.
    second = page.locator('#turns li').nth(1)
    approval = {  # the frame's `turn` is the approval's
        'id': 'c2',
        'tool_name': 'forget',
        'args': {'memory_id': 'x'},
        'status': 'pending',
        'reason': '',
        'answered_by': '',
    }
    waiting = snapshot(
        turn(1, 'done', 'It is 19:00.', tool_calls=[finished]), turn(2, 'running'), status='awaiting_approval'
    )
    await page.evaluate(
        FEED,
        [
            waiting,
            event('TOOL_CALL_START', 2, 11, toolCallId='c2', toolCallName='forget'),
            event('TOOL_CALL_ARGS', 2, 12, toolCallId='c2', delta='{"memory_id": "x"}'),
            event('APPROVAL_REQUESTED', 2, 13, step=0, **approval),
        ],
    )
    await expect(second.locator('.tool-call .tool-state')).to_have_text('awaiting approval')
    await expect(second.locator('.approval.pending button.approve')).to_be_visible()
    await expect(second.locator('.approval.pending button.deny')).to_be_visible()
