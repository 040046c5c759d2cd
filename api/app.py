"""The FastAPI app: REST routes, the session websocket and the static page."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.service import RPCError

from durable_chat.api import metrics, security, websocket
from durable_chat.api.agents import NoCatalogue, UnknownChoice
from durable_chat.api.chat_sessions import (
    NotTheOwner,
    Refused,
    SessionClosed,
    SessionNotFound,
    SessionOwners,
    SessionUnreadable,
)
from durable_chat.api.routes import ag_ui, agents, auth, health, limits, me, memories, operator, sessions
from durable_chat.api.schemas import error_responses
from durable_chat.redis_clients import connect_redis
from durable_chat.settings import Settings, get_settings
from durable_chat.temporal import connect


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
        app.state.settings = settings
        app.state.secret = settings.secret
        app.state.temporal = await connect(settings)
        app.state.owners = SessionOwners(app.state.temporal)
        # No socket timeout: websockets block in XREAD for longer than redis-py's 5 s default (P2).
        app.state.redis = connect_redis(
            settings, socket_timeout=None, max_connections=settings.api_redis_connections
        )
        try:
            yield
        finally:
            await app.state.redis.aclose()

    app = FastAPI(title='durable-chat', lifespan=lifespan)
    security.install(app)  # the Content-Security-Policy and referrer policy on every response
    app.include_router(health.router)
    app.include_router(metrics.router)
    metrics.instrument(app)
    app.include_router(auth.router)
    # The errors the session routes answer with (the handlers below), documented in one place.
    app.include_router(agents.router, responses=error_responses(401, 503))
    app.include_router(sessions.router, responses=error_responses(400, 401, 403, 404, 409, 413, 422, 503))
    app.include_router(ag_ui.router)
    app.include_router(limits.router, responses=error_responses(401))
    app.include_router(memories.router)
    app.include_router(me.router)
    app.include_router(operator.router)
    app.include_router(websocket.router)

    @app.exception_handler(SessionNotFound)
    async def not_found(request: Request, error: SessionNotFound) -> JSONResponse:
        return JSONResponse({'detail': f'no session {error}'}, status_code=404)

    @app.exception_handler(SessionClosed)
    async def closed(request: Request, error: SessionClosed) -> JSONResponse:
        return JSONResponse({'detail': f'session {error} is closed'}, status_code=409)

    @app.exception_handler(NotTheOwner)
    async def not_the_owner(request: Request, error: NotTheOwner) -> JSONResponse:
        return JSONResponse({'detail': "only the session's user sends messages"}, status_code=403)

    @app.exception_handler(UnknownChoice)
    async def unknown_choice(request: Request, error: UnknownChoice) -> JSONResponse:
        return JSONResponse({'detail': str(error)}, status_code=422)

    @app.exception_handler(NoCatalogue)
    async def no_catalogue(request: Request, error: NoCatalogue) -> JSONResponse:
        return JSONResponse({'detail': str(error)}, status_code=503)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        return JSONResponse({'detail': str(error)}, status_code=409)

    @app.exception_handler(SessionUnreadable)
    async def unreadable(request: Request, error: SessionUnreadable) -> JSONResponse:
        return JSONResponse({'detail': str(error)}, status_code=503)

    @app.exception_handler(RPCError)
    async def temporal_unavailable(request: Request, error: RPCError) -> JSONResponse:
        # Temporal restarting is a short pause: say so rather than fail with a 500.
        return JSONResponse({'detail': f'session service unavailable: {error.message}'}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler, but errors echo the input, and JSON's \ud800 escapes decode to lone
        # surrogates that UTF-8 cannot encode (a 500): ASCII JSON carries them as escapes again.
        return _AsciiJSONResponse({'detail': jsonable_encoder(error.errors())}, status_code=422)

    @app.exception_handler(405)
    async def method_not_allowed(request: Request, error: Exception) -> JSONResponse:
        # Starlette's Allow names the first route on the path only; the OpenAPI paths know every method.
        path = request.scope['path']
        paths = app.openapi()['paths'].items()
        allowed = {m.upper() for template, ops in paths if compile_path(template)[0].match(path) for m in ops}
        headers = {'Allow': ', '.join(sorted(allowed))} if allowed else getattr(error, 'headers', None)
        return JSONResponse({'detail': 'Method Not Allowed'}, status_code=405, headers=headers)

    # The page is the router's fallback, not a catch-all mount: a wrong method on an API path then gets
    # the route's own 405 (with the right Allow header), and a websocket to an unknown path a refusal.
    app.router.default = _frontend(app.router.not_found)
    return app


class _AsciiJSONResponse(JSONResponse):
    def render(self, content: object) -> bytes:
        return json.dumps(content, separators=(',', ':')).encode()


def _frontend(not_found: ASGIApp) -> ASGIApp:
    static = StaticFiles(directory=str(files('durable_chat.frontend')), html=True)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        await (static if scope['type'] == 'http' else not_found)(scope, receive, send)

    return serve
