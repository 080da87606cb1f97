"""The admin served by uvicorn in the test's event loop, as `make run` serves it beside the bot (and as a
browser test starts it): it answers over real HTTP and stops cleanly; and `python -m admin` alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from admin.app import create_app
from admin.server import serving
from bot.demo.scenario import free_port
from models.db import SessionFactory
from tests.admin_support import admin_settings, sign_in_link
from tests.factories import make_school

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_python_m_admin_serves_the_admin_alone_and_stops_cleanly_on_sigterm_or_ctrl_c(
    tmp_path: Path,
    database_url: str,
    engine: AsyncEngine,
    session_factory: SessionFactory,
    signum: signal.Signals,
) -> None:
    school = await make_school(session_factory)
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "BOT_API_URL"}}
    environment.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url,
        MEDIA_DIR=str(tmp_path / "media"),
        SCHOOL_NAME="МБОУ «Школа № 7»",
        ADMIN_PORT=str(port),
        ADMIN_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )  # no BOT_TOKEN: the invite pages say they can't make links, the rest works
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "admin", cwd=tmp_path, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = b""
        while not line.startswith("Веб-админка: ".encode()):  # after the migration's log lines
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line, "python -m admin exited before serving"
        assert line.decode().startswith(f"Веб-админка: http://127.0.0.1:{port}/admin/")
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            for _attempt in range(100):  # until uvicorn listens
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/admin/login") as response:
                        assert response.status == 200 and "Вход в веб-админку" in await response.text()
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("python -m admin never listened")
            async with http.get(base + await sign_in_link(session_factory, school.admin)) as response:
                assert response.status == 200 and str(response.url) == f"{base}/admin/"
                assert "МБОУ «Школа № 7»" in await response.text()
        await engine.dispose()  # this test's own connections: the admin's are the last ones open
        wal = database_url.split("///", 1)[1] + "-wal"
        assert await asyncio.to_thread(
            os.path.exists, wal
        )  # the admin's pooled connections keep SQLite's write-ahead log open
    finally:
        if process.returncode is None:
            process.send_signal(signum)
        output = (await asyncio.wait_for(process.communicate(), 30))[0]
    text = output.decode()[-2000:]
    assert process.returncode == 0, text  # not killed by the signal once uvicorn has shut down
    assert b"Traceback" not in output and b"KeyboardInterrupt" not in output, text
    assert "the web admin stopped" in text
    # The engine was disposed: the last connection to close checkpoints the log and removes it.
    assert not await asyncio.to_thread(os.path.exists, wal), text
