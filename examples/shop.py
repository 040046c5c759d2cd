"""A Python agent with a tool that acts on the world: it places orders, each one approved first.

    PYTHONPATH=. DURABLE_CHAT_AGENTS_DIR=examples/agents DURABLE_CHAT_AGENTS_MODULE=examples.shop durable-chat up

Then ask it, on the page, to "order 2 boxes of tea". With the offline model it answers in rules; set
DURABLE_CHAT_MODEL to a real model for a conversation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic_ai import Agent, RunContext

from durable_chat.workflows.agents import ChatDeps, DurableChat, ToolSettings, idempotency_key
from durable_chat.workflows.agents.tools import side_effect

ORDERS = Path(os.environ.get('SHOP_ORDERS', '.data/orders.json'))

shop = Agent(
    os.environ.get('DURABLE_CHAT_MODEL', 'offline'),
    name='shop',  # persisted: it prefixes this agent's activity names
    description='Orders things for you; every order waits for your approval.',
    deps_type=ChatDeps,
    instructions='You take orders. Use `place_order` once per item the user asks for.',
    model_settings={'max_tokens': 512},
    capabilities=[DurableChat(models=[os.environ.get('DURABLE_CHAT_MODEL', 'offline')], memory=False)],
)


@shop.tool(metadata=ToolSettings(timeout=10, retries=5).metadata(), requires_approval=True)
@side_effect
async def place_order(ctx: RunContext[ChatDeps], item: str, quantity: int = 1) -> str:
    """Order `quantity` of `item` for the user."""
    return _record(idempotency_key(ctx), {'item': item, 'quantity': quantity, 'user': ctx.deps.user_id})


def _record(key: str, order: dict[str, object]) -> str:
    # The key is the same on every attempt of this call: a retried activity finds its order here
    # (a real shop takes it as its API's idempotency key).
    orders = json.loads(ORDERS.read_text()) if ORDERS.exists() else {}
    if key not in orders:
        orders[key] = order
        ORDERS.parent.mkdir(parents=True, exist_ok=True)
        ORDERS.write_text(json.dumps(orders, indent=2))
    return f'Order #{list(orders).index(key) + 1} placed: {order["quantity"]} x {order["item"]}.'
