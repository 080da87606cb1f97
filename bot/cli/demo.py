"""`python -m bot demo`: a demo school plays its first week with the real bot (see bot/demo/scenario.py)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.config import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="play a demo school week against a local Telegram server")
    parser.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="where PDFs and the transcript go"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the bot and the web admin running after the week (Ctrl+C stops): the printed sign-in link works",
    )
    parser.set_defaults(func=command)


def command(settings: Settings, args: argparse.Namespace) -> int:
    # The demo needs the test tools (the local Bot API server): imported only here.
    from bot.demo.scenario import run_demo

    try:
        return asyncio.run(run_demo(args.out, settings.school_name, keep=args.keep))
    except KeyboardInterrupt:
        return 0
