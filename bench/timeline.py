"""Where a turn's first-token time goes: client timestamps beside the session's Temporal history.

`python -m bench.timeline [--turns N]` runs N turns in one session, then splits each turn's
"message sent -> first token" into the gaps between its history events (signal, workflow tasks,
activities), p50 over the turns. The client and the dev server share this machine's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from datetime import UTC

import httpx
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench.chatter import create_session
from bench.stack import Stack
from bench.stats import percentile
from tests.chat_client import ChatClient
from workflows.shared import QUERY_SNAPSHOT, Snapshot

PROMPT = 'where does the time go'


def _label(event) -> str:
    name = EventType.Name(event.event_type).removeprefix('EVENT_TYPE_').lower()
    if event.HasField('activity_task_scheduled_event_attributes'):
        name += ':' + event.activity_task_scheduled_event_attributes.activity_type.name.split('__')[-1]
    return name


async def _idle(handle: WorkflowHandle) -> None:
    """The previous turn's last workflow task is done, so its events don't fall in the next window."""
    while True:  # a query is the only way to see it: poll
        if (await handle.query(QUERY_SNAPSHOT, result_type=Snapshot)).status == 'idle':
            return
        await asyncio.sleep(0.01)


async def _turn_marks(
    client: ChatClient, handle: WorkflowHandle, turns: int, prompt: str, whole_turn: bool
) -> list[tuple[float, float]]:
    """(sent, first token or turn finished) per turn, in wall-clock seconds."""
    marks: list[tuple[float, float]] = []
    for turn in range(2, turns + 2):
        await _idle(handle)
        seen = len(client.frames)
        sent_wall, sent = time.time(), time.monotonic()
        await client.send(f'm-{turn}', prompt.format(turn=turn))
        index = await client.wait_for(lambda t=turn, s=seen: client.first_delta_index(t, s))
        finished = await client.wait_for(lambda t=turn: client.finished(t))
        if whole_turn:
            index = client.frames.index(finished)
        marks.append((sent_wall, sent_wall + client.received_at[index] - sent))
    return marks


async def run(stack: Stack, turns: int, prompt: str = PROMPT, whole_turn: bool = False) -> dict[str, float]:
    token = stack.token('timeline')
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        session_id = await create_session(http, token)
    temporal = await Client.connect(stack.env['DURABLE_CHAT_TEMPORAL_ADDRESS'], plugins=[PydanticAIPlugin()])
    handle = temporal.get_workflow_handle(f'chat-{session_id}')
    chat = await ChatClient(stack.api_url, session_id, token).connect()
    await chat.send('warm-up', 'hello')
    await chat.wait_for(lambda: chat.finished(1))
    marks = await _turn_marks(chat, handle, turns, prompt, whole_turn)
    await chat.disconnect()

    history = await handle.fetch_history()
    events = sorted((e.event_time.ToDatetime(tzinfo=UTC).timestamp(), _label(e)) for e in history.events)
    gaps: dict[str, list[float]] = defaultdict(list)
    for sent, first_token in marks:
        previous, previous_label = sent, 'client sent'
        window = [(at, label) for at, label in events if sent <= at <= first_token]
        for step, (at, label) in enumerate(window, start=1):
            gaps[f'{step}. {previous_label} -> {label}'].append(at - previous)
            previous, previous_label = at, label
        end = 'turn finished' if whole_turn else 'first token'
        gaps[f'{len(window) + 1}. {previous_label} -> {end} at client'].append(first_token - previous)
        gaps['total'].append(first_token - sent)
    return {gap: round(percentile(samples, 0.5) * 1000, 1) for gap, samples in gaps.items()}


async def main(turns: int, prompt: str, whole_turn: bool) -> None:
    stack = Stack().start()
    try:
        result = await run(stack, turns, prompt, whole_turn)
    finally:
        stack.stop()
    print('| gap (p50 over turns) | ms |\n| --- | --- |')
    for gap, ms in result.items():
        print(f'| {gap} | {ms} |')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.timeline')
    parser.add_argument('--turns', type=int, default=30)
    parser.add_argument('--prompt', default=PROMPT, help='the message; {turn} is its turn number')
    parser.add_argument('--whole-turn', action='store_true', help='up to RUN_FINISHED, not the first token')
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.prompt, args.whole_turn))
