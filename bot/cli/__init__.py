"""CLI commands. Each module defines `register(subparsers)` that sets `func(settings, args) -> int`."""

from bot.cli import audit, demo, digest, invites, migrate, retention, roster, run, students

COMMAND_MODULES = [run, migrate, roster, students, invites, audit, digest, retention, demo]
