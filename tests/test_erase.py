"""Export and erase a user (`GET /me/export`, `DELETE /me`): the export holds all of the user's
data and nothing of another's; after the erase nothing of the user remains in Temporal (workflows
and visibility), Qdrant (memories, transcript archive) or Redis, and another user is untouched."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from durable_chat.memory.operations import ARCHIVE_TURNS, COUNT_USER_POINTS, ArchivePage, UserPoints
from durable_chat.testing.servers import Valkey
from durable_chat.testing.stack import Workers
from durable_chat.workflows.contract import workflow_id
from tests.rollover import chat_until_continued_as_new, eventually
from tests.test_memory_sessions import say, signed_in

pytestmark = pytest.mark.integration

SUFFIX = uuid.uuid4().hex[:8]
A, B = f'erase-a-{SUFFIX}', f'erase-b-{SUFFIX}'
MEMORY_QUEUE = 'memory'
TIMEOUT = timedelta(seconds=30)
CHECK_IN = {'text': 'drink water', 'every_seconds': 2}


async def check_in_runs(temporal: Client, session_id: str) -> bool:
    query = f'WorkflowType = "CheckInDue" AND WorkflowId STARTS_WITH "checkin-{session_id}-"'
    return bool([run async for run in temporal.list_workflows(query)])


@dataclass
class User:
    name: str
    sessions: list[str]
    """The first is running (memories, a reminder, an archive page); the second is closed; A's third
    has a check-in."""
    memory_id: str


async def populate(api_url: str, temporal: Client, name: str) -> User:
    async with signed_in(api_url, name) as http:
        first = (await http.post('/sessions', json={})).json()['session_id']
        await say(api_url, http, name, first, 'remember that I live in Paris')
        await say(api_url, http, name, first, 'remember that I moved to Lyon')
        await say(api_url, http, name, first, 'remind me in 5 hours to water the plants')
        second = (await http.post('/sessions', json={})).json()['session_id']
        await say(api_url, http, name, second, f'hello from {name}')
        assert (await http.post(f'/sessions/{second}/close')).status_code == 200
        memories = (await http.get('/memories')).json()
        sessions = [first, second]
        if name == A:  # a check-in every 2 seconds: its schedule and the runs it started name the session
            third = (await http.post('/sessions', json={})).json()['session_id']
            await say(api_url, http, name, third, f'call check_in {json.dumps(CHECK_IN)}')
            await eventually(lambda: check_in_runs(temporal, third), True, timeout=60)
            await temporal.get_schedule_handle(f'checkin-{third}-c1-1').describe()  # there to erase
            sessions.append(third)
    # A transcript archive page, as a long session writes it (the real activity of the memory worker).
    page = ArchivePage(first, name, 1, [{'number': 0, 'user_text': f'archived {name}', 'reply': ''}])
    await temporal.execute_activity(
        ARCHIVE_TURNS,
        page,
        id=f'archive-{uuid.uuid4().hex}',
        task_queue=MEMORY_QUEUE,
        start_to_close_timeout=TIMEOUT,
    )
    return User(name, sessions, memories[0]['id'])


@pytest.fixture(scope='module')
async def users(api_url: str, workers: Workers, temporal_client: Client) -> dict[str, User]:
    workers.ensure_one()
    return {name: await populate(api_url, temporal_client, name) for name in (A, B)}


@pytest.fixture
async def redis(valkey: Valkey) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(valkey.url, decode_responses=True)
    yield client
    await client.aclose()


async def points(temporal: Client, user: str) -> UserPoints:
    return await temporal.execute_activity(
        COUNT_USER_POINTS,
        UserPoints(user),
        id=f'count-{uuid.uuid4().hex}',
        task_queue=MEMORY_QUEUE,
        result_type=UserPoints,
        start_to_close_timeout=TIMEOUT,
    )


async def user_runs(temporal: Client, user: str) -> list[str]:
    return [run.id async for run in temporal.list_workflows(f'ChatUser = "{user}"')]


async def test_export_holds_the_user_data_and_nothing_of_another(
    api_url: str, users: dict[str, User]
) -> None:
    a, b = users[A], users[B]
    async with signed_in(api_url, A) as http:
        response = await http.get('/me/export')
    assert response.status_code == 200
    export = response.json()
    assert export['user_id'] == A
    sessions = {s['session_id']: s for s in export['sessions']}
    assert set(sessions) == set(a.sessions)
    first, second, third = (sessions[s] for s in a.sessions)
    assert first['readable'] and second['readable'] and second['status'] == 'closed'
    assert [t['user_text'] for t in first['turns']][:1] == ['remember that I live in Paris']
    assert len(first['turns']) == 3 and [r['status'] for r in first['reminders']] == ['pending']
    assert [t['user_text'] for t in second['turns']] == [f'hello from {A}']
    assert [(c['id'], c['text']) for c in third['check_ins']] == [('c1-1', 'drink water')]
    [memory] = export['memories']
    assert memory['memory']['id'] == a.memory_id and memory['versions']
    assert memory['versions'][0]['text'] == 'I live in Paris'
    text = json.dumps(export)
    for secret in (B, *b.sessions, b.memory_id):
        assert secret not in text


async def test_erase_leaves_nothing_of_the_user_and_all_of_another(
    api_url: str, users: dict[str, User], temporal_client: Client, redis: aioredis.Redis
) -> None:
    a, b = users[A], users[B]
    assert await user_runs(temporal_client, A)
    before = await points(temporal_client, A)
    assert before.memories >= 2 and before.transcript_pages == 1  # a memory and its earlier version
    b_points = await points(temporal_client, B)
    b_keys = sorted([k async for k in redis.scan_iter(match=f'*{b.sessions[0]}*')])
    assert b_keys

    async with signed_in(api_url, A) as http:
        response = await http.delete('/me')
        assert response.status_code == 200, response.text
        erased = response.json()
        assert erased['user_id'] == A and erased['sessions'] == 3 and erased['workflow_runs'] >= 4
        assert (erased['memories'], erased['transcript_pages']) == (before.memories, 1)
        assert erased['redis_keys'] >= 2  # the streams at least

        # Temporal: no run carries A in visibility; A's workflows are gone.
        await eventually(lambda: user_runs(temporal_client, A), [], timeout=90)  # deleted in the background
        for session_id in a.sessions:
            with pytest.raises(RPCError) as missing:
                await temporal_client.get_workflow_handle(workflow_id(session_id)).describe()
            assert missing.value.status == RPCStatusCode.NOT_FOUND
        await eventually(lambda: check_in_runs(temporal_client, a.sessions[2]), False, timeout=90)
        with pytest.raises(RPCError) as missing:
            await temporal_client.get_schedule_handle(f'checkin-{a.sessions[2]}-c1-1').describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND

        # Qdrant: no memory, version or transcript page of A.
        assert await points(temporal_client, A) == UserPoints(A, 0, 0)
        assert (await http.get('/memories')).json() == []
        # Redis: no key names A or A's sessions.
        left = [k async for k in redis.scan_iter(match='*') if A in k or any(s in k for s in a.sessions)]
        assert left == []
        # Again: nothing left to remove, and it says so.
        again = (await http.delete('/me')).json()
        assert again == {**erased, **dict.fromkeys(erased.keys() - {'user_id'}, 0)}
        assert (await http.get('/me/export')).json()['sessions'] == []

    # B: untouched, and still chats.
    assert await points(temporal_client, B) == b_points
    assert sorted([k async for k in redis.scan_iter(match=f'*{b.sessions[0]}*')]) == b_keys
    async with signed_in(api_url, B) as http:
        listed = {s['session_id'] for s in (await http.get('/sessions')).json()}
        assert set(b.sessions) <= listed
        assert b.memory_id in [m['id'] for m in (await http.get('/memories')).json()]
        reply = await say(api_url, http, B, b.sessions[0], 'hello again')
        assert reply


async def test_a_long_session_is_exported_whole_and_erased_with_all_its_runs(
    small_limits_api: str, temporal_client: Client
) -> None:
    """Its older turns live in the transcript archive and its earlier runs continued as new: the
    export holds every turn, and the erase leaves no run and no archive page."""
    user = f'erase-long-{SUFFIX}'
    session_id = await chat_until_continued_as_new(small_limits_api, user, temporal_client, times=1)
    async with signed_in(small_limits_api, user) as http:
        for _ in range(40):  # until a page of turns is archived (past 5 kept + a page of 25)
            if (await http.get(f'/sessions/{session_id}')).json()['archived_turns']:
                break
            await say(small_limits_api, http, user, session_id, 'more ' * 40)
        else:
            raise AssertionError('no turn was archived')
        [session] = (await http.get('/me/export')).json()['sessions']
        numbers = [t['number'] for t in session['turns']]
        assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 30  # archived ones too
        assert (await points(temporal_client, user)).transcript_pages >= 1
        erased = (await http.delete('/me')).json()
    assert erased['sessions'] == 1 and erased['workflow_runs'] >= 2  # a run continued as new, and the last
    assert erased['transcript_pages'] >= 1
    await eventually(lambda: user_runs(temporal_client, user), [], timeout=90)
    assert await points(temporal_client, user) == UserPoints(user, 0, 0)
    with pytest.raises(RPCError) as missing:
        await temporal_client.get_workflow_handle(workflow_id(session_id)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
