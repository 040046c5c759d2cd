"""Prometheus metrics of the API: requests by route template and status, open websockets, frames.

Labels carry route templates (`/sessions/{session_id}`), never ids, tokens or text.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.middleware.base import RequestResponseEndpoint

REQUESTS = Counter('durable_chat_http_requests_total', 'HTTP requests', ['method', 'route', 'status'])
LATENCY = Histogram('durable_chat_http_request_seconds', 'HTTP request latency', ['method', 'route'])
WEBSOCKETS = Gauge('durable_chat_websockets_open', 'Open session websockets')
FRAMES = Counter('durable_chat_websocket_frames_sent_total', 'Frames sent on session websockets', ['type'])

router = APIRouter(tags=['health'])


@router.get('/metrics', include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def instrument(app: FastAPI) -> None:
    @app.middleware('http')
    async def count_requests(request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get('route')
        template = getattr(route, 'path', 'static')
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
        return response
