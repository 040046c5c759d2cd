"""The product on a three-node Valkey cluster (DURABLE_CHAT_REDIS_CLUSTER): each script's keys share
one slot, a turn streams and finishes, rate limits and memory hints hold, and the node holding a
session's stream SIGKILLed mid-reply and started again costs its client a pause, nothing more."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisError
from temporalio.client import Client

from durable_chat.api import limits
from durable_chat.redis_clients import connect_redis
from durable_chat.settings import Settings, get_settings
from durable_chat.testing.chat_client import ChatClient, delivery_faults
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.services import Api
from durable_chat.testing.stack import HIGH_LIMITS, Stack
from durable_chat.testing.valkey_cluster import ValkeyCluster
from durable_chat.workflows import events, memory_hints
from durable_chat.workflows.contract import (
    ATTEMPT_STARTED,
    MODEL_ERROR,
    RUN_FINISHED,
    TURN_INTERRUPTED,
    StreamEntry,
    decode_event,
    stream_key,
    workflow_id,
)
from tests.conftest import SECRET, token_for
from tests.test_limits import MESSAGE_BURST, TINY_LIMITS, assert_limited, post_message
from tests.test_memory_hints import recalled_after_a_store_elsewhere, recalls_run
from tests.test_memory_sessions import new_session, say, signed_in

LONG_REPLY = 'slow 120 cl'
"""120 tokens, 40 ms apart: about five seconds of streaming to restart a node in."""


def test_the_keys_each_script_touches_share_a_slot() -> None:
    session, user = uuid.uuid4().hex, 'alice'
    session_keys = [
        stream_key(session),
        events.stopped_key(session),
        events.published_key(session, 1),
        events.published_key(session, 1000),
    ]
    user_keys = [
        *(limits.limit_key(user, kind) for kind in ('messages', 'sessions')),
        limits.websockets_key(user),
        memory_hints.generation_key(user),
        memory_hints.empty_key(user),
    ]
    for keys in (session_keys, user_keys):
        assert len({key_slot(key.encode()) for key in keys}) == 1, keys
    # Sessions spread over the cluster: each key names its session, not a constant.
    assert len({key_slot(stream_key(uuid.uuid4().hex).encode()) for _ in range(50)}) > 1


@pytest.mark.integration
async def test_a_cluster_with_no_node_up_fails_as_a_lost_redis_does(tmp_path: Path) -> None:
    """A RedisError, as from a plain client, which the product's outage handlers catch (redis-py's
    own cluster client raises a RedisClusterException, no RedisError, once it finds no node)."""
    cluster = ValkeyCluster(tmp_path).start()
    client = connect_redis(Settings(redis_url=cluster.url, redis_cluster=True), socket_timeout=5)
    try:
        key = stream_key(uuid.uuid4().hex)
        await client.xadd(key, {'x': '1'})
        cluster.kill(cluster.node_of(key))
        with pytest.raises(RedisError):
            await client.xrange(key)
        for index in range(len(cluster.nodes)):
            cluster.kill(index)
        for any_key in (key, 'elsewhere'):
            with pytest.raises(RedisError):
                await client.xrange(any_key)
        cluster.start()
        assert len(cast(list[StreamEntry], await client.xrange(key))) == 1  # the same client, nodes back
    finally:
        await client.aclose()
        cluster.stop()


@pytest.fixture(scope='module')
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Temporal, a three-node Valkey cluster, the workers and an API, the product told it is a cluster."""
    stack = Stack(
        tmp_path_factory.mktemp('cluster-stack'), secret=SECRET, settings=HIGH_LIMITS, cluster_nodes=3
    )
    yield stack.start(chat_workers=1, apis=[{}])
    stack.stop()


@pytest.fixture(scope='module')
def cluster(cluster_stack: Stack) -> ValkeyCluster:
    assert cluster_stack.cluster is not None
    return cluster_stack.cluster


@pytest.fixture(scope='module')
def api_url(cluster_stack: Stack) -> str:
    return cluster_stack.apis[0].url


@pytest.fixture(scope='module')
def tiny_limits_api(cluster_stack: Stack) -> Api:
    return cluster_stack.api(TINY_LIMITS)


@pytest.fixture(scope='module')
async def cluster_temporal(cluster_stack: Stack) -> Client:
    return await Client.connect(cluster_stack.temporal.address)


@pytest.fixture
async def cluster_writer(cluster: ValkeyCluster, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """This process's event writer pointed at the cluster; yields a fresh session id."""
    monkeypatch.setenv('DURABLE_CHAT_REDIS_URL', cluster.url)
    monkeypatch.setenv('DURABLE_CHAT_REDIS_CLUSTER', '1')
    get_settings.cache_clear()
    events._clients.pop(id(asyncio.get_running_loop()), None)  # pyright: ignore[reportPrivateUsage]
    yield uuid.uuid4().hex
    await events._clients.pop(id(asyncio.get_running_loop())).aclose()  # pyright: ignore[reportPrivateUsage]
    get_settings.cache_clear()


def keys_on_node(cluster: ValkeyCluster, key: str) -> bool:
    """Whether the node the slot map names for `key` holds it (asked directly, not redirected)."""
    node = cluster.nodes[cluster.node_of(key)]
    return bool(node.client().exists(key))


@pytest.mark.integration
async def test_the_event_writer_on_a_cluster_appends_once_and_stops(
    cluster_writer: str, cluster: ValkeyCluster
) -> None:
    session = cluster_writer
    finished = {'turn': 2, 'step': 0, 'attempt': 1, 'type': RUN_FINISHED, 'data': {'result': 'hi'}}
    assert await events.publish(session, **finished) is True
    assert await events.publish(session, **finished) is False
    interrupted = {'turn': 3, 'step': 0, 'attempt': 1, 'type': TURN_INTERRUPTED, 'data': {'by': 'user'}}
    assert await events.publish(session, **interrupted) is True
    # The stop the interrupt recorded beside the stream refuses the turn's later events.
    error = {'turn': 3, 'step': 1, 'attempt': 1, 'type': MODEL_ERROR, 'data': {'id': '1-1', 'reason': 'x'}}
    assert await events.publish(session, **error, unless_stopped=True) is False
    client = events.redis_client()
    assert isinstance(client, RedisCluster)
    entries = cast(list[StreamEntry], await client.xrange(stream_key(session)))
    assert [fields[b'type'] for _id, fields in entries] == [RUN_FINISHED.encode(), TURN_INTERRUPTED.encode()]
    for key in (stream_key(session), events.stopped_key(session), events.published_key(session, 3)):
        assert keys_on_node(cluster, key), key


@pytest.mark.integration
async def test_a_turn_streams_and_finishes_through_the_cluster(api_url: str, cluster: ValkeyCluster) -> None:
    async with signed_in(api_url, 'cl-stream') as http:
        session_id = await new_session(http)
        client = await ChatClient(api_url, session_id, token_for('cl-stream')).connect()
        await client.send('m-1', 'slow 20 s')
        await client.wait_for(lambda: client.finished(1), timeout=60)
        await client.disconnect()

    frames = [f for f in client.frames if f.get('turn') == 1]
    kinds = [f['type'] for f in frames]
    assert kinds == [
        'TEXT_MESSAGE_START',
        *['TEXT_MESSAGE_CONTENT'] * 20,
        'TEXT_MESSAGE_END',
        'RUN_FINISHED',
    ]
    assert [f['seq'] for f in frames[:-1]] == list(range(22))  # the model activity's events, in order
    finished = client.finished(1)
    assert finished is not None and client.streamed_text(1) == finished['result'] == expected_reply(
        'slow 20 s'
    )
    assert client.delivery_faults() == []
    assert keys_on_node(cluster, stream_key(session_id))


@pytest.mark.integration
async def test_rate_limits_hold_on_the_cluster(tiny_limits_api: Api, cluster: ValkeyCluster) -> None:
    user = f'cl-lim-{uuid.uuid4().hex[:8]}'
    async with signed_in(tiny_limits_api.url, user) as http:
        # A create with a first message takes from two buckets in one script: one slot.
        created = await http.post('/sessions', json={'message': {'id': 'm0', 'text': 'hi'}})
        assert created.status_code == 201, created.text
        session_id = created.json()['session_id']
        for i in range(1, MESSAGE_BURST):
            assert (await post_message(http, session_id, f'm{i}')).status_code == 202
        assert_limited(await post_message(http, session_id, 'over'), 'messages')
    assert keys_on_node(cluster, limits.limit_key(user, 'messages'))


@pytest.mark.integration
async def test_memory_hints_work_on_the_cluster(
    api_url: str, cluster_stack: Stack, cluster_temporal: Client, cluster: ValkeyCluster
) -> None:
    async with signed_in(api_url, 'cl-hint') as http:
        session = await new_session(http)
        for text in ('hello', 'instructions: what is my name?', 'and now?'):
            await say(api_url, http, 'cl-hint', session, text)
    # The first turn learned there is nothing to recall; the next two asked the cluster only.
    assert await recalls_run(cluster_temporal, session) == 1
    assert keys_on_node(cluster, memory_hints.empty_key('cl-hint'))
    # A store in another session bumps the generation, and the session that found none recalls it.
    await recalled_after_a_store_elsewhere(api_url, 'cl-hint-store')


async def a_model_attempt_failed(temporal: Client, session_id: str) -> None:
    """Returns once the turn's model activity has failed an attempt (Temporal is retrying it)."""
    handle = temporal.get_workflow_handle(workflow_id(session_id))
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(activity.attempt >= 2 for activity in pending):
            return
        await asyncio.sleep(0.1)  # Temporal has no push for a pending activity's attempt


@pytest.mark.integration
@pytest.mark.parametrize('outage', ['brief', 'past the client retries', 'every node'])
async def test_the_node_holding_the_stream_restarted_mid_reply_costs_only_a_pause(
    api_url: str, cluster: ValkeyCluster, cluster_temporal: Client, outage: str
) -> None:
    """Brief: the node is back within redis-py's own retries. Longer: the model activity's write
    fails, Temporal retries it, and its step streams again as the next attempt (ATTEMPT_STARTED).
    Every node: the whole cluster down, until the same retry, then every node back."""
    user = 'cl-restart'
    async with signed_in(api_url, user) as http:
        session_id = await new_session(http)
        client = await ChatClient(api_url, session_id, token_for(user)).connect()
        await client.send('m-1', LONG_REPLY)
        await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 10, timeout=60)

        node = cluster.node_of(stream_key(session_id))
        for index in range(len(cluster.nodes)) if outage == 'every node' else [node]:
            cluster.kill(index)
        if outage != 'brief':
            await asyncio.wait_for(a_model_attempt_failed(cluster_temporal, session_id), 30)
        # In place: the same data dir, so the same identity, slots and data.
        await asyncio.to_thread(cluster.start if outage == 'every node' else lambda: cluster.start_node(node))
        await client.wait_for(lambda: client.finished(1), timeout=90)
        assert client.close_code is None  # the websocket stayed open through the restart

        full = expected_reply(LONG_REPLY)
        finished = client.finished(1)
        assert finished is not None and finished['result'] == client.streamed_text(1) == full
        assert client.delivery_faults() == []
        assert len(client.of_type(RUN_FINISHED)) == 1
        retried = bool(client.of_type(ATTEMPT_STARTED, 1))
        assert retried == (outage != 'brief')
        turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
        assert [(t['reply'], t['status']) for t in turns] == [(full, 'done')]
        await client.disconnect()

    # The restarted node's stream itself holds each event once, whoever reads it later.
    reader = RedisCluster.from_url(cluster.url)
    entries = cast(list[StreamEntry], await reader.xrange(stream_key(session_id)))
    await reader.aclose()
    assert delivery_faults([decode_event(*entry) for entry in entries]) == []
