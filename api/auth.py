"""Signed bearer tokens: who the caller is and whether they are an operator.

A token is `v1.<payload>.<signature>`: base64url JSON `{"sub", "role", "exp"}` signed with HMAC-SHA256
under the server's secret key. Anyone holding the key can mint tokens (`durable-chat token`), so
users need no store of their own; revoking everyone is rotating the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Literal

Role = Literal['user', 'operator']
USERNAME_PATTERN = re.compile(r'^[A-Za-z0-9_.@-]{1,64}$')
DEFAULT_TTL_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role

    @property
    def is_operator(self) -> bool:
        return self.role == 'operator'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue_token(
    secret: str, username: str, role: Role = 'user', ttl_seconds: int = DEFAULT_TTL_SECONDS
) -> str:
    if not USERNAME_PATTERN.match(username):
        raise ValueError(f'invalid username {username!r}')
    payload = _b64(
        json.dumps({'sub': username, 'role': role, 'exp': int(time.time()) + ttl_seconds}).encode()
    )
    return f'v1.{payload}.{_sign(secret, payload)}'


def verify_token(secret: str, token: str) -> Principal | None:
    """The token's principal, or None for anything forged, expired or malformed."""
    version, _, rest = token.partition('.')
    payload, _, signature = rest.partition('.')
    if version != 'v1' or not payload or not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        claims = json.loads(_unb64(payload))
    except ValueError:
        return None
    if not isinstance(claims, dict) or claims.get('exp', 0) < time.time():
        return None
    username, role = claims.get('sub'), claims.get('role')
    if (
        not isinstance(username, str)
        or not USERNAME_PATTERN.match(username)
        or role not in ('user', 'operator')
    ):
        return None
    return Principal(username, role)
