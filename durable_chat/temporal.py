"""The connection to Temporal, at the bottom with the settings: the API and the workers both use it.

Payloads are pydantic JSON. The workers add pydantic-ai's plugin, whose converter writes the same
JSON and also knows the agent's message types; the API needs neither that plugin nor pydantic-ai.
Both keep payloads over a threshold in the payload store (`durable_chat.payload_store`), so every
process that connects here reads the histories, queries and results the others wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client, Plugin
from temporalio.runtime import Runtime

from durable_chat.payload_store import data_converter, external_storage
from durable_chat.settings import Settings


class TracingUnavailable(RuntimeError):
    """Tracing is switched on (DURABLE_CHAT_LOGFIRE) but its package is not installed."""


async def connect(
    settings: Settings, *, plugins: Sequence[Plugin] = (), runtime: Runtime | None = None
) -> Client:
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(await external_storage(settings)),
        plugins=plugins,
        runtime=runtime,
    )
