from __future__ import annotations

import pytest

from durable_chat.settings import Settings
from durable_chat.workflows.agents.registry import Registry, install, load_registry


@pytest.fixture(autouse=True, scope='package')
def registry() -> Registry:
    """The built-in agents, installed as a worker installs them: workflow code looks agents up there."""
    loaded = load_registry(Settings())
    install(loaded)
    return loaded
