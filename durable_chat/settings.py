"""Settings for every process, read from `DURABLE_CHAT_*` environment variables or `.env`."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix='DURABLE_CHAT_', env_file='.env', extra='ignore')

    data_dir: Path = Path('.data')
    """Where the embedded servers keep their state."""

    # Temporal: unset means `durable-chat up` starts the dev server itself.
    temporal_address: str | None = None
    temporal_namespace: str = 'default'
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    task_queue: str = 'chat'
    worker_roles: str = 'chat,memory'
    """What `durable-chat worker` serves: `chat` (sessions), `memory` (owns Qdrant), or both."""
    max_cached_sessions: int = Field(default=1000, ge=1)
    """Sessions a chat worker keeps in memory between turns (Temporal's workflow cache); an evicted
    one replays its run's history on its next message. Each holds ~0.1 MiB idle and, chatting, up to
    about `session_max_run_growth_bytes` more."""

    # Redis: unset means `durable-chat up` starts an embedded Valkey.
    redis_url: str | None = None
    redis_port: int = 6379
    redis_cluster: bool = False
    """`redis_url` names one node of a Redis Cluster (or Valkey cluster): every client the product
    builds is then a cluster client that finds the other nodes itself."""
    stream_maxlen: int = 5000
    """Entries kept per session stream: a replayable tail, never the store."""
    api_redis_connections: int = 5000
    """The API's Redis pool: every open websocket holds one connection in its blocking XREAD (redis-py's
    default of 100 would cap an API at ~100 websockets); Valkey/Redis accept 10,000 clients by default."""

    # The chat model: `offline` is the built-in assistant; any pydantic-ai model string works,
    # e.g. `openai:gpt-4o`; `import:package.module:attribute` names a Model object in code.
    model: str = 'offline'
    model_base_url: str | None = None
    """An OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server); `model` is then its model name."""
    model_api_key: str | None = None

    # Agents (README, "Bring your own agent"). Their names are persisted: they prefix activity names.
    agents_dir: str | None = None
    """Directories of agent spec files (YAML/JSON), separated by `:`. Unset: the built-in `chat`
    agent's directory. Set, only these are read: copy `chat.yaml` in to keep it."""
    agents_module: str | None = None
    """Python modules (`myapp.agents`, comma-separated) whose module-level pydantic-ai Agents join the registry."""
    default_agent: str = 'chat'
    """The agent of a session started without one (the first by name when there is no such agent)."""

    # Long-term memory: embedded Qdrant under data_dir unless a server URL is set.
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_engine: Literal['edge', 'local'] = 'edge'
    """The embedded engine when no `qdrant_url` is set: `edge` (Qdrant Edge in-process, payload
    indexes: a user's search touches that user's points only) or `local` (qdrant-client's local
    mode, which scans every point in Python: fine up to ~10k memories). Either allows one process."""
    memory_collection: str = 'memories'
    memory_task_queue: str = 'memory'
    embedding_model: str = 'offline'
    """`offline` is the bundled all-MiniLM-L6-v2 int8 ONNX model; any pydantic-ai embedding model string works."""
    recall_k: int = Field(default=5, gt=0, le=50)

    secret_key: SecretStr | None = None
    """Signs access tokens. Unset, the key is made once and kept at `<data_dir>/secret_key`."""
    temporal_ui_url: str | None = None
    """Where operators open a session's Temporal history; defaults to the embedded UI."""

    max_reply_tokens: int = Field(default=2_048, ge=16)
    """The reply budget: the chat model's `max_tokens`; a reply that reaches it ends there, and says so."""
    session_turn_seconds: float = Field(default=180, ge=5)
    """The turn time budget: the agent's work on one message (not time waiting for an approval) stops
    after this long, keeping what it wrote, so no reply ties a session up for many minutes."""

    # Long sessions (README, "Sessions that live for months"): fixed per session when it starts.
    session_history_budget_bytes: int = Field(default=48_000, ge=4_000)
    session_keep_turns: int = Field(default=50, ge=1)
    session_max_run_events: int = Field(default=10_000, ge=100, le=40_000)
    session_max_run_bytes: int = Field(default=10_000_000, ge=100_000, le=40_000_000)
    session_max_run_growth_bytes: int = Field(default=256_000, ge=50_000, le=40_000_000)
    """A worker holds about this much per cached chatting session (README, "Continue-as-new")."""

    # The claim check (`durable_chat/payload_store.py`): a payload over the threshold (a model
    # call's input, the state carried to a new run) is kept out of Temporal's history, which holds
    # its content hash instead. Every process that reads payloads must see the same store.
    payload_store: Literal['files', 's3', 'off'] = 'files'
    """`files`: a directory (`payload_store_dir`); `s3`: the bucket `payload_store_bucket` (needs
    `pip install 'temporalio[aioboto3]'`, credentials from AWS's own settings); `off`: every payload
    inline (a history written with a store on then cannot be read)."""
    payload_store_dir: Path | None = None
    """The `files` store's directory; unset, `<data_dir>/payloads`. Shared by every process (one
    machine, or a shared filesystem)."""
    payload_store_bucket: str | None = None
    payload_store_threshold_bytes: int = Field(default=4_096, ge=0)
    """Payloads at least this big go to the store; smaller ones stay inline in the history."""

    # Observability: off unless set.
    metrics_port: int | None = None
    """Workers serve the Temporal SDK's Prometheus metrics on this port (127.0.0.1, or METRICS_HOST)."""
    metrics_host: str = '127.0.0.1'
    log_format: Literal['text', 'json'] = 'text'
    logfire: bool = False
    """Trace agent runs and Temporal calls to Logfire/OpenTelemetry (pydantic-ai's LogfirePlugin);
    needs `pip install 'durable-chat[tracing]'` and Logfire's own settings (LOGFIRE_TOKEN)."""

    host: str = '127.0.0.1'
    port: int = 8000

    max_message_chars: int = Field(default=32_000, gt=0)
    """Well under Temporal's 2 MB payload limit, with room for the history that travels with it."""

    # Per-user limits, shared by every API process through Redis (token buckets, `api/limits.py`).
    limit_messages_per_minute: float = Field(default=30, gt=0)
    limit_message_burst: int = Field(default=10, ge=1)
    """Messages a user may send at once before the per-minute rate applies."""
    limit_sessions_per_minute: float = Field(default=10, gt=0)
    limit_session_burst: int = Field(default=5, ge=1)
    limit_websockets_per_user: int = Field(default=8, ge=1)
    """Open session websockets per user (operators are not capped)."""
    limit_websocket_slot_seconds: float = Field(default=30, ge=1)
    """A websocket's slot outlives its last refresh by this much: a killed API's slots free up after it."""

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f'127.0.0.1:{self.temporal_port}'

    @property
    def secret(self) -> str:
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return load_or_create_secret(self.data_dir / 'secret_key')

    @property
    def temporal_ui(self) -> str:
        return self.temporal_ui_url or f'http://localhost:{self.temporal_ui_port}'

    @property
    def roles(self) -> set[str]:
        return {role.strip() for role in self.worker_roles.split(',') if role.strip()}

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / 'qdrant'

    @property
    def qdrant_edge_path(self) -> Path:
        return self.data_dir / 'qdrant' / 'edge'

    @property
    def redis_target(self) -> str:
        return self.redis_url or f'redis://127.0.0.1:{self.redis_port}/0'


def load_or_create_secret(path: Path) -> str:
    """The embedded default's key: made once, kept under the data dir, readable by its owner only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
