"""The connection to Temporal, at the bottom with the settings: the API and the workers both use it.

Payloads are pydantic JSON. The workers add pydantic-ai's plugin, whose converter writes the same
JSON and also knows the agent's message types; the API needs neither that plugin nor pydantic-ai.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client, Plugin
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from durable_chat.settings import Settings


class TracingUnavailable(RuntimeError):
    """Tracing is switched on (DURABLE_CHAT_LOGFIRE) but its package is not installed."""


async def connect(
    settings: Settings, *, plugins: Sequence[Plugin] = (), runtime: Runtime | None = None
) -> Client:
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        plugins=plugins,
        runtime=runtime,
    )
