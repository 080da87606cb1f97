"""`python -m admin`: the web admin alone (the bot keeps running elsewhere, e.g. `python -m bot run`)."""

from __future__ import annotations

import asyncio
import logging
import sys

from admin.app import create_app
from admin.server import server_config
from bot.config import Settings


async def _bot_username(settings: Settings) -> str | None:
    """The bot's username for invite links, or None (the invite pages then say they can't make links)."""
    from bot.cli.invites import CommandError, fetch_bot_username

    try:
        return await asyncio.wait_for(fetch_bot_username(settings), timeout=15)
    except TimeoutError:
        logging.getLogger("admin").warning("invite links are off: Telegram did not answer getMe")
        return None
    except CommandError as error:
        logging.getLogger("admin").warning("invite links are off: %s", error)
        return None


async def _main(settings: Settings) -> None:
    import uvicorn

    from bot.app import create_i18n
    from models.db import create_engine

    engine = create_engine(settings.database_url)
    app = create_app(settings, engine, bot_username=await _bot_username(settings), i18n=create_i18n(settings))
    try:
        await uvicorn.Server(server_config(settings, app)).serve()
    finally:
        await engine.dispose()


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
