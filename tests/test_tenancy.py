"""Tenancy: another user reaches nothing of a user's, through any route, the websocket or memory.

`tests/test_auth.py` holds the who-may-do-what matrix for fixed routes; this file complements it:
every route of the app's OpenAPI spec is called as B with A's ids (so a new route is covered the
day it is added), the websocket is tried with A's, guessed and neighbouring ids and A's event ids,
B's memory search and recall never surface A's facts, and the ids themselves are not guessable.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

SUFFIX = uuid.uuid4().hex[:8]
A, B = f'tenant-a-{SUFFIX}', f'tenant-b-{SUFFIX}'
FACT = f'my locker code is quokka{SUFFIX}'
OWNER_QUERY = {'user_id', 'user'}  # query parameters that name whose things to reach


@dataclass
class World:
    """What user A has: a session waiting on an approval, with a pending reminder and an active
    check-in, a memory, and the events of its stream."""

    session_id: str
    memory_id: str
    approval_id: str
    event_id: str
    reminder_id: str
    check_in_id: str

    @property
    def ids(self) -> dict[str, str]:
        return {
            'session_id': self.session_id,
            'memory_id': self.memory_id,
            'approval_id': self.approval_id,
            'reminder_id': self.reminder_id,
            'check_in_id': self.check_in_id,
        }

    def assert_leaks_nothing(self, text: str) -> None:
        # Only an id the caller sent may come back, in "no session <id>" / "no memory <id>".
        text = text.replace(f'no session {self.session_id}', '').replace(f'no memory {self.memory_id}', '')
        for secret in (f'quokka{SUFFIX}', A, *self.ids.values(), self.event_id):
            assert secret not in text, f'{secret!r} leaked: {text[:500]}'


def signed_in(api_url: str, user: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=api_url, timeout=60, headers={'Authorization': f'Bearer {token_for(user)}'}
    )


@pytest.fixture(scope='module')
async def world(api_url: str, workers: Workers) -> World:
    workers.ensure_one()
    async with signed_in(api_url, A) as alice:
        first = {'id': 'm-1', 'text': f'remember that {FACT}'}
        session_id = (await alice.post('/sessions', json={'message': first})).json()['session_id']
        client = await ChatClient(api_url, session_id, token_for(A)).connect()
        await client.wait_for(lambda: client.finished(1), timeout=60)
        # A reminder B must neither see nor cancel.
        await client.send('m-reminder', 'remind me in 5 hours to water the plants')
        await client.wait_for(lambda: client.finished(2), timeout=60)
        [reminder] = (await alice.get(f'/sessions/{session_id}/reminders')).json()
        # A check-in (a Temporal Schedule) B must neither see nor cancel.
        await client.send('m-check-in', 'call check_in {"text": "the plants", "every_seconds": 7200}')
        await client.wait_for(lambda: client.finished(3), timeout=60)
        [check_in] = (await alice.get(f'/sessions/{session_id}/check-ins')).json()
        # The forget tool asks for approval: A's session keeps a pending approval B must not answer.
        await client.send('m-2', f'forget {FACT}')
        [approval] = await client.wait_for(lambda: client.of_type('APPROVAL_REQUESTED'), timeout=60)
        await client.disconnect()
        [memory] = (await alice.get('/memories')).json()
    assert memory['text'] == FACT and approval['args'] == {'memory_id': memory['id']}
    assert client.last_event_id is not None
    return World(
        session_id, memory['id'], approval['id'], client.last_event_id, reminder['id'], check_in['id']
    )


async def assert_intact(api_url: str, world: World) -> None:
    async with signed_in(api_url, A) as alice:
        session = (await alice.get(f'/sessions/{world.session_id}')).json()
        assert session['status'] == 'awaiting_approval'
        assert [(a['id'], a['status']) for a in session['approvals']] == [(world.approval_id, 'pending')]
        assert [(r['id'], r['status']) for r in session['reminders']] == [(world.reminder_id, 'pending')]
        assert [(c['id'], c['status']) for c in session['check_ins']] == [(world.check_in_id, 'active')]
        assert [m['id'] for m in (await alice.get('/memories')).json()] == [world.memory_id]


# --- every REST route, from the spec --------------------------------------------------------------


def example(schema: dict[str, Any], spec: dict[str, Any], world: World) -> Any:
    """A valid value for a schema, with A's ids wherever a property names one."""
    if '$ref' in schema:
        return example(spec['components']['schemas'][schema['$ref'].rsplit('/', 1)[1]], spec, world)
    if 'anyOf' in schema:
        return example(next(s for s in schema['anyOf'] if s.get('type') != 'null'), spec, world)
    kind = schema.get('type')
    if kind == 'object':
        properties = schema.get('properties', {})
        return {
            name: world.ids[name] if name in world.ids else example(properties[name], spec, world)
            for name in properties
            if name in world.ids or name in schema.get('required', [])
        }
    if kind == 'string':
        for candidate in ('tenancy-probe', FACT, world.session_id, world.memory_id):
            if re.search(schema.get('pattern', ''), candidate):
                return candidate
        raise AssertionError(f'no example for {schema}: teach example() one')
    if kind == 'boolean':
        return True  # approve=True: the most a stranger could want to do with A's approval
    if kind == 'integer':
        return schema.get('minimum', 1)
    if kind == 'array':
        return []  # AG-UI's lists (messages, tools, context): empty is valid
    if kind is None and not schema.get('oneOf'):
        return {}  # any JSON (AG-UI's state, forwardedProps)
    raise AssertionError(f'no example for {schema}: teach example() one')


def requests_as_b(spec: dict[str, Any], world: World) -> list[tuple[str, str, dict, Any, bool]]:
    """(method, path, query, body, aims at A) for every operation: once naming A in the query
    parameters that choose whose things, once without (B's own, with A's ids in path and body)."""
    calls = []
    for template, operations in spec['paths'].items():
        for method, operation in operations.items():
            path, query, owner_query = template, {}, {}
            for parameter in operation.get('parameters', []):
                name, where = parameter['name'], parameter['in']
                if where == 'path':
                    assert name in world.ids, (
                        f"{template}: new path parameter {name}; add A's {name} to World"
                    )
                    path = path.replace(f'{{{name}}}', world.ids[name])
                elif name in OWNER_QUERY:
                    owner_query[name] = A
                elif name == 'q':
                    query[name] = FACT  # search for A's very words
                elif parameter.get('required'):
                    query[name] = example(parameter['schema'], spec, world)
            schema = (
                operation.get('requestBody', {}).get('content', {}).get('application/json', {}).get('schema')
            )
            body = example(schema, spec, world) if schema else None
            aims_at_a = path != template or (isinstance(body, dict) and bool(set(body) & set(world.ids)))
            calls.append((method.upper(), path, query, body, aims_at_a))
            if owner_query:
                calls.append((method.upper(), path, {**query, **owner_query}, body, True))
    return calls


async def test_b_reaches_nothing_of_a_through_any_route_of_the_spec(api_url: str, world: World) -> None:
    async with signed_in(api_url, B) as bob:
        spec = (await bob.get('/openapi.json')).json()
        calls = requests_as_b(spec, world)
        assert len(calls) >= 15 and any('{' not in path for _, path, *_ in calls)
        for method, path, query, body, aims_at_a in calls:
            response = await bob.request(method, path, params=query, json=body)
            what = (
                f'{method} {path}?{query} {json.dumps(body)} -> {response.status_code} {response.text[:300]}'
            )
            if path.startswith('/operator'):
                assert response.status_code == 403, what
            elif aims_at_a:
                assert response.status_code in (403, 404, 409), what
            else:
                assert response.status_code != 500, what
            world.assert_leaks_nothing(response.text)
    await assert_intact(api_url, world)


# --- the websocket ------------------------------------------------------------------------------


async def ws_frames_as_b(api_url: str, session_id: str, after: str | None = None) -> ChatClient:
    client = await ChatClient(api_url, session_id, token_for(B)).connect(after=after)
    await client.wait_for(lambda: client.close_code is not None)
    return client


def neighbours(session_id: str) -> list[str]:
    value = int(session_id, 16)
    return [f'{(value + d) % 2**128:032x}' for d in (-1, 1)]


async def test_b_cannot_open_a_or_guessed_sessions_on_the_websocket(api_url: str, world: World) -> None:
    guesses = [world.session_id, *neighbours(world.session_id), uuid.uuid4().hex, '0' * 32, 'f' * 32]
    for session_id in guesses:
        for after in (None, world.event_id, '0-0'):
            client = await ws_frames_as_b(api_url, session_id, after)
            assert client.close_code == 4404
            assert [(f['type'], f['status']) for f in client.frames] == [('ERROR', 404)]
            world.assert_leaks_nothing(json.dumps(client.frames))


async def test_a_event_ids_on_b_own_session_show_only_b_events(api_url: str, world: World) -> None:
    async with signed_in(api_url, B) as bob:
        session_id = (await bob.post('/sessions', json={})).json()['session_id']
    for turn, after in enumerate((world.event_id, '0-0'), start=1):
        client = await ChatClient(api_url, session_id, token_for(B)).connect(after=after)
        await client.send(f'b-{turn}', f'hello from b {turn}')
        await client.wait_for(lambda c=client, t=turn: c.finished(t), timeout=60)
        await client.disconnect()
        world.assert_leaks_nothing(json.dumps(client.frames))


# --- memory ---------------------------------------------------------------------------------------


async def test_b_memory_search_recall_and_delete_never_touch_a_facts(api_url: str, world: World) -> None:
    async with signed_in(api_url, B) as bob:
        for query in (FACT, 'locker code', f'quokka{SUFFIX}'):
            found = (await bob.get('/memories', params={'q': query, 'k': 50})).json()
            assert found == [], found
        assert (await bob.delete(f'/memories/{world.memory_id}')).status_code == 404
        assert (await bob.delete(f'/memories/{world.memory_id.upper()}')).status_code == 404
        assert (await bob.delete('/memories')).json() == {'deleted': 0}
        # Recall inside B's own session (before the turn and through the tool) finds none of A's.
        question = {'id': 'q-1', 'text': 'instructions: what is my locker code?'}
        session_id = (await bob.post('/sessions', json={'message': question})).json()['session_id']
        client = await ChatClient(api_url, session_id, token_for(B)).connect()
        await client.wait_for(lambda: client.done(1), timeout=60)
        await client.send('q-2', 'what do you remember about my locker code?')
        await client.wait_for(lambda: client.finished(2), timeout=60)
        await client.disconnect()
        assert client.rendered_text(1) == 'Instructed: nothing'
        world.assert_leaks_nothing(json.dumps(client.frames))
    await assert_intact(api_url, world)


# --- ids ------------------------------------------------------------------------------------------


async def test_ids_are_not_guessable(api_url: str, world: World) -> None:
    async with signed_in(api_url, B) as bob:
        ids = [(await bob.post('/sessions', json={})).json()['session_id'] for _ in range(8)]
        # B tells the same fact: the memory id is B's own, not A's (ids are per user).
        first = {'id': 'm-1', 'text': f'remember that {FACT}'}
        session_id = (await bob.post('/sessions', json={'message': first})).json()['session_id']
        client = await ChatClient(api_url, session_id, token_for(B)).connect()
        await client.wait_for(lambda: client.done(1), timeout=60)
        await client.disconnect()
        [memory] = (await bob.get('/memories')).json()
        await bob.delete('/memories')
    # Session ids: random UUID4s (122 random bits), unrelated to each other or to A's.
    for session_id in [*ids, world.session_id]:
        assert uuid.UUID(session_id).version == 4
    values = [int(i, 16) for i in [*ids, world.session_id]]
    assert len(set(values)) == len(values)
    assert min(bin(x ^ y).count('1') for i, x in enumerate(values) for y in values[i + 1 :]) > 20
    # Memory ids: 122 bits of a SHA-1 over user and text (idempotent writes), so per user.
    assert uuid.UUID(world.memory_id).version == 5 and memory['text'] == FACT
    assert (
        bin(int(memory['id'].replace('-', ''), 16) ^ int(world.memory_id.replace('-', ''), 16)).count('1')
        > 20
    )
