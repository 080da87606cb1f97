"""`python -m bot demo`: a demo school plays its first week with the real bot (see bot/demo/scenario.py)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.config import Settings

DEMO_TIMEOUT_SECONDS = 300  # a guard against a hang; the week plays in 1–2 minutes on an idle machine


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="play a demo school week against a local Telegram server")
    parser.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="where PDFs and the transcript go"
    )
    parser.set_defaults(func=command)


def command(settings: Settings, args: argparse.Namespace) -> int:
    # The demo needs the test tools (the local Bot API server): imported only here.
    from bot.demo.scenario import run_demo

    return asyncio.run(asyncio.wait_for(run_demo(args.out, settings.school_name), DEMO_TIMEOUT_SECONDS))
