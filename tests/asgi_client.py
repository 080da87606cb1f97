"""A small in-process HTTP client for ASGI apps, with a cookie jar, in the test's own event loop.

Starlette's TestClient needs the httpx2 package (not installed here) and runs the app in another
thread and loop, where the test's aiosqlite engine can't follow; this client calls the app directly.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.types import ASGIApp, Message


@dataclass
class Response:
    status_code: int
    headers: list[tuple[str, str]]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)

    def header_list(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name.lower()]

    @property
    def location(self) -> str | None:
        return self.header("location")


@dataclass
class AsgiClient:
    app: ASGIApp
    host: str = "testserver"
    cookies: dict[str, str] = field(default_factory=dict)

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("POST", path, **kwargs)

    async def request(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = False,
    ) -> Response:
        body, content_type = _encode(data, files)
        response = await self._send(method, path, body, content_type, headers or {})
        hops = 0
        while follow_redirects and response.status_code in (301, 302, 303, 307) and hops < 10:
            target = urlsplit(response.location or "/")
            path = target.path + (f"?{target.query}" if target.query else "")
            response = await self._send("GET", path, b"", None, {})
            hops += 1
        return response

    async def _send(
        self, method: str, path: str, body: bytes, content_type: str | None, extra: dict[str, str]
    ) -> Response:
        split = urlsplit(path)
        headers = [(b"host", self.host.encode())]
        if self.cookies:
            headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()).encode()))
        if content_type:
            headers.append((b"content-type", content_type.encode()))
            headers.append((b"content-length", str(len(body)).encode()))
        headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": split.path,
            "raw_path": split.path.encode(),
            "root_path": "",
            "query_string": split.query.encode(),
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": (self.host, 80),
        }
        sent = False
        messages: list[Message] = []
        finished = asyncio.Event()

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            # Like a browser that stays connected: the client goes away only once the response is complete.
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            messages.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished.set()

        await self.app(scope, receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        response = Response(
            status_code=start["status"],
            headers=[(k.decode().lower(), v.decode()) for k, v in start.get("headers", [])],
            content=b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"),
        )
        for value in response.header_list("set-cookie"):
            cookie = SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response


def _encode(
    data: dict[str, str] | None, files: dict[str, tuple[str, bytes, str]] | None
) -> tuple[bytes, str | None]:
    if files:
        boundary = secrets.token_hex(12)
        parts = []
        for name, value in (data or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        for name, (filename, content, mime) in files.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {mime}\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        parts.append(f"--{boundary}--\r\n".encode())
        return b"".join(parts), f"multipart/form-data; boundary={boundary}"
    if data is not None:
        return urlencode(data).encode(), "application/x-www-form-urlencoded"
    return b"", None
