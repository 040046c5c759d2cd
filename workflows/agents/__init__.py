"""Agents: the built-in one and the deployer's, from spec files and from Python, in one registry.

What a deployer imports to write a Python agent (see README, "Bring your own agent"):

    from durable_chat.workflows.agents import ChatDeps, DurableChat, ToolSettings, idempotency_key
    from durable_chat.workflows.agents import Compensations, ToolRun  # tools that can be undone
"""

from durable_chat.workflows.agents.durability import DurableChat
from durable_chat.workflows.agents.tools import ToolSettings, idempotency_key
from durable_chat.workflows.compensation import Compensations, ToolRun
from durable_chat.workflows.shared import TurnDeps as ChatDeps

__all__ = ['ChatDeps', 'Compensations', 'DurableChat', 'ToolRun', 'ToolSettings', 'idempotency_key']
