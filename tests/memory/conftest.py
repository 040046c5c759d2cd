"""A real store for each test: Qdrant local mode in the test's own folder, the real offline embedder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic_ai import Embedder
from qdrant_client import AsyncQdrantClient

from durable_chat.memory.embedder import OnnxMiniLMEmbeddingModel
from durable_chat.memory.store import MemoryStore


@pytest.fixture(scope='session')
def embedder() -> Embedder:
    return Embedder(OnnxMiniLMEmbeddingModel())


@pytest.fixture
def qdrant_path(tmp_path: Path) -> Path:
    return tmp_path / 'qdrant'


@pytest.fixture
async def store(embedder: Embedder, qdrant_path: Path) -> AsyncIterator[MemoryStore]:
    # As `open_store` opens local mode: Qdrant calls on the store's own thread.
    client = AsyncQdrantClient(path=str(qdrant_path), force_disable_check_same_thread=True)
    memory_store = MemoryStore(client, embedder, 'memories', offload=True)
    await memory_store.ensure_collection()
    yield memory_store
    await memory_store.close()
