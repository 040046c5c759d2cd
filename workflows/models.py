"""Which chat model the agent talks to, from settings."""

from __future__ import annotations

import importlib

from pydantic_ai.models import Model, infer_model

from durable_chat.settings import Settings
from durable_chat.workflows.model_errors import ReportsFailures
from durable_chat.workflows.offline_model import offline_model
from durable_chat.workflows.reply_budget import ReplyBudget


def build_model(settings: Settings) -> Model:
    """The configured model, its replies cut at the agent's `max_tokens` if it does not stop there,
    its failed requests reported to the page as they happen."""
    return ReportsFailures(ReplyBudget(_configured_model(settings)))


def _configured_model(settings: Settings) -> Model:
    spec = settings.model
    if spec == 'offline':
        return offline_model()
    if spec.startswith('import:'):
        # `import:package.module:attribute`: a Model object (or a factory of one) defined in code.
        module_name, _, attribute = spec.removeprefix('import:').partition(':')
        target = getattr(importlib.import_module(module_name), attribute)
        return target if isinstance(target, Model) else target()
    if settings.model_base_url:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(base_url=settings.model_base_url, api_key=settings.model_api_key or 'none')
        return OpenAIChatModel(spec, provider=provider)
    return infer_model(spec)
