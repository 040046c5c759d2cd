from __future__ import annotations

from pathlib import Path

import pytest

from durable_chat.settings import Settings
from durable_chat.testing.stack import SCRIPTED_MODEL
from durable_chat.workflows.agents.registry import Registry, install, load_registry
from durable_chat.workflows.agents.specs import BUILTIN_DIR


@pytest.fixture(autouse=True, scope='package')
def registry() -> Registry:
    """The agents, installed as a worker installs them: workflow code looks agents up there."""
    # The built-in agent and the test agents the recorded sessions ran, the delegation example's too.
    tests = Path(__file__).parent.parent / 'workflows'
    delegation = Path(__file__).parent.parent.parent / 'examples' / 'delegation'
    loaded = load_registry(
        Settings(
            agents_dir=f'{BUILTIN_DIR}:{tests / "agents"}:{delegation}',
            agents_module='tests.workflows.shop_agents',
            model=SCRIPTED_MODEL,  # the deployment's model the sessions were recorded with
        )
    )
    install(loaded)
    return loaded
