"""Qdrant Edge (the `qdrant-edge-py` wheel) behind qdrant-client's `AsyncQdrantClient`: the embedded engine.

Why. Local mode (`AsyncQdrantClient(path=...)`) holds points in Python and scans every one of them
for each filtered call: ~1 s per recall at 100k memories. Edge is Qdrant's own engine, in-process:
its payload indexes (`user_id` is the tenant key) hand a search the user's points only, so a recall
costs what that user holds, whatever the collection holds. Searches stay exact: no HNSW graph is
built (that takes `optimize()`, minutes of one thread at scale), and a user's 1,000 points are
scored in well under a millisecond.

How. `edge_client(root)` is an `AsyncQdrantClient` whose backend is `AsyncQdrantEdge`: one Edge
shard per collection in `<root>/<name>/`, the collection's config (vectors, metadata: the
embedder record) in `<root>/<name>.json`. It implements the calls the memory and transcript stores
make (collections, payload indexes, upsert, retrieve, query, scroll, count, delete by ids or
filter), translating qdrant-client's models both ways; anything else raises NotImplementedError.
Like local mode, a shard is one process's: its write-ahead log is locked while open.

Worked around in qdrant-edge-py 0.9:
 - `MatchValue(True)` reaches the engine as the integer 1 (a Python bool is an int), which never
   matches a stored bool. Each top-level bool of a payload is also stored as the keyword
   'true'/'false' under `_edge_bool_<key>`; bool conditions and indexes use it; reads drop it.
 - A shard needs a vector: a payload-only collection (the transcripts) gets a 1-dimension named
   vector that no point carries.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.async_client_base import AsyncQdrantBase
from qdrant_client.conversions import common_types as types

BOOL_PREFIX = '_edge_bool_'
PAYLOAD_ONLY = '_payload_only'
_DISTANCES = {
    models.Distance.COSINE: qe.Distance.Cosine,
    models.Distance.DOT: qe.Distance.Dot,
    models.Distance.EUCLID: qe.Distance.Euclid,
    models.Distance.MANHATTAN: qe.Distance.Manhattan,
}
_SCHEMAS = {
    models.PayloadSchemaType.KEYWORD: qe.PayloadSchemaType.Keyword,
    models.PayloadSchemaType.INTEGER: qe.PayloadSchemaType.Integer,
    models.PayloadSchemaType.FLOAT: qe.PayloadSchemaType.Float,
    models.PayloadSchemaType.GEO: qe.PayloadSchemaType.Geo,
    models.PayloadSchemaType.TEXT: qe.PayloadSchemaType.Text,
    models.PayloadSchemaType.DATETIME: qe.PayloadSchemaType.Datetime,
    models.PayloadSchemaType.UUID: qe.PayloadSchemaType.Uuid,
}
_COMPLETED = models.UpdateResult(operation_id=0, status=models.UpdateStatus.COMPLETED)


async def import_local_mode(local: Path, root: Path) -> list[str]:
    """Copies every collection of a local-mode folder (points, vectors, payloads, metadata) into a
    new Edge folder `root`, which appears whole or not at all; returns the collections' names.

    For an install that kept its memories in local mode before Edge was the default. The local
    folder is left as it was: `DURABLE_CHAT_QDRANT_ENGINE=local` opens it again.
    """
    staged = root.with_name(root.name + '.importing')
    shutil.rmtree(staged, ignore_errors=True)
    source = AsyncQdrantClient(path=str(local))
    target = edge_client(staged)
    names: list[str] = []
    try:
        for collection in (await source.get_collections()).collections:
            info = await source.get_collection(collection.name)
            vectors = info.config.params.vectors
            await target.create_collection(
                collection.name, vectors_config=vectors or {}, metadata=info.config.metadata
            )
            offset: Any = None
            while True:
                records, offset = await source.scroll(
                    collection.name, limit=512, offset=offset, with_payload=True, with_vectors=True
                )
                points = [
                    models.PointStruct(id=r.id, vector=_as_input(r.vector), payload=r.payload)
                    for r in records
                ]
                await target.upsert(collection.name, points)
                if offset is None:
                    break
            names.append(collection.name)
    finally:
        await source.close()
        await target.close()
    staged.rename(root)
    return names


def edge_client(root: Path) -> AsyncQdrantClient:
    """An `AsyncQdrantClient` whose collections are Edge shards under `root`."""
    client = AsyncQdrantClient(location=':memory:')
    client._client = AsyncQdrantEdge(root)  # pyright: ignore[reportPrivateUsage]
    return client


class AsyncQdrantEdge(AsyncQdrantBase):
    """The backend of `edge_client` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, qe.EdgeShard] = {}

    def _config_file(self, name: str) -> Path:
        if not name or '/' in name or name.startswith('.'):
            raise ValueError(f'not a collection name: {name!r}')
        return self.root / f'{name}.json'

    def _config(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(self._config_file(name).read_text())
        except FileNotFoundError:
            raise ValueError(f'Collection {name} not found') from None

    def _write_config(self, name: str, config: dict[str, Any]) -> None:
        staged = self._config_file(name).with_suffix('.json.tmp')
        staged.write_text(json.dumps(config))
        staged.replace(self._config_file(name))

    def _shard(self, name: str) -> qe.EdgeShard:
        shard = self._shards.get(name)
        if shard is None:
            self._config(name)  # raises for a collection that does not exist
            shard = self._shards[name] = qe.EdgeShard.load(str(self.root / name))
        return shard

    async def close(self, **kwargs: Any) -> None:
        shards, self._shards = self._shards, {}
        for shard in shards.values():
            shard.close()

    # --- Collections ---------------------------------------------------------------------------

    async def collection_exists(self, collection_name: str, **kwargs: Any) -> bool:
        return self._config_file(collection_name).exists()

    async def create_collection(
        self,
        collection_name: str,
        vectors_config: models.VectorParams | Mapping[str, models.VectorParams],
        **kwargs: Any,
    ) -> bool:
        if await self.collection_exists(collection_name):
            raise ValueError(f'Collection {collection_name} already exists')
        hnsw: models.HnswConfigDiff | None = kwargs.get('hnsw_config')
        metadata: dict[str, Any] | None = kwargs.get('metadata')
        if isinstance(vectors_config, models.VectorParams):
            vectors: dict[str, Any] = {'': _vector_config(vectors_config)}
            edge_vectors: qe.EdgeVectorParams | dict[str, qe.EdgeVectorParams] = _edge_vector(vectors_config)
        else:
            vectors = {name: _vector_config(params) for name, params in vectors_config.items()}
            edge_vectors = {name: _edge_vector(params) for name, params in vectors_config.items()}
            if not edge_vectors:
                edge_vectors = {PAYLOAD_ONLY: qe.EdgeVectorParams(size=1, distance=qe.Distance.Cosine)}
        path = self.root / collection_name
        if path.exists():  # a create that stopped before its config was written: nothing in it counts
            shutil.rmtree(path)
        self._shards[collection_name] = qe.EdgeShard.create(
            str(path), qe.EdgeConfig(vectors=edge_vectors, hnsw_config=_edge_hnsw(hnsw))
        )
        self._write_config(collection_name, {'vectors': vectors, 'metadata': metadata})
        return True

    async def get_collection(self, collection_name: str, **kwargs: Any) -> models.CollectionInfo:
        config = self._config(collection_name)
        vectors = {
            name: models.VectorParams(size=v['size'], distance=models.Distance(v['distance']))
            for name, v in config['vectors'].items()
        }
        shard = self._shard(collection_name)
        info = shard.info()
        return models.CollectionInfo(
            status=models.CollectionStatus.GREEN,
            optimizer_status=models.OptimizersStatusOneOf.OK,
            indexed_vectors_count=info.indexed_vectors_count,
            points_count=info.points_count,
            segments_count=info.segments_count,
            payload_schema={},
            config=models.CollectionConfig(
                params=models.CollectionParams(vectors=vectors[''] if '' in vectors else vectors),
                hnsw_config=models.HnswConfig(m=0, ef_construct=100, full_scan_threshold=10000),
                optimizer_config=models.OptimizersConfig(
                    deleted_threshold=0.2,
                    vacuum_min_vector_number=1000,
                    default_segment_number=0,
                    flush_interval_sec=5,
                ),
                wal_config=models.WalConfig(wal_capacity_mb=32, wal_segments_ahead=0),
                metadata=config.get('metadata'),
            ),
        )

    async def update_collection(self, collection_name: str, **kwargs: Any) -> bool:
        config = self._config(collection_name)
        if (metadata := kwargs.get('metadata')) is not None:
            config['metadata'] = {**(config.get('metadata') or {}), **metadata}
            self._write_config(collection_name, config)
        return True

    async def create_payload_index(
        self,
        collection_name: str,
        field_name: str,
        field_schema: types.PayloadSchemaType | None = None,
        field_type: types.PayloadSchemaType | None = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        schema: Any = field_schema or field_type
        if schema in (models.PayloadSchemaType.BOOL, 'bool') or isinstance(schema, models.BoolIndexParams):
            field_name, index = BOOL_PREFIX + field_name, qe.PayloadSchemaType.Keyword
        elif isinstance(schema, models.KeywordIndexParams):
            index = qe.KeywordIndexParams(is_tenant=schema.is_tenant)
        elif (
            isinstance(schema, models.PayloadSchemaType | str)
            and models.PayloadSchemaType(schema) in _SCHEMAS
        ):
            index = _SCHEMAS[models.PayloadSchemaType(schema)]
        else:
            raise NotImplementedError(f'Qdrant Edge client: payload index {schema!r}')
        self._shard(collection_name).update(qe.UpdateOperation.create_field_index(field_name, index))
        return _COMPLETED

    # --- Points --------------------------------------------------------------------------------

    async def upsert(self, collection_name: str, points: Any, **kwargs: Any) -> models.UpdateResult:
        if not isinstance(points, list):
            raise NotImplementedError('Qdrant Edge client: upsert takes a list of PointStruct')
        edge_points = [_edge_point(p) for p in points]
        if edge_points:
            self._shard(collection_name).update(qe.UpdateOperation.upsert_points(edge_points))
        return _COMPLETED

    async def delete(
        self, collection_name: str, points_selector: types.PointsSelector, **kwargs: Any
    ) -> models.UpdateResult:
        selector = _selector(points_selector)
        if isinstance(selector, list):
            if selector:
                self._shard(collection_name).update(qe.UpdateOperation.delete_points(selector))
        else:
            self._shard(collection_name).update(qe.UpdateOperation.delete_points_by_filter(selector))
        return _COMPLETED

    async def set_payload(
        self,
        collection_name: str,
        payload: types.Payload,
        points: types.PointsSelector,
        key: str | None = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        if key is not None:
            raise NotImplementedError('Qdrant Edge client: set_payload with a key')
        selector = _selector(points)
        payload = _with_bool_keys(payload)
        if isinstance(selector, list):
            operation = qe.UpdateOperation.set_payload(selector, payload)
        else:
            operation = qe.UpdateOperation.set_payload_by_filter(selector, payload)
        self._shard(collection_name).update(operation)
        return _COMPLETED

    async def retrieve(
        self,
        collection_name: str,
        ids: Sequence[Any],
        with_payload: Any = True,
        with_vectors: Any = False,
        **kwargs: Any,
    ) -> list[models.Record]:
        records = self._shard(collection_name).retrieve(
            [_id(i) for i in ids], _with_payload(with_payload), _with_vectors(with_vectors)
        )
        return [_record(r) for r in records]

    async def query_points(
        self,
        collection_name: str,
        query: Any = None,
        using: str | None = None,
        prefetch: Any = None,
        query_filter: types.Filter | None = None,
        search_params: types.SearchParams | None = None,
        limit: int = 10,
        offset: int | None = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        score_threshold: float | None = None,
        lookup_from: types.LookupLocation | None = None,
        **kwargs: Any,
    ) -> types.QueryResponse:
        if isinstance(query, models.NearestQuery) and isinstance(query.nearest, list):
            vector = [float(x) for x in query.nearest if isinstance(x, float | int)]
        else:
            raise NotImplementedError(f'Qdrant Edge client: query {type(query).__name__}')
        if prefetch or search_params or lookup_from:
            raise NotImplementedError('Qdrant Edge client: prefetch, search_params, lookup_from')
        request = qe.QueryRequest(
            limit=limit,
            offset=offset,
            query=qe.Query.Nearest(vector, using),
            filter=_filter(query_filter),
            score_threshold=score_threshold,
            with_payload=_with_payload(with_payload),
            with_vector=_with_vectors(with_vectors),
        )
        hits = self._shard(collection_name).query(request)
        return types.QueryResponse(
            points=[
                models.ScoredPoint(
                    id=_point_id(h.id),
                    version=h.version,
                    score=h.score,
                    payload=_payload(h.payload),
                    vector=_vector(h.vector),
                )
                for h in hits
            ]
        )

    async def scroll(
        self,
        collection_name: str,
        scroll_filter: types.Filter | None = None,
        limit: int = 10,
        order_by: types.OrderBy | None = None,
        offset: Any = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        **kwargs: Any,
    ) -> tuple[list[models.Record], Any]:
        if order_by is not None:
            raise NotImplementedError('Qdrant Edge client: scroll order_by')
        records, next_offset = self._shard(collection_name).scroll(
            qe.ScrollRequest(
                offset=_id(offset) if offset is not None else None,
                limit=limit,
                filter=_filter(scroll_filter),
                with_payload=_with_payload(with_payload),
                with_vector=_with_vectors(with_vectors),
            )
        )
        return [_record(r) for r in records], _point_id(next_offset) if next_offset is not None else None

    async def count(
        self,
        collection_name: str,
        count_filter: types.Filter | None = None,
        exact: bool = True,
        **kwargs: Any,
    ) -> models.CountResult:
        request = qe.CountRequest(filter=_filter(count_filter), exact=exact)
        return models.CountResult(count=self._shard(collection_name).count(request))


# --- Translation, qdrant-client models <-> Edge --------------------------------------------------


def _as_input(vector: Any) -> Any:
    """A read vector as one to write: a payload-only point reads as None or {}."""
    return vector or {}


def _vector_config(params: models.VectorParams) -> dict[str, Any]:
    return {'size': params.size, 'distance': params.distance.value}


def _edge_vector(params: models.VectorParams) -> qe.EdgeVectorParams:
    if params.distance not in _DISTANCES:
        raise NotImplementedError(f'Qdrant Edge client: distance {params.distance}')
    return qe.EdgeVectorParams(size=params.size, distance=_DISTANCES[params.distance])


def _edge_hnsw(hnsw: models.HnswConfigDiff | None) -> qe.HnswIndexConfig | None:
    if hnsw is None:
        return None
    return qe.HnswIndexConfig(
        m=16 if hnsw.m is None else hnsw.m,
        ef_construct=hnsw.ef_construct or 100,
        full_scan_threshold=hnsw.full_scan_threshold or 10_000,
        payload_m=hnsw.payload_m,
    )


def _id(point_id: Any) -> qe.PointId:
    if isinstance(point_id, uuid.UUID):
        return str(point_id)
    if isinstance(point_id, int | str):
        return point_id
    raise NotImplementedError(f'Qdrant Edge client: point id {point_id!r}')


def _point_id(point_id: Any) -> int | str:
    """Edge answers UUID ids as `uuid.UUID`; qdrant-client answers them as strings."""
    return str(point_id) if isinstance(point_id, uuid.UUID) else point_id


def _edge_point(point: Any) -> qe.Point:
    if not isinstance(point, models.PointStruct):
        raise NotImplementedError(f'Qdrant Edge client: upsert of {type(point).__name__}')
    vector: Any = point.vector
    if not isinstance(vector, list | dict):
        raise NotImplementedError(f'Qdrant Edge client: vector {type(vector).__name__}')
    return qe.Point(_id(point.id), vector, _with_bool_keys(point.payload or {}))


def _with_bool_keys(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload, and a keyword beside each top-level bool for filters (see the module docstring)."""
    keys = {BOOL_PREFIX + k: 'true' if v else 'false' for k, v in payload.items() if isinstance(v, bool)}
    return {**payload, **keys}


def _selector(selector: Any) -> list[qe.PointId] | Any:
    """Point ids as a list, or an Edge filter."""
    if isinstance(selector, models.FilterSelector):
        selector = selector.filter
    if isinstance(selector, models.PointIdsList):
        selector = selector.points
    if isinstance(selector, list):
        ids: list[qe.PointId] = [_id(i) for i in selector]
        return ids
    return _filter(selector)


def _payload(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    return {k: v for k, v in payload.items() if not k.startswith(BOOL_PREFIX)}


def _vector(vector: Any) -> Any:
    if isinstance(vector, dict):
        return {k: v for k, v in vector.items() if k != PAYLOAD_ONLY}
    return vector


def _record(record: qe.Record) -> models.Record:
    return models.Record(
        id=_point_id(record.id), payload=_payload(record.payload), vector=_vector(record.vector)
    )


def _with_payload(with_payload: Any) -> bool | list[str]:
    if isinstance(with_payload, bool):
        return with_payload
    if isinstance(with_payload, list) and all(isinstance(k, str) for k in with_payload):
        return [str(k) for k in with_payload]
    raise NotImplementedError(f'Qdrant Edge client: with_payload={with_payload!r}')


def _with_vectors(with_vectors: Any) -> bool:
    if isinstance(with_vectors, bool):
        return with_vectors
    raise NotImplementedError(f'Qdrant Edge client: with_vectors={with_vectors!r}')


def _conditions(conditions: Any) -> list[Any] | None:
    if conditions is None:
        return None
    listed: Iterable[Any] = conditions if isinstance(conditions, list) else [conditions]
    return [_condition(c) for c in listed]


def _filter(selector: Any) -> Any:
    """An Edge filter (None for None)."""
    if selector is None:
        return None
    if not isinstance(selector, models.Filter):
        raise NotImplementedError(f'Qdrant Edge client: filter {type(selector).__name__}')
    if selector.min_should is not None:
        raise NotImplementedError('Qdrant Edge client: min_should')
    return qe.Filter(
        must=_conditions(selector.must),
        should=_conditions(selector.should),
        must_not=_conditions(selector.must_not),
    )


def _condition(condition: Any) -> Any:
    if isinstance(condition, models.Filter):
        return _filter(condition)
    if isinstance(condition, models.HasIdCondition):
        return qe.HasIdCondition({_id(i) for i in condition.has_id})
    if isinstance(condition, models.IsEmptyCondition):
        return qe.IsEmptyCondition(condition.is_empty.key)
    if isinstance(condition, models.IsNullCondition):
        return qe.IsNullCondition(condition.is_null.key)
    if isinstance(condition, models.FieldCondition):
        return _field(condition)
    raise NotImplementedError(f'Qdrant Edge client: condition {type(condition).__name__}')


def _field(condition: models.FieldCondition) -> qe.FieldCondition:
    key, match, range_ = condition.key, condition.match, condition.range
    if isinstance(match, models.MatchValue):
        if isinstance(match.value, bool):
            return qe.FieldCondition(
                BOOL_PREFIX + key, match=qe.MatchValue('true' if match.value else 'false')
            )
        return qe.FieldCondition(key, match=qe.MatchValue(match.value))
    if isinstance(match, models.MatchAny) and not any(isinstance(v, bool) for v in match.any):
        return qe.FieldCondition(key, match=qe.MatchAny(list(match.any)))  # pyright: ignore[reportArgumentType]
    if isinstance(match, models.MatchExcept) and not any(isinstance(v, bool) for v in match.except_):
        return qe.FieldCondition(key, match=qe.MatchExcept(list(match.except_)))  # pyright: ignore[reportArgumentType]
    if match is None and isinstance(range_, models.DatetimeRange):
        bounds = {b: _when(getattr(range_, b)) for b in ('gt', 'gte', 'lt', 'lte')}
        return qe.FieldCondition(key, range=qe.RangeDateTime(**bounds))
    if match is None and isinstance(range_, models.Range):
        return qe.FieldCondition(
            key, range=qe.RangeFloat(gt=range_.gt, gte=range_.gte, lt=range_.lt, lte=range_.lte)
        )
    if match is None and range_ is None and condition.is_empty is not None:
        return qe.FieldCondition(key, is_empty=condition.is_empty)
    if match is None and range_ is None and condition.is_null is not None:
        return qe.FieldCondition(key, is_null=condition.is_null)
    raise NotImplementedError(f'Qdrant Edge client: field condition on {key!r}: {condition!r}')


def _when(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()
