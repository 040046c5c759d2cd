"""Memory that knows what changed, through the product: supersession by the offline rules and by a
model's decision, conflicts asked about, provenance, history and undo."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from durable_chat.testing.stack import Workers
from durable_chat.workflows.offline_model import LABEL
from tests.test_memory_sessions import new_session, say, signed_in

pytestmark = pytest.mark.integration


@pytest.fixture
async def fern(api_url: str, workers: Workers) -> AsyncIterator[httpx.AsyncClient]:
    workers.ensure_one()
    async with signed_in(api_url, 'fern') as http:
        await http.delete('/memories')
        yield http
        await http.delete('/memories')


async def test_a_replacing_statement_supersedes_with_history_provenance_and_undo(
    api_url: str, fern: httpx.AsyncClient
) -> None:
    first = await new_session(fern)
    await say(api_url, fern, 'fern', first, 'remember that I work at a bakery on Elm Street')
    second = await new_session(fern)
    await say(api_url, fern, 'fern', second, 'what do you remember about me')
    reply = await say(
        api_url, fern, 'fern', second, "remember that I quit the bakery, I'm at the city library now"
    )
    assert reply.startswith(
        f"{LABEL} Noted. I'll remember it (updated: I quit the bakery, I'm at the city library now "
        '(was: I work at a bakery on Elm Street))'
    )
    [memory] = (await fern.get('/memories')).json()
    assert memory['text'] == "I quit the bakery, I'm at the city library now"
    # Where it was said: the second session's second turn; the old text is a previous version.
    assert (memory['session_id'], memory['turn'], memory['version']) == (second, 2, 2)
    history = (await fern.get(f'/memories/{memory["id"]}')).json()
    assert history['memory'] == memory
    [previous] = history['versions']
    assert (previous['text'], previous['session_id'], previous['turn']) == (
        'I work at a bakery on Elm Street',
        first,
        1,
    )
    assert previous['valid_until'] is not None
    # Recalled as current only: the old workplace never reaches a turn.
    assert (
        await say(api_url, fern, 'fern', second, 'instructions: am I still at the bakery?')
        == "Instructed: I quit the bakery, I'm at the city library now"
    )

    undone = (await fern.post(f'/memories/{memory["id"]}/undo')).json()
    assert undone['undone'] == 'update'
    assert undone['memory']['text'] == 'I work at a bakery on Elm Street'
    assert (await fern.get(f'/memories/{memory["id"]}')).json()['versions'] == []
    # Undoing a memory that never changed forgets it.
    assert (await fern.post(f'/memories/{memory["id"]}/undo')).json() == {'undone': 'add', 'memory': None}
    assert (await fern.get('/memories')).json() == []
    assert (await fern.get(f'/memories/{memory["id"]}')).status_code == 404
    assert (await fern.post(f'/memories/{memory["id"]}/undo')).status_code == 404


async def test_a_recent_contradiction_is_asked_about(api_url: str, fern: httpx.AsyncClient) -> None:
    session = await new_session(fern)
    await say(api_url, fern, 'fern', session, 'remember that my favourite colour is blue')
    reply = await say(api_url, fern, 'fern', session, 'remember that my favourite colour is green')
    assert reply == (
        f'{LABEL} You told me recently that my favourite colour is blue, and now that my favourite '
        'colour is green. Which is right? Say "yes, update it" and I will remember the new one '
        'instead, or "keep the old one".'
    )
    assert [m['text'] for m in (await fern.get('/memories')).json()] == ['my favourite colour is blue']

    reply = await say(api_url, fern, 'fern', session, 'yes, update it')
    assert '(updated: my favourite colour is green (was: my favourite colour is blue))' in reply
    [memory] = (await fern.get('/memories')).json()
    assert (memory['text'], memory['version'], memory['change']) == (
        'my favourite colour is green',
        2,
        'superseded',
    )

    # Asked again, and the old one kept this time.
    await say(api_url, fern, 'fern', session, 'remember that my favourite colour is red')
    reply = await say(api_url, fern, 'fern', session, 'keep the old one')
    assert reply == f'{LABEL} All right, I keep what you told me before: my favourite colour is green.'
    assert [m['text'] for m in (await fern.get('/memories')).json()] == ['my favourite colour is green']


async def test_a_models_decision_on_what_the_store_proposes(api_url: str, fern: httpx.AsyncClient) -> None:
    session = await new_session(fern)
    await say(api_url, fern, 'fern', session, 'remember that I live in a flat in Leeds')
    # The scripted model calls remember, gets the proposal, and decides to supersede.
    reply = await say(api_url, fern, 'fern', session, "decide supersede: we're living in Manchester now")
    assert reply == "remember said: updated: we're living in Manchester now (was: I live in a flat in Leeds)"
    [memory] = (await fern.get('/memories')).json()
    assert memory['text'] == "we're living in Manchester now"
    assert [v['text'] for v in (await fern.get(f'/memories/{memory["id"]}')).json()['versions']] == [
        'I live in a flat in Leeds'
    ]
    # Deciding to keep both adds the second.
    reply = await say(api_url, fern, 'fern', session, 'decide add: we love living in Manchester')
    assert reply.startswith('remember said: added: we love living in Manchester')
    assert len((await fern.get('/memories')).json()) == 2
