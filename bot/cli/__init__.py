"""CLI commands. Each module defines `register(subparsers)` that sets `func(settings, args) -> int`."""

from bot.cli import audit, backup, demo, digest, export, invites, migrate, retention, roster, run, students

COMMAND_MODULES = [run, migrate, roster, students, invites, audit, digest, export, backup, retention, demo]
