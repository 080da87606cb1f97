"""The admin served by uvicorn in the test's event loop, as `make run` serves it beside the bot (and as a
browser test starts it): it answers over real HTTP and stops cleanly."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from admin.app import create_app
from admin.server import serving
from models.db import SessionFactory
from tests.admin_support import admin_settings, sign_in_link
from tests.factories import make_school


async def test_the_admin_serves_over_http_and_stops_cleanly(
    tmp_path: Path, database_url: str, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    school = await make_school(session_factory)
    settings = admin_settings(tmp_path, database_url).model_copy(update={"admin_port": 0})  # any free port
    async with serving(settings, create_app(settings, engine)) as server:
        base = f"http://127.0.0.1:{server.port}"
        link = base + await sign_in_link(session_factory, school.admin)
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
            http.get(link) as response,
        ):
            assert response.status == 200 and str(response.url) == f"{base}/admin/"
            assert "Директор" in await response.text()
    assert server.servers and all(not s.is_serving() for s in server.servers)
