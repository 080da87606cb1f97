"""`python -m admin`: the web admin alone (the bot keeps running elsewhere, e.g. `python -m bot run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable
from typing import TypeVar

from admin.app import create_app
from admin.server import EmbeddedServer, server_config
from bot.config import Settings

log = logging.getLogger("admin")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
T = TypeVar("T")


async def _bot_username(settings: Settings) -> str | None:
    """The bot's username for invite links, or None (the invite pages then say they can't make links)."""
    from bot.cli.invites import CommandError, fetch_bot_username

    try:
        return await asyncio.wait_for(fetch_bot_username(settings), timeout=15)
    except TimeoutError:
        log.warning("invite links are off: Telegram did not answer getMe")
        return None
    except CommandError as error:
        log.warning("invite links are off: %s", error)
        return None


async def _unless_stopped(stop: asyncio.Event, awaitable: Awaitable[T]) -> T | None:
    """`awaitable`'s result, or None as soon as `stop` is set (it is cancelled then)."""
    task = asyncio.ensure_future(awaitable)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _main(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT (Ctrl+C), then shut down gracefully and close the database.

    The signals are ours, not uvicorn's: uvicorn re-raises the signal it caught once it has shut down, which
    killed the process (exit code −15) before the engine was disposed. A second signal skips waiting for
    requests still being answered."""
    from bot.app import create_i18n
    from models.db import create_engine

    stop = asyncio.Event()
    server: EmbeddedServer | None = None

    def on_signal() -> None:
        if server is not None:
            server.force_exit = server.should_exit
            server.should_exit = True
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal)
    engine = create_engine(settings.database_url)
    try:
        bot_username = await _unless_stopped(stop, _bot_username(settings))
        if stop.is_set():
            return
        app = create_app(settings, engine, bot_username=bot_username, i18n=create_i18n(settings))
        server = EmbeddedServer(server_config(settings, app))
        await server.serve()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await engine.dispose()
        log.info("the web admin stopped")


def main() -> int:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bot.migrate import upgrade_database

    upgrade_database(settings.database_url)
    print(f"Веб-админка: {settings.admin_public_url.rstrip('/')}/admin/ (вход — командой /admin в боте)")
    asyncio.run(_main(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
