"""Managing sessions over the real stack: the list (newest activity first, title search), rename,
delete (close and hide), and edit / regenerate of the last turn over REST and the websocket."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import Process
from durable_chat.testing.scripted import expected_reply
from tests.conftest import token_for
from tests.rollover import eventually

pytestmark = pytest.mark.integration

Json = dict[str, Any]
DELETION_SECONDS = 120


@pytest.fixture
async def user(api_url: str, worker: Process) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A user of this test alone, so its list holds only the sessions the test makes."""
    name = f'manage-{uuid.uuid4().hex[:8]}'
    headers = {'Authorization': f'Bearer {token_for(name)}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield name, http


@pytest.fixture
async def operator(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {'Authorization': f'Bearer {token_for("olga", "operator")}'}
    async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=headers) as http:
        yield http


async def until(read: Callable[[], Awaitable[Any]], what: str, timeout: float = 30) -> Any:
    """Reads until `read` returns something truthy (a snapshot changes with the turns it runs)."""
    deadline = time.monotonic() + timeout
    while not (got := await read()):
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        await asyncio.sleep(0.1)
    return got


async def start(http: httpx.AsyncClient, text: str | None = None) -> str:
    body = {'message': {'id': f'first-{uuid.uuid4().hex[:6]}', 'text': text}} if text else {}
    response = await http.post('/sessions', json=body)
    assert response.status_code == 201, response.text
    return response.json()['session_id']


async def snapshot(http: httpx.AsyncClient, session_id: str) -> Json:
    response = await http.get(f'/sessions/{session_id}')
    assert response.status_code == 200, response.text
    return response.json()


async def finished(http: httpx.AsyncClient, session_id: str, turns: int) -> Json:
    async def read() -> Json | None:
        held = await snapshot(http, session_id)
        done = len(held['turns']) >= turns and held['status'] == 'idle'
        return held if done and all(t['status'] != 'running' for t in held['turns']) else None

    return await until(read, f'{turns} turns of {session_id} to finish')


async def running(http: httpx.AsyncClient, session_id: str, turn: int) -> None:
    async def read() -> bool:
        held = await snapshot(http, session_id)
        return any(t['number'] == turn and t['status'] == 'running' for t in held['turns'])

    await until(read, f'turn {turn} of {session_id} to run')


async def post(
    http: httpx.AsyncClient, session_id: str, message_id: str, text: str, **extra: Any
) -> httpx.Response:
    return await http.post(f'/sessions/{session_id}/messages', json={'id': message_id, 'text': text, **extra})


async def listed(http: httpx.AsyncClient, q: str | None = None, sort: bool = False) -> list[str]:
    response = await http.get('/sessions', params={'q': q} if q is not None else None)
    assert response.status_code == 200, response.text
    ids = [s['session_id'] for s in response.json()]
    return sorted(ids) if sort else ids


async def operator_rows(
    operator: httpx.AsyncClient, name: str, status: str | None = None
) -> list[tuple[str, str]]:
    params = {'user': name, **({'status': status} if status else {})}
    response = await operator.get('/operator/sessions', params=params)
    assert response.status_code == 200, response.text
    return sorted((s['session_id'], s['status']) for s in response.json())


# --- the list ------------------------------------------------------------------------------------


async def test_the_list_is_newest_activity_first_and_q_finds_titles(
    user: tuple[str, httpx.AsyncClient],
) -> None:
    _, http = user
    alpha = await start(http, 'Alpha trip')
    await finished(http, alpha, 1)
    beta = await start(http, 'beta notes')
    await finished(http, beta, 1)
    gamma = await start(http, 'Gamma TRIP')
    await finished(http, gamma, 1)
    await eventually(lambda: listed(http), [gamma, beta, alpha])

    rows = (await http.get('/sessions')).json()
    assert {k: rows[0][k] for k in ('session_id', 'title', 'status', 'agent')} == {
        'session_id': gamma,
        'title': 'Gamma TRIP',
        'status': 'idle',
        'agent': 'chat',
    }
    assert sorted(rows[0]) == sorted(
        ['session_id', 'user_id', 'title', 'status', 'started_at', 'last_activity', 'agent', 'model']
    )
    assert all(r['last_activity'] >= r['started_at'] for r in rows)

    # A turn moves a session to the top; so does a rename.
    assert (await post(http, alpha, 'm-2', 'hello again')).status_code == 202
    await finished(http, alpha, 2)
    await eventually(lambda: listed(http), [alpha, gamma, beta])
    assert (await http.patch(f'/sessions/{beta}', json={'title': 'beta notes, renamed'})).status_code == 200
    await eventually(lambda: listed(http), [beta, alpha, gamma])

    # Search: any part of the title, any case; in the same order.
    assert await listed(http, 'trip') == [alpha, gamma]
    assert await listed(http, 'TRIP') == [alpha, gamma]
    assert await listed(http, 'Renamed') == [beta]
    assert await listed(http, 'nowhere') == []
    assert (await http.get('/sessions', params={'q': 'x' * 101})).status_code == 422


# --- rename --------------------------------------------------------------------------------------


async def test_rename_keeps_a_chosen_title_and_refuses_bad_ones(
    user: tuple[str, httpx.AsyncClient], operator: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    _, mine = user
    session_id = await start(mine)
    response = await mine.patch(f'/sessions/{session_id}', json={'title': '  Holiday plans  '})
    assert (response.status_code, response.json()) == (
        200,
        {'session_id': session_id, 'title': 'Holiday plans'},
    )

    # The first message would title an untitled session; this one has a title already.
    assert (await post(mine, session_id, 'm-1', 'where should we go')).status_code == 202
    assert (await finished(mine, session_id, 1))['title'] == 'Holiday plans'

    for title, reason in [
        ('   ', 'the title is empty'),
        ('y' * 101, 'the title is 101 characters; at most 100 are allowed'),
        ('tab\there', 'the title holds control characters (line breaks, tabs, ...)'),
    ]:
        refused = await mine.patch(f'/sessions/{session_id}', json={'title': title})
        assert (refused.status_code, refused.json()) == (422, {'detail': reason})
    assert (await mine.patch(f'/sessions/{session_id}', json={})).status_code == 422

    # Another user's session does not exist for alice; an operator may rename it.
    assert (await http.patch(f'/sessions/{session_id}', json={'title': 'Mine now'})).status_code == 404
    by_operator = await operator.patch(f'/sessions/{session_id}', json={'title': 'Checked'})
    assert (by_operator.status_code, by_operator.json()['title']) == (200, 'Checked')
    assert (await snapshot(mine, session_id))['title'] == 'Checked'

    assert (await mine.post(f'/sessions/{session_id}/close')).status_code == 200
    closed = await mine.patch(f'/sessions/{session_id}', json={'title': 'After closing'})
    assert closed.status_code == 409, closed.text


# --- delete --------------------------------------------------------------------------------------


async def test_delete_closes_a_running_session_and_hides_it_from_its_user_for_good(
    api_url: str,
    user: tuple[str, httpx.AsyncClient],
    operator: httpx.AsyncClient,
    http: httpx.AsyncClient,
) -> None:
    name, mine = user
    kept = await start(mine, 'kept')
    session_id = await start(mine)
    client = await ChatClient(api_url, session_id, token_for(name)).connect()
    await client.send('m-1', 'slow 300')
    await client.send('m-2', 'waiting behind it')
    await client.wait_for(lambda: client.of_type('TEXT_MESSAGE_CONTENT', 1))
    await eventually(lambda: listed(mine, sort=True), sorted([session_id, kept]))

    assert (await http.delete(f'/sessions/{session_id}')).status_code == 404  # not alice's
    response = await mine.delete(f'/sessions/{session_id}')
    assert (response.status_code, response.json()) == (200, {'session_id': session_id, 'status': 'deleted'})

    # Closed as POST /close closes: the running turn interrupted, the queued one dropped.
    await client.wait_for(lambda: client.of_type('SESSION_CLOSED'))
    await client.disconnect()
    held = await snapshot(mine, session_id)
    assert (held['status'], [t['status'] for t in held['turns']]) == ('closed', ['interrupted', 'dropped'])

    await eventually(lambda: listed(mine), [kept])
    await eventually(lambda: operator_rows(operator, name), sorted([(kept, 'idle'), (session_id, 'deleted')]))
    assert await operator_rows(operator, name, 'closed') == []
    assert await operator_rows(operator, name, 'deleted') == [(session_id, 'deleted')]

    # Deleting again changes nothing; renaming or writing to it is refused.
    again = await mine.delete(f'/sessions/{session_id}')
    assert (again.status_code, again.json()['status']) == (200, 'deleted')
    assert (await mine.patch(f'/sessions/{session_id}', json={'title': 'back'})).status_code == 409
    assert (await post(mine, session_id, 'm-3', 'hello?')).status_code == 409
    assert await operator_rows(operator, name) == sorted([(kept, 'idle'), (session_id, 'deleted')])


async def test_delete_of_a_closed_session_removes_it(
    user: tuple[str, httpx.AsyncClient], operator: httpx.AsyncClient
) -> None:
    name, mine = user
    session_id = await start(mine, 'soon gone')
    await finished(mine, session_id, 1)
    assert (await mine.post(f'/sessions/{session_id}/close')).status_code == 200
    await eventually(lambda: operator_rows(operator, name), [(session_id, 'closed')])

    response = await mine.delete(f'/sessions/{session_id}')
    assert (response.status_code, response.json()) == (200, {'session_id': session_id, 'status': 'deleted'})
    # Temporal deletes a closed execution in the background (about half a minute on the dev server).
    await eventually(lambda: listed(mine), [], timeout=DELETION_SECONDS)
    await eventually(lambda: operator_rows(operator, name), [], timeout=DELETION_SECONDS)

    async def gone() -> bool:
        return (await mine.get(f'/sessions/{session_id}')).status_code == 404

    await until(gone, 'the deleted session to be gone', timeout=DELETION_SECONDS)
    assert (await mine.delete(f'/sessions/{session_id}')).status_code == 404


# --- edit and regenerate -------------------------------------------------------------------------


async def test_replaces_redoes_only_the_last_finished_turn_over_rest(
    user: tuple[str, httpx.AsyncClient],
) -> None:
    _, mine = user
    session_id = await start(mine, 'hello')
    await finished(mine, session_id, 1)
    assert (await post(mine, session_id, 'm-2', 'first try')).status_code == 202
    await finished(mine, session_id, 2)

    for replaces, reason in [
        (1, "turn 1 is not the session's last turn (the last is turn 2)"),
        (3, "turn 3 is not the session's last turn (the last is turn 2)"),
    ]:
        refused = await post(mine, session_id, f'bad-{replaces}', 'edited', replaces=replaces)
        assert (refused.status_code, refused.json()) == (409, {'detail': reason})
    assert (await post(mine, session_id, 'bad-0', 'edited', replaces=0)).status_code == 422

    # An edit of turn 2: a new turn; turn 2 stays as it was.
    assert (await post(mine, session_id, 'm-3', 'second try', replaces=2)).status_code == 202
    assert (await post(mine, session_id, 'm-3', 'second try', replaces=2)).status_code == 202  # a resend
    held = await finished(mine, session_id, 3)
    assert [(t['number'], t['user_text'], t['reply'], t['replaces']) for t in held['turns']] == [
        (1, 'hello', expected_reply('hello'), 0),
        (2, 'first try', expected_reply('first try'), 0),
        (3, 'second try', expected_reply('second try'), 2),
    ]

    # A regenerate while the last turn still runs: refused until it has finished.
    assert (await post(mine, session_id, 'm-4', 'slow 300')).status_code == 202
    await running(mine, session_id, 4)
    refused = await post(mine, session_id, 'regen-4', 'slow 300', replaces=4)
    assert (refused.status_code, refused.json()) == (
        409,
        {'detail': 'turn 4 has not finished (running): stop it first'},
    )
    assert (await mine.post(f'/sessions/{session_id}/interrupt', json={})).status_code == 200
    await finished(mine, session_id, 4)
    assert (await post(mine, session_id, 'regen-4', 'slow 3', replaces=4)).status_code == 202
    held = await finished(mine, session_id, 5)
    assert [(t['status'], t['replaces']) for t in held['turns'][3:]] == [('interrupted', 0), ('done', 4)]


async def test_replaces_over_the_websocket_is_refused_in_an_error_frame_or_redoes_the_turn(
    api_url: str, user: tuple[str, httpx.AsyncClient]
) -> None:
    name, mine = user
    session_id = await start(mine, 'hello')
    await finished(mine, session_id, 1)
    assert (await post(mine, session_id, 'm-2', 'again')).status_code == 202
    await finished(mine, session_id, 2)
    client = await ChatClient(api_url, session_id, token_for(name)).connect()
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))

    frame = {'type': 'message', 'id': 'ws-bad', 'text': 'edited', 'replaces': 1}
    await client.send_raw(json.dumps(frame))
    [error] = await client.wait_for(lambda: client.of_type('ERROR'))
    assert (error['status'], error['id'], error['reason']) == (
        409,
        'ws-bad',
        "turn 1 is not the session's last turn (the last is turn 2)",
    )

    await client.send_raw(json.dumps({**frame, 'id': 'ws-good', 'text': 'again', 'replaces': 2}))
    await client.wait_for(lambda: client.finished(3))
    assert any(f['id'] == 'ws-good' for f in client.of_type('ACK'))
    await client.disconnect()
    held = await finished(mine, session_id, 3)
    assert [(t['message_id'], t['replaces']) for t in held['turns']] == [
        (held['turns'][0]['message_id'], 0),
        ('m-2', 0),
        ('ws-good', 2),
    ]
