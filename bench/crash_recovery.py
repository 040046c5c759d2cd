"""Worker SIGKILL mid-stream, a standby worker already polling: time to the retried attempt's first token."""

from __future__ import annotations

import time

import httpx

from bench.stack import Stack
from bench.stats import summary
from durable_chat.testing.chat_client import ChatClient


async def one_crash(stack: Stack) -> float:
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=30, headers={'Authorization': f'Bearer {stack.token()}'}
    ) as http:
        session_id = (await http.post('/sessions', json={})).json()['session_id']
    # Only the doomed worker runs while the turn starts, so it is the one holding the model activity.
    for standby in stack.workers.chat[:-1]:
        standby.stop()
    stack.workers.chat[:-1] = []
    doomed = stack.workers.chat[0]
    client = await ChatClient(stack.api_url, session_id, stack.token()).connect()
    await client.send('m-1', 'slow 400')
    await client.wait_for(lambda: len(client.of_type('TEXT_MESSAGE_CONTENT', 1)) >= 3)
    stack.workers.start()  # the standby, polling before the crash

    killed_at = time.monotonic()
    doomed.kill()
    stack.workers.chat.remove(doomed)
    index = await client.wait_for(lambda: _first_retried_delta(client), timeout=60)
    await client.disconnect()
    return client.received_at[index] - killed_at


def _first_retried_delta(client: ChatClient) -> int | None:
    for index, frame in enumerate(client.frames):
        if frame.get('type') == 'TEXT_MESSAGE_CONTENT' and frame.get('attempt', 1) > 1:
            return index
    return None


async def run(stack: Stack, crashes: int) -> dict[str, dict[str, float]]:
    return {
        'worker SIGKILL -> first retried token': summary([await one_crash(stack) for _ in range(crashes)])
    }
