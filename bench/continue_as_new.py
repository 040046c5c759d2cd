"""What a continue-as-new costs the next turn: first-token time of turns that start a new run vs the
rest, in one session with a small per-run event budget so runs roll over every few turns."""

from __future__ import annotations

import time

import httpx
from temporalio.client import Client

from bench.stack import Stack
from bench.stats import summary
from durable_chat.testing.chat_client import ChatClient
from durable_chat.workflows.contract import workflow_id


async def run(stack: Stack, turns: int) -> dict[str, dict[str, float]]:
    token = stack.token()
    temporal = await Client.connect(stack.env['DURABLE_CHAT_TEMPORAL_ADDRESS'])
    async with httpx.AsyncClient(
        base_url=stack.small_limits_api, timeout=30, headers={'Authorization': f'Bearer {token}'}
    ) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
    handle = temporal.get_workflow_handle(workflow_id(session_id))
    client = await ChatClient(stack.small_limits_api, session_id, token).connect()
    await client.wait_for(lambda: client.of_type('SNAPSHOT'))
    after_new_run: list[float] = []
    same_run: list[float] = []
    previous_run = None
    for turn in range(1, turns + 1):
        run_id = (await handle.describe()).run_id
        seen = len(client.frames)
        started = time.monotonic()
        await client.send(f'm-{turn}', f'long b{turn}')
        index = await client.wait_for(lambda t=turn, s=seen: client.first_delta_index(t, s))
        latency = client.received_at[index] - started
        (after_new_run if previous_run not in (None, run_id) else same_run).append(latency)
        previous_run = run_id
        await client.wait_for(lambda t=turn: client.finished(t))
    await client.disconnect()
    return {
        'first turn of a new run (after continue-as-new)': summary(after_new_run),
        'turn within a run': summary(same_run),
    }
