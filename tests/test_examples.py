"""The examples the README points at load as the README says: both agents, durable, beside chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_ai.capabilities import AbstractCapability

from durable_chat.settings import Settings
from durable_chat.workflows.agents import Compensations
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


def test_the_trip_and_delegation_examples_load_as_the_readme_says() -> None:
    registry = load_registry(
        Settings(
            agents_dir=f'{EXAMPLES / "agents"}:{EXAMPLES / "delegation"}',
            agents_module='examples.shop,examples.trip',
            model='offline',
        )
    )
    assert sorted(registry.entries) == ['chat', 'clock', 'lead', 'researcher', 'shop', 'trip']
    trip = registry.get('trip')
    assert trip is not None
    undo: list[str] = []

    def visit(capability: AbstractCapability[Any]) -> None:
        if isinstance(capability, Compensations):
            undo.extend(capability.undo)

    trip.agent.root_capability.apply(visit)
    assert sorted(undo) == ['book_flight', 'book_hotel']
    lead = registry.get('lead')
    assert lead is not None and lead.durability.delegates == ['researcher']
