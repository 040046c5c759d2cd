"""`python -m bench.chaos [--users N] [--turns N] [--faults N] [--seed S]`: chat under SIGKILLs, then judge.

N users chat concurrently through the real APIs and websockets while the injector kills and restarts
chat workers, the memory worker, API processes, the Temporal dev server and Valkey. Then every
session's Temporal history is checked (see checker.py). Writes bench/results/chaos.{json,md}; exits 1
if any invariant was violated. The CI variant is tests/test_chaos.py.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import Client

from bench.chaos.checker import Verdict, check_all, wait_settled
from bench.chaos.faults import Injector
from bench.chaos.report import RESULTS, write
from bench.chaos.stack import ChaosStack
from bench.chaos.users import User
from durable_chat.payload_store import data_converter, external_storage
from durable_chat.settings import Settings


async def run(users: int, turns: int, faults: int, seed: int, settle_bound: float, output: Path) -> bool:
    rng = random.Random(seed)
    stack = await asyncio.to_thread(ChaosStack().start)
    started = time.monotonic()
    try:
        people = [
            User(i, stack.api_urls, stack.token(f'chaos-user-{i}'), random.Random(rng.random()))
            for i in range(users)
        ]
        await asyncio.gather(*(u.start() for u in people))
        injector = Injector(
            stack, random.Random(rng.random()), started, lambda: sum(u.streaming for u in people)
        )
        per_user = -(-turns // users)
        chats = [asyncio.create_task(u.chat(per_user, lambda: not injector.done)) for u in people]
        await injector.run(faults)
        await asyncio.gather(*chats)
        # The stack's converter and payload store: the history keeps references to large payloads.
        storage = await external_storage(Settings(data_dir=Path(stack.env['DURABLE_CHAT_DATA_DIR'])))
        client = await Client.connect(
            stack.env['DURABLE_CHAT_TEMPORAL_ADDRESS'],
            data_converter=data_converter(storage),
            plugins=[PydanticAIPlugin()],
        )
        settled = await wait_settled(client, people, injector.last_recovered, settle_bound)
        verdict = Verdict()
        for user in people:
            took = settled[user.session_id]
            held = took is not None and not user.gave_up
            verdict.check(
                'settled', held, f'{user.name}: settled after {took} s, gave up on turns {user.gave_up}'
            )
        await asyncio.to_thread(stack.stop_memory_worker)
        await check_all(client, people, stack.folder, verdict)
        for user in people:
            await user.close()
        known = [v for v in settled.values() if v is not None]
        figures = {
            'users': users,
            'seconds': round(time.monotonic() - started, 1),
            'slowest settle after the last fault (s)': max(known) if known else 'never',
        }
        params = {'users': users, 'turns': turns, 'faults': faults, 'seed': seed}
        print(write(output, params, injector.faults, verdict, figures))
        if verdict.ok:
            stack.remove_folder_on_stop = True
        else:
            print(f'logs and state kept in {stack.folder}', file=sys.stderr)
        return verdict.ok
    finally:
        await asyncio.to_thread(stack.stop)


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.chaos', description=__doc__.splitlines()[0])
    parser.add_argument('--users', type=int, default=8)
    parser.add_argument('--turns', type=int, default=320, help='at least this many turns in all')
    parser.add_argument('--faults', type=int, default=35, help='SIGKILLs, cycling through the five kinds')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--settle', type=float, default=120, help='seconds a session may take to go idle')
    parser.add_argument('--output', type=Path, default=RESULTS)
    args = parser.parse_args()
    ok = asyncio.run(run(args.users, args.turns, args.faults, args.seed, args.settle, args.output))
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
