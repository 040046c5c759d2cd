"""The examples the README points at load as the README says: both agents, durable, beside chat."""

from __future__ import annotations

from pathlib import Path

from durable_chat.settings import Settings
from durable_chat.workflows.agents.registry import load_registry

EXAMPLES = Path(__file__).parent.parent / 'examples'


def test_the_example_agents_load_into_one_registry() -> None:
    registry = load_registry(
        Settings(agents_dir=str(EXAMPLES / 'agents'), agents_module='examples.shop', model='offline')
    )
    cards = {card.name: card for card in registry.cards()}
    assert sorted(cards) == ['chat', 'clock', 'shop']
    assert cards['clock'].mcp_servers == ['time'] and cards['clock'].models == ['offline']
    shop = registry.get('shop')
    assert shop is not None and shop.agent._function_toolset.tools['place_order'].requires_approval  # pyright: ignore[reportPrivateUsage]
