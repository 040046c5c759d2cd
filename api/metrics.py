"""Prometheus metrics of the API: requests by route template and status, open websockets, frames,
and the operator console's live figures (messages accepted, message -> first token, failed turns),
which the functions below record here and in `live_stats` at once.

Labels carry route templates (`/sessions/{session_id}`), never ids, tokens or text.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.middleware.base import RequestResponseEndpoint

from durable_chat.api.live_stats import LIVE, RUN_ERRORS_SEEN

REQUESTS = Counter('durable_chat_http_requests_total', 'HTTP requests', ['method', 'route', 'status'])
LATENCY = Histogram('durable_chat_http_request_seconds', 'HTTP request latency', ['method', 'route'])
WEBSOCKETS = Gauge('durable_chat_websockets_open', 'Open session websockets')
FRAMES = Counter('durable_chat_websocket_frames_sent_total', 'Frames sent on session websockets', ['type'])
SESSIONS_WATCHED = Gauge('durable_chat_sessions_watched', 'Sessions with at least one open websocket')
MESSAGES = Counter(
    'durable_chat_messages_accepted_total', 'User messages accepted (REST and websocket): turns asked for'
)
FIRST_TOKEN = Histogram(
    'durable_chat_first_token_seconds',
    'From a message accepted on a websocket to the first token of its reply relayed on it',
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
RUN_ERRORS = Counter(
    'durable_chat_run_errors_total', 'Failed turns relayed (RUN_ERROR), once per session and turn'
)

router = APIRouter(tags=['health'])


@router.get('/metrics', include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def message_accepted() -> None:
    MESSAGES.inc()
    LIVE.turn_accepted()


def first_token(seconds: float) -> None:
    FIRST_TOKEN.observe(seconds)
    LIVE.first_token(seconds)


def run_error(session_id: str, turn: int) -> None:
    """A RUN_ERROR relayed: counted once however many sockets relay it (or a reconnect replays it)."""
    if RUN_ERRORS_SEEN.first_time((session_id, turn)):
        RUN_ERRORS.inc()
        LIVE.error()


def socket_opened(session_id: str) -> None:
    LIVE.socket_opened(session_id)
    SESSIONS_WATCHED.set(LIVE.active_sessions)


def socket_closed(session_id: str) -> None:
    LIVE.socket_closed(session_id)
    SESSIONS_WATCHED.set(LIVE.active_sessions)


def instrument(app: FastAPI) -> None:
    @app.middleware('http')
    async def count_requests(request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            LIVE.error()  # the server's error handler answers it with a 500
            raise
        if response.status_code >= 500:
            LIVE.error()
        route = request.scope.get('route')
        template = getattr(route, 'path', 'static')
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
        return response
