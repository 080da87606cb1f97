"""ASGI middleware of the admin: the server-side session, CSRF checks on every POST, security headers."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin.context import CTX_KEY, SESSION_ID_KEY, SESSION_KEY, AdminContext
from bot.services.admin_auth import find_session
from models.base import utcnow

COOKIE_NAME = "portfolio_admin"
COOKIE_PATH = "/admin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A roster file is the largest thing anyone posts here.
MAX_BODY = 10 * 1024 * 1024

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "x-frame-options": "DENY",
    # The sign-in URL carries its token: never let it leak to another site as a referrer.
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def cookie_header(value: str, *, secure: bool, clear: bool = False) -> str:
    parts = [f"{COOKIE_NAME}={'' if clear else value}", f"Path={COOKIE_PATH}", "HttpOnly", "SameSite=Lax"]
    if clear:
        parts.append("Max-Age=0")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                # Pages hold children's data: after sign-out, «Back» on a shared computer must show nothing.
                if "cache-control" not in headers and "/statics/" not in scope["path"]:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


class AdminSessionMiddleware:
    """Finds the signed-in session from the cookie (restarting its idle clock) and puts it into the scope.

    A cookie whose session is gone (expired, signed out) is cleared in the response.
    """

    def __init__(self, app: ASGIApp, ctx: AdminContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[CTX_KEY] = self.ctx
        scope[SESSION_KEY] = None
        scope[SESSION_ID_KEY] = None
        session_id = HTTPConnection(scope).cookies.get(COOKIE_NAME)
        if not session_id or "/statics/" in scope["path"]:
            await self.app(scope, receive, send)
            return
        async with self.ctx.session_factory() as session:
            found = await find_session(session, session_id, utcnow())
        if found is not None:
            scope[SESSION_KEY] = found
            scope[SESSION_ID_KEY] = session_id
            await self.app(scope, receive, send)
            return

        async def clearing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not any(v.startswith(f"{COOKIE_NAME}=") for v in headers.getlist("set-cookie")):
                    headers.append(
                        "set-cookie", cookie_header("", secure=self.ctx.secure_cookies, clear=True)
                    )
            await send(message)

        await self.app(scope, receive, clearing)


class CSRFMiddleware:
    """Every POST (and any other unsafe method) must carry the session's CSRF token, in the form field
    `csrf_token` or the `X-CSRF-Token` header; otherwise 403 and nothing runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                await HTMLResponse("Слишком большой файл.", status_code=413)(scope, receive, send)
                return
        replay = _replayer(bytes(body), receive)
        expected = scope.get(SESSION_KEY).csrf_token if scope.get(SESSION_KEY) is not None else None
        request = Request(scope, replay())
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
        if expected is None or given is None or not secrets.compare_digest(given, expected):
            response = HTMLResponse(
                "<!DOCTYPE html><html lang='ru'><meta charset='utf-8'><title>Форма устарела</title>"
                "<p>Форма устарела или открыта не из админки. Вернитесь назад, обновите страницу и "
                "повторите.</p></html>",
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, replay(), send)


def _replayer(body: bytes, receive: Receive) -> Callable[[], Callable[[], Awaitable[Message]]]:
    """Receivers that hand the already-read body out again, then wait for the client as usual."""

    def make() -> Callable[[], Awaitable[Message]]:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    return make
