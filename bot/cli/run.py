"""`python -m bot run`: the real bot (long polling, or a webhook when WEBHOOK_URL is set)."""

from __future__ import annotations

import argparse
import asyncio
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

    upgrade_database(settings.database_url)
    asyncio.run(run_bot(settings))
    return 0
