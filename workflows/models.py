"""Models by name: what an agent's `models` list and a session's model choice refer to.

A name is one of
- `offline`: the built-in offline assistant (rules, not a language model);
- `import:package.module:attribute`: a `Model` object (or a factory of one) defined in code;
- a bare name such as `qwen2.5-0.5b-instruct`, when `DURABLE_CHAT_MODEL_BASE_URL` is set: that model
  on the OpenAI-compatible server there;
- anything pydantic-ai's `infer_model` builds (`openai:gpt-5.2`, `anthropic:claude-sonnet-4-5`, ...).
"""

from __future__ import annotations

import importlib

from pydantic_ai.models import Model, infer_model

from durable_chat.settings import Settings, get_settings
from durable_chat.workflows.model_errors import ReportsFailures
from durable_chat.workflows.offline_model import offline_model
from durable_chat.workflows.reply_budget import ReplyBudget


def model_for(name: str) -> Model:
    """The named model, its replies cut at the agent's `max_tokens` if it does not stop there,
    its failed requests reported to the page as they happen. One instance per name and process,
    so agents that share a model share its connection pool."""
    settings = get_settings()
    key = (name, settings.model_base_url, settings.model_api_key)
    if key not in _built:
        _built[key] = ReportsFailures(ReplyBudget(_configured_model(name, settings)))
    return _built[key]


_built: dict[tuple[str, str | None, str | None], Model] = {}


def _configured_model(name: str, settings: Settings) -> Model:
    if name == 'offline':
        return offline_model()
    if name.startswith('import:'):
        module_name, _, attribute = name.removeprefix('import:').partition(':')
        target = getattr(importlib.import_module(module_name), attribute)
        return target if isinstance(target, Model) else target()
    if settings.model_base_url and ':' not in name:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(base_url=settings.model_base_url, api_key=settings.model_api_key or 'none')
        return OpenAIChatModel(name, provider=provider)
    return infer_model(name)
