"""Command line: `python -m bot COMMAND`. Each command lives in its own module under bot/cli/."""

from __future__ import annotations

import argparse
import sys

from bot.cli import COMMAND_MODULES
from bot.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="«Портфолио» — school achievements bot"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(Settings(), args) or 0)


if __name__ == "__main__":
    sys.exit(main())
