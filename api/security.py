"""Security headers on every HTTP response of the app: the pages, their static files, the API, and
errors, including the 500 Starlette's outermost middleware answers with.

The Content-Security-Policy lets the pages run only scripts and styles served by the app itself (no
inline script, `on*=` attribute, `javascript:` URL or `style="..."` attribute), so text that slips
past the sanitizer into the DOM still runs nothing; `Referrer-Policy: no-referrer` keeps a URL's
token from leaking to any site the page links to.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = '; '.join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS: dict[str, str] = {
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
}
DOCS_PATHS = frozenset({'/docs', '/docs/oauth2-redirect', '/redoc'})
# FastAPI's API docs are a page of inline script loading Swagger UI / ReDoc from a CDN: their own,
# looser policy, so the docs work; they render the OpenAPI schema, never chat text.
DOCS_CONTENT_SECURITY_POLICY = '; '.join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        'font-src https://fonts.gstatic.com',
        'worker-src blob:',
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


class SecurityHeaders:
    """ASGI middleware: sets `HEADERS` on every HTTP response start (over any the app set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message['type'] == 'http.response.start':
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if scope['path'] in DOCS_PATHS:
                    headers['Content-Security-Policy'] = DOCS_CONTENT_SECURITY_POLICY
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: Starlette) -> None:
    """Wraps the app's whole middleware stack in `SecurityHeaders`. `app.add_middleware` would sit
    inside Starlette's ServerErrorMiddleware, whose 500s would then go out without the headers."""
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build())

    app.build_middleware_stack = build_with_headers
