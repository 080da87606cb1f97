"""CLI commands. Each module defines `register(subparsers)` that sets `func(settings, args) -> int`."""

from bot.cli import audit, backup, demo, export, invites, migrate, roster, run

COMMAND_MODULES = [run, migrate, roster, invites, audit, export, backup, demo]
