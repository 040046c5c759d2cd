"""A Python agent for the tests (`DURABLE_CHAT_AGENTS_MODULE=tests.workflows.shop_agents`): a tool
with a side effect that needs approval, writing orders to a ledger keyed by the idempotency key."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic_ai import Agent, RunContext

from durable_chat.workflows.agents import ChatDeps, DurableChat, ToolRun, ToolSettings, idempotency_key
from durable_chat.workflows.agents.tools import side_effect
from examples.trip import cancel_booking, trip_agent

LEDGER_ENV = 'SHOP_LEDGER'
CRASH_ONCE_ENV = 'SHOP_CRASH_AFTER_ORDER'
"""A file path: if it does not exist yet, the tool creates it and kills its own process right after
the order is written (a worker dying between the side effect and Temporal hearing of it)."""

SCRIPTED = 'import:durable_chat.testing.scripted:model'

shop = Agent(
    SCRIPTED,
    name='shop',
    description='Places orders (each needs your approval).',
    deps_type=ChatDeps,
    instructions='You place orders with `place_order`.',
    capabilities=[DurableChat(models=[SCRIPTED, 'offline'], memory=False)],
)


TRIP_CRASH_ONCE_ENV = 'TRIP_CRASH_AFTER_CANCEL'
"""A file path: if it does not exist yet, the first cancellation creates it and kills its own process
right after cancelling (a worker dying between undoing and Temporal hearing of it)."""


async def cancel_then_maybe_crash(run: ToolRun) -> str:
    said = await cancel_booking(run)
    _crash_once(os.environ.get(TRIP_CRASH_ONCE_ENV))
    return said


def _crash_once(flag: str | None) -> None:
    if flag and not Path(flag).exists():
        Path(flag).touch()
        os.kill(os.getpid(), 9)


trip = trip_agent(SCRIPTED, cancel=cancel_then_maybe_crash)
"""The example whose bookings are undone when a turn does not finish (examples/trip.py)."""


def ledger() -> Path:
    return Path(os.environ[LEDGER_ENV])


def orders() -> dict[str, dict[str, object]]:
    path = ledger()
    return json.loads(path.read_text()) if path.exists() else {}


def _order(key: str, order: dict[str, object]) -> int:
    placed = orders()
    if key not in placed:  # the shop's own dedupe by the key: a retry never orders twice
        placed[key] = order
        ledger().write_text(json.dumps(placed))
        crash_flag = os.environ.get(CRASH_ONCE_ENV)
        if crash_flag and not Path(crash_flag).exists():
            Path(crash_flag).touch()
            os.kill(os.getpid(), 9)
    return len(placed)


@shop.tool(metadata=ToolSettings(timeout=10, retries=5).metadata(), requires_approval=True)
@side_effect
async def place_order(ctx: RunContext[ChatDeps], item: str, quantity: int = 1) -> str:
    """Order `quantity` of `item` for the user."""
    placed = _order(idempotency_key(ctx), {'item': item, 'quantity': quantity, 'user': ctx.deps.user_id})
    return f'order {placed} placed: {quantity} x {item}'
