"""`python -m bot run`: the real bot (long polling, or a webhook when WEBHOOK_URL is set)."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import sys

from bot.config import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run the bot with BOT_TOKEN from .env")
    parser.set_defaults(func=command)


def command(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.bot_token:
        print(
            "BOT_TOKEN is not set: put BOT_TOKEN=<token from @BotFather> into .env (see .env.example).",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bot.migrate import upgrade_database
    from bot.runner import run_bot

    limit_malloc_arenas()  # before any thread starts
    upgrade_database(settings.database_url)
    asyncio.run(run_bot(settings))
    return 0


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own heap and keeps what was freed there; the database
    and image threads then hold tens of MiB each time a burst has passed (`make bench`: about 35 MiB of
    the peak). Two heaps are plenty for one event loop. Nothing to do on other C libraries."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt  # musl's compatibility libc.so.6 may lack it
    except (OSError, AttributeError):
        return
    m_arena_max = -8  # from glibc's malloc.h
    mallopt(m_arena_max, arenas)
