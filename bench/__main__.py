"""`python -m bench [--turns N] [--crashes N]`: runs the suite, writes bench/results/{latest.json,latest.md}."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench import continue_as_new, crash_recovery, first_token
from bench.stack import Stack

RESULTS = Path(__file__).parent / 'results'


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ['| scenario | path | n | p50 ms | p95 ms | mean ms |', '| --- | --- | --- | --- | --- | --- |']
    for scenario, paths in results.items():
        for path, s in paths.items():
            lines.append(
                f'| {scenario} | {path} | {s["n"]} | {s["p50_ms"]} | {s["p95_ms"]} | {s["mean_ms"]} |'
            )
    return '\n'.join(lines)


async def main(turns: int, crashes: int) -> None:
    stack = Stack().start()
    try:
        results = {
            'first token': await first_token.run(stack.api_url, stack.token(), turns),
            'continue-as-new': await continue_as_new.run(stack, max(turns // 2, 30)),
            'crash recovery': await crash_recovery.run(stack, crashes),
        }
    finally:
        stack.stop()
    RESULTS.mkdir(exist_ok=True)
    meta = {'when': datetime.now(UTC).isoformat(), 'machine': platform.platform(), 'turns': turns}
    (RESULTS / 'latest.json').write_text(json.dumps({'meta': meta, 'results': results}, indent=2))
    markdown = table(results)
    (RESULTS / 'latest.md').write_text(markdown + '\n')
    print(markdown)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench')
    parser.add_argument('--turns', type=int, default=200, help='turns per first-token scenario')
    parser.add_argument('--crashes', type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.crashes))
