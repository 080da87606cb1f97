"""CLI commands. Each module defines `register(subparsers)` that sets `func(settings, args) -> int`."""

from bot.cli import migrate, run

COMMAND_MODULES = [run, migrate]
