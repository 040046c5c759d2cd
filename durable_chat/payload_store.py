"""The claim check: payloads over a size threshold live outside Temporal's history, which keeps a
reference to each by the sha256 of its bytes (temporalio's external storage).

Without it every model call's input, the whole model history, is written into the run's history
again, so a run's history grows with the square of its turns. With it a turn adds a reference of a
few hundred bytes per large payload, whatever the conversation's length.

Why a directory by default, and not Redis or Qdrant: a history that refers to a blob the store lost
can never be read again (the session could neither replay nor answer a query), so the store must be
as durable as Temporal's own. Redis is not (the product promises that losing it costs nothing), and
Qdrant's local mode belongs to one process while every process decodes payloads (chat workers, the
memory worker, the API). A directory under the data dir is as durable as the embedded Temporal
server's database beside it; several machines share one directory (NFS) or use S3 (temporalio's
own driver, `payload_store = 's3'`).

Blobs are named by their content hash, so storing is idempotent (a retried task, a replay, two
identical histories write one blob) and a blob is never changed once written.

Garbage collection: none yet. A blob may be deleted only once no history that can still be replayed
or read refers to it: a run that continued as new, once the namespace's retention dropped it; never
a running session's current run, which may idle for months and still needs its start input. A
sweep would list the open runs' histories and keep every blob they name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import ExternalStorageReference
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    JSONProtoPayloadConverter,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from durable_chat.settings import Settings

FILES_DRIVER = 'durable-chat.files'
"""Persisted: every reference in a history names the driver that reads it."""
CLAIM_KEY = 'sha256'


class PayloadMissing(RuntimeError):
    """A history refers to a blob the store does not hold: deleted, or written to another store."""


class PayloadCorrupt(RuntimeError):
    """A blob's bytes no longer match the hash it is named by."""


class FileStorageDriver(StorageDriver):
    """Blobs in a directory, `<root>/<first two hex digits>/<sha256>`: each one a serialized
    Payload (its metadata too), written once, atomically, and flushed to disk before the history
    that refers to it is."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def name(self) -> str:
        return FILES_DRIVER

    def type(self) -> str:
        return FILES_DRIVER

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        blobs = [p.SerializeToString(deterministic=True) for p in payloads]
        digests = [hashlib.sha256(blob).hexdigest() for blob in blobs]
        # Off the event loop: it also runs the worker's workflow tasks and streams replies.
        await asyncio.to_thread(self._write_all, list(zip(digests, blobs, strict=True)))
        return [StorageDriverClaim(claim_data={CLAIM_KEY: digest}) for digest in digests]

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        digests = [claim.claim_data.get(CLAIM_KEY, '') for claim in claims]
        return await asyncio.to_thread(lambda: [self._read(digest) for digest in digests])

    def _write_all(self, blobs: list[tuple[str, bytes]]) -> None:
        for digest, blob in blobs:
            self._write(digest, blob)

    def _write(self, digest: str, blob: bytes) -> None:
        final = self.path(digest)
        if final.exists():
            return  # the same bytes: content-addressed
        final.parent.mkdir(parents=True, exist_ok=True)
        # A process killed mid-write leaves a temporary file, never a partial blob under its name.
        partial = final.with_name(f'{digest}.{secrets.token_hex(4)}.partial')
        with partial.open('wb') as file:
            file.write(blob)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(final)

    def _read(self, digest: str) -> Payload:
        if len(digest) != 64 or not all(c in '0123456789abcdef' for c in digest):
            raise PayloadCorrupt(f'a payload reference names no sha256 ({digest!r})')
        path = self.path(digest)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise PayloadMissing(
                f'payload sha256:{digest} is not in the payload store {self.root} '
                '(DURABLE_CHAT_PAYLOAD_STORE_DIR): the history refers to it, so it was deleted or '
                'written to another store; this workflow cannot be read until it is put back'
            ) from None
        if hashlib.sha256(blob).hexdigest() != digest:
            raise PayloadCorrupt(f'payload {path} does not match its sha256: the file was changed')
        payload = Payload()
        payload.ParseFromString(blob)
        return payload


def store_dir(settings: Settings) -> Path:
    return settings.payload_store_dir or settings.data_dir / 'payloads'


async def external_storage(settings: Settings) -> ExternalStorage | None:
    """The store the settings name, or None (`payload_store = 'off'`: every payload inline).

    With `off`, a history written with a store on cannot be read: switch it off only for a fresh
    Temporal namespace."""
    if settings.payload_store == 'off':
        return None
    driver = (
        await _s3_driver(settings)
        if settings.payload_store == 's3'
        else FileStorageDriver(store_dir(settings))
    )
    return ExternalStorage(drivers=[driver], payload_size_threshold=settings.payload_store_threshold_bytes)


async def _s3_driver(settings: Settings) -> StorageDriver:
    """temporalio's S3 driver (`pip install 'temporalio[aioboto3]'`); region and credentials come
    from AWS's own environment and files. The client stays open for the process's life."""
    if not settings.payload_store_bucket:
        raise ValueError('DURABLE_CHAT_PAYLOAD_STORE=s3 needs DURABLE_CHAT_PAYLOAD_STORE_BUCKET')
    from temporalio.contrib.aws.s3driver import S3StorageDriver

    # Imported by name: aioboto3 is an optional dependency, absent from the default install.
    aioboto3 = importlib.import_module('aioboto3')
    adapter = importlib.import_module('temporalio.contrib.aws.s3driver.aioboto3')
    s3 = await aioboto3.Session().client('s3').__aenter__()
    return S3StorageDriver(client=adapter.new_aioboto3_client(s3), bucket=settings.payload_store_bucket)


def data_converter(storage: ExternalStorage | None) -> DataConverter:
    """Pydantic JSON payloads, large ones in `storage`. pydantic-ai's plugin (on the workers) swaps
    the payload converter for its own and keeps the store."""
    return dataclasses.replace(pydantic_data_converter, external_storage=storage)


REFERENCE_TYPE = ExternalStorageReference.DESCRIPTOR.full_name.encode()


def reference_of(payload: Payload) -> ExternalStorageReference | None:
    """The reference a history's payload holds instead of its value, or None for an inline one."""
    metadata = payload.metadata
    if metadata.get('encoding') != b'json/protobuf' or metadata.get('messageType') != REFERENCE_TYPE:
        return None
    reference = JSONProtoPayloadConverter().from_payload(payload, ExternalStorageReference)
    return reference if isinstance(reference, ExternalStorageReference) else None


async def inline(storage: ExternalStorage | None, payloads: Sequence[Payload]) -> list[Payload]:
    """The payloads as a history without the store would hold them, each reference replaced by its
    blob: for what reads raw histories (tests, tools), not for decoding values (the converter does)."""
    inlined: list[Payload] = []
    for payload in payloads:
        reference = reference_of(payload)
        if reference is None:
            inlined.append(payload)
            continue
        drivers = {driver.name(): driver for driver in storage.drivers} if storage else {}
        if reference.driver_name not in drivers:
            raise PayloadMissing(
                f'a payload is in the {reference.driver_name!r} store, which is not configured'
            )
        claim = StorageDriverClaim(claim_data=dict(reference.claim_data))
        inlined += await drivers[reference.driver_name].retrieve(StorageDriverRetrieveContext(), [claim])
    return inlined
