"""`python -m bench`: every scenario, durable path beside its baseline, in one run.

Writes bench/results/{latest.json,latest.md}. Capacity (thousands of sessions) runs last on a stack
of its own, and also writes bench/results/capacity.{json,md}; `--capacity-steps ''` skips it.
`--quick` runs only the latency scenarios (first token, tool turns, continue-as-new) with fewer turns:
a few minutes, for comparing a change before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    capacity,
    continue_as_new,
    crash_recovery,
    fanout,
    first_token,
    history_size,
    memory_search,
    real_model,
    remember_turn,
    tool_turn,
)
from bench.stack import Stack

RESULTS = Path(__file__).parent / 'results'


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One Markdown table per kind of figure (latencies in ms, throughput in tokens/s)."""
    sections: dict[tuple[str, ...], list[str]] = {}
    for scenario, paths in results.items():
        for path, figures in paths.items():
            columns = tuple(figures)
            sections.setdefault(columns, []).append(
                f'| {scenario} | {path} | ' + ' | '.join(str(v) for v in figures.values()) + ' |'
            )
    tables = []
    for columns, rows in sections.items():
        header = '| scenario | path | ' + ' | '.join(c.replace('_ms', ' ms') for c in columns) + ' |'
        tables.append('\n'.join([header, '|' + ' --- |' * (len(columns) + 2), *rows]))
    return '\n\n'.join(tables)


QUICK_SCENARIOS = (
    'first token',
    'one-tool turn (sent -> finished)',
    'remember turn (sent -> finished)',
    'continue-as-new',
)
"""What `--quick` runs (by name: the real model's scenario also holds the words 'first token')."""
QUICK_TURNS = 60


def scenarios(stack: Stack, args: argparse.Namespace) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Each scenario of the run on the shared stack, by its name in the results."""
    # --quick: a quarter of the turns is 15, not the full run's floor of 20 (or 30 for continue-as-new).
    floor = 10 if args.quick else 20
    return {
        'first token': lambda: first_token.run(
            stack.api_url, stack.token(), stack.token('bench-recalling'), args.turns, floor
        ),
        'one-tool turn (sent -> finished)': lambda: tool_turn.run(stack, max(args.turns // 4, floor)),
        'remember turn (sent -> finished)': lambda: remember_turn.run(stack, max(args.turns // 4, floor)),
        'memory search (GET /memories?q=)': lambda: memory_search.run(stack, max(args.turns // 2, 50)),
        'fan-out, one session': lambda: fanout.run(stack, args.tokens),
        'continue-as-new': lambda: continue_as_new.run(stack, max(args.turns // 2, floor + 10)),
        'crash recovery': lambda: crash_recovery.run(stack, args.crashes),
        real_model.SCENARIO: lambda: real_model.run(max(args.turns // 4, 20)),
        # Its own stacks (payload store off, then on): history bytes per turn and worker memory.
        'history size': lambda: history_size.run(turns=args.history_turns),
    }


async def main(args: argparse.Namespace) -> None:
    if args.quick:
        args.turns = args.turns or QUICK_TURNS
        args.capacity_steps = ''
    args.turns = args.turns or 200
    stack = Stack().start()
    results: dict[str, Any] = {}
    try:
        for name, scenario in scenarios(stack, args).items():
            if args.quick and name not in QUICK_SCENARIOS:
                continue
            if args.only is None or any(word in name for word in args.only.split(',')):
                results[name] = await scenario()
    finally:
        stack.stop()
    details: dict[str, Any] = {}
    if args.capacity_steps and (args.only is None or 'capacity' in args.only):
        steps = [int(step) for step in args.capacity_steps.split(',')]
        capacity_stack = Stack().start()
        try:
            results['capacity'] = await capacity.run(capacity_stack, steps, args.active, 5, details)
        finally:
            capacity_stack.stop()
    RESULTS.mkdir(exist_ok=True)
    meta = {
        'when': datetime.now(UTC).isoformat(),
        'machine': platform.platform(),
        'turns': args.turns,
        'only': args.only,
        'quick': args.quick,
    }
    (RESULTS / 'latest.json').write_text(
        json.dumps({'meta': meta, 'results': results, 'capacity': details}, indent=2)
    )
    markdown = table(results)
    if details:
        markdown += '\n\n' + capacity.steps_table(details)
    (RESULTS / 'latest.md').write_text(markdown + '\n')
    print(markdown)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench')
    parser.add_argument(
        '--turns', type=int, default=0, help=f'turns per first-token scenario (200; --quick: {QUICK_TURNS})'
    )
    parser.add_argument(
        '--quick',
        action='store_true',
        help='only first token, tool turns and continue-as-new, with fewer turns; no capacity',
    )
    parser.add_argument('--crashes', type=int, default=5)
    parser.add_argument(
        '--history-turns', type=int, default=1000, help='turns of the history-size session (10, 100 and this)'
    )
    parser.add_argument('--tokens', type=int, default=5000, help='tokens per fan-out reply')
    parser.add_argument('--active', type=int, default=100, help='concurrent active sessions (capacity)')
    parser.add_argument(
        '--only',
        help="comma-separated words: run only the scenarios whose name holds one (e.g. 'remember,search')",
    )
    parser.add_argument(
        '--capacity-steps', default='1000,2500,5000,10000', help="idle session counts; '' skips capacity"
    )
    asyncio.run(main(parser.parse_args()))
