"""Where a turn's first-token time goes: client timestamps beside the session's Temporal history.

`python -m bench.timeline [--turns N] [--whole-turn]` runs N turns in one session, then splits each
turn's "message sent -> first token" (or -> RUN_FINISHED) into the gaps between its history events
(every run's: a session continues as new). It reports the p50 over the turns of the time per kind
of gap (workflow tasks queued or running, each activity queued or running, ...), then of each step
of the commonest event sequence, then the slow turns (over `--slow-ms`) by the gap that cost them
most. Each message is sent as the first-token scenario sends it, right after the previous
`RUN_FINISHED` (the turn's upkeep may still run; `--wait-idle` waits for it). `--continue-as-new`
runs the continue-as-new scenario's session (a run rolls over every few turns) and prompt.
The client and the dev server share this machine's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.client import Client, WorkflowHandle

from bench.chatter import create_session
from bench.stack import Stack
from bench.stats import percentile
from durable_chat.settings import Settings
from durable_chat.temporal import connect
from durable_chat.testing.chat_client import ChatClient
from durable_chat.workflows.contract import QUERY_SNAPSHOT, Snapshot

PROMPT = 'where does the time go'
CONTINUE_AS_NEW_PROMPT = 'long b{turn}'
SLOW_MS = 100.0
NOTABLE_GAP_MS = 15.0
"""Gaps a slow turn's line lists (a workflow task or an activity round trip is ~2-10 ms here)."""


def _labels(events: Sequence[Any]) -> list[str]:
    """Each event's type, with the activity's name on its scheduled, started and completed events."""
    names: dict[int, str] = {}
    labels = []
    for event in events:
        label = EventType.Name(event.event_type).removeprefix('EVENT_TYPE_').lower()
        if event.HasField('activity_task_scheduled_event_attributes'):
            names[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name.split(
                '__'
            )[-1]
        for field in ('activity_task_started_event_attributes', 'activity_task_completed_event_attributes'):
            if event.HasField(field):
                label += ':' + names.get(getattr(event, field).scheduled_event_id, '?')
        if event.HasField('activity_task_scheduled_event_attributes'):
            label += ':' + names[event.event_id]
        if event.HasField('workflow_task_scheduled_event_attributes'):
            # A task on the normal queue, not the worker's sticky one: the workflow was not in a cache.
            kind = event.workflow_task_scheduled_event_attributes.task_queue.kind
            label += ':sticky' if kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY else ':normal'
        if event.HasField('marker_recorded_event_attributes'):
            label += ':' + _local_activity(event.marker_recorded_event_attributes)
        labels.append(label)
    return labels


def _local_activity(marker: Any) -> str:
    """The activity type a local activity's marker records."""
    data = marker.details.get('data')
    if data is None or not data.payloads:
        return marker.marker_name
    try:
        return str(json.loads(data.payloads[0].data).get('activity_type', marker.marker_name))
    except ValueError:
        return marker.marker_name


def _kind(previous: str, label: str) -> str:
    """What a gap between two history events is spent on."""
    if previous == 'client sent':
        return 'signal (sent -> signaled)'
    if label.endswith('at client'):
        return 'last event -> at the client'
    if previous.startswith('workflow_task_scheduled') and label == 'workflow_task_started':
        return f'workflow tasks, queued ({previous.split(":")[1]})'
    if previous == 'workflow_task_started' and label == 'workflow_task_completed':
        return 'workflow tasks, running (with their local activities)'
    if previous.startswith('activity_task_scheduled:') and label.startswith('activity_task_started:'):
        return f'activity {label.split(":", 1)[1]}, queued'
    if previous.startswith('activity_task_started:') and label.startswith('activity_task_completed:'):
        return f'activity {label.split(":", 1)[1]}, running'
    return 'between events'


async def _history(temporal: Client, workflow_id: str) -> list[tuple[float, str]]:
    """(time, label) of every event of every run of the workflow (a session continues as new)."""
    timed: list[tuple[float, str]] = []
    async for execution in temporal.list_workflows(f'WorkflowId = "{workflow_id}"'):
        handle = temporal.get_workflow_handle(workflow_id, run_id=execution.run_id)
        events = (await handle.fetch_history()).events
        times = [e.event_time.ToDatetime(tzinfo=UTC).timestamp() for e in events]
        timed += zip(times, _labels(events), strict=True)
    return sorted(timed)


async def _idle(handle: WorkflowHandle[Any, Any]) -> None:
    """The previous turn's last workflow task is done, so its events don't fall in the next window."""
    while True:  # a query is the only way to see it: poll
        if (await handle.query(QUERY_SNAPSHOT, result_type=Snapshot)).status == 'idle':
            return
        await asyncio.sleep(0.01)


async def _turn_marks(
    client: ChatClient,
    handle: WorkflowHandle[Any, Any],
    turns: int,
    prompt: str,
    whole_turn: bool,
    wait_idle: bool,
) -> list[tuple[float, float]]:
    """(sent, first token or turn finished) per turn, in wall-clock seconds."""
    marks: list[tuple[float, float]] = []
    for turn in range(2, turns + 2):
        if wait_idle:
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


async def run(
    stack: Stack,
    turns: int,
    prompt: str = PROMPT,
    whole_turn: bool = False,
    wait_idle: bool = False,
    api_url: str | None = None,
    slow_ms: float = SLOW_MS,
    verbose: bool = False,
) -> dict[str, Any]:
    """`api_url`: another API of the stack (its small-limits one, for continue-as-new)."""
    api_url = api_url or stack.api_url
    token = stack.token('timeline')
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        session_id = await create_session(http, token)
    # The product's own connection: large payloads (a snapshot, a model call's input) are in its store.
    settings = Settings(
        temporal_address=stack.env['DURABLE_CHAT_TEMPORAL_ADDRESS'],
        data_dir=Path(stack.env['DURABLE_CHAT_DATA_DIR']),
    )
    temporal = await connect(settings, plugins=[PydanticAIPlugin()])
    handle = temporal.get_workflow_handle(f'chat-{session_id}')
    chat = await ChatClient(api_url, session_id, token).connect()
    await chat.send('warm-up', prompt.format(turn=1))
    await chat.wait_for(lambda: chat.finished(1))
    marks = await _turn_marks(chat, handle, turns, prompt, whole_turn, wait_idle)
    await chat.disconnect()

    events = await _history(temporal, handle.id)
    return split(events, marks, whole_turn) | slow_turns(events, marks, whole_turn, slow_ms, verbose)


def _window(events: list[tuple[float, str]], sent: float, done: float, end: str) -> list[tuple[float, str]]:
    return (
        [(sent, 'client sent')] + [e for e in events if sent <= e[0] <= done] + [(done, f'{end} at client')]
    )


def slow_turns(
    events: list[tuple[float, str]],
    marks: list[tuple[float, float]],
    whole_turn: bool,
    slow_ms: float,
    verbose: bool = False,
) -> dict[str, Any]:
    """Each turn over `slow_ms`: its notable gaps, largest first (`verbose`: then each event of its
    window, ms after the message was sent)."""
    end = 'turn finished' if whole_turn else 'first token'
    causes: dict[str, list[float]] = defaultdict(list)
    lines: list[str] = []
    for number, (sent, done) in enumerate(marks, start=2):
        total = (done - sent) * 1000
        if total <= slow_ms:
            continue
        window = _window(events, sent, done, end)
        gaps = sorted(
            (
                ((at - before) * 1000, f'{previous} -> {label}')
                for (before, previous), (at, label) in itertools.pairwise(window)
            ),
            reverse=True,
        )
        causes[gaps[0][1]].append(total)
        notable = ', '.join(f'{step} {ms:.0f}' for ms, step in gaps if ms >= NOTABLE_GAP_MS)
        lines.append(f'turn {number}: {total:.0f} ms: {notable}')
        if verbose:
            lines += [f'    {label} +{(at - sent) * 1000:.0f}' for at, label in window[1:]]
    summary: dict[str, Any] = {
        f'slow (> {slow_ms:.0f} ms), by largest gap: {cause}': f'{len(t)} turns, p50 {percentile(t, 0.5):.0f} ms'
        for cause, t in sorted(causes.items(), key=lambda item: -len(item[1]))
    }
    summary['slow turns'] = f'{sum(len(t) for t in causes.values())}/{len(marks)}'
    return summary | {'slow turn lines': lines}


def split(
    events: list[tuple[float, str]], marks: list[tuple[float, float]], whole_turn: bool
) -> dict[str, float]:
    """p50 over the turns of the time per kind of gap, then of each step of the commonest event sequence."""
    end = 'turn finished' if whole_turn else 'first token'
    kinds: dict[str, list[float]] = defaultdict(list)
    shapes: dict[tuple[str, ...], list[list[float]]] = defaultdict(list)
    for sent, done in marks:
        window = _window(events, sent, done, end)
        per_kind: dict[str, float] = defaultdict(float)
        steps = []
        for (before, previous), (at, label) in itertools.pairwise(window):
            per_kind[_kind(previous, label)] += at - before
            steps.append(f'{previous} -> {label}')
        for kind, spent in per_kind.items():
            kinds[kind].append(spent)
        kinds['total'].append(done - sent)
        shapes[tuple(steps)].append([at - before for (before, _), (at, _) in itertools.pairwise(window)])
    result = {
        f'by kind: {kind}': round(percentile(spent + [0.0] * (len(marks) - len(spent)), 0.5) * 1000, 1)
        for kind, spent in sorted(kinds.items(), key=lambda item: -sum(item[1]))
    }
    shape, turns = max(shapes.items(), key=lambda item: len(item[1]))
    for index, step in enumerate(shape):
        result[f'{index + 1}. {step} ({len(turns)}/{len(marks)} turns)'] = round(
            percentile([t[index] for t in turns], 0.5) * 1000, 1
        )
    return result


async def main(args: argparse.Namespace) -> None:
    stack = Stack().start()
    prompt = args.prompt or (CONTINUE_AS_NEW_PROMPT if args.continue_as_new else PROMPT)
    try:
        result = await run(
            stack,
            args.turns,
            prompt,
            args.whole_turn,
            args.wait_idle,
            stack.small_limits_api if args.continue_as_new else None,
            args.slow_ms,
            args.verbose,
        )
    finally:
        stack.stop()
    lines = result.pop('slow turn lines')
    print('| gap (p50 over turns) | ms |\n| --- | --- |')
    for gap, ms in result.items():
        print(f'| {gap} | {ms} |')
    print('\n'.join(['', *lines]))


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.timeline')
    parser.add_argument('--turns', type=int, default=30)
    parser.add_argument('--prompt', help='the message; {turn} is its turn number')
    parser.add_argument('--whole-turn', action='store_true', help='up to RUN_FINISHED, not the first token')
    parser.add_argument(
        '--wait-idle', action='store_true', help="send once the previous turn's upkeep is done"
    )
    parser.add_argument(
        '--continue-as-new', action='store_true', help='a session that continues as new every few turns'
    )
    parser.add_argument('--slow-ms', type=float, default=SLOW_MS, help='turns over this are listed')
    parser.add_argument('--verbose', action='store_true', help="each slow turn's events, one a line")
    asyncio.run(main(parser.parse_args()))
