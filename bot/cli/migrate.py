"""`python -m bot migrate`: bring the database of the settings to the newest schema."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.migrate import current_revision, upgrade_database


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("migrate", help="upgrade the database schema to the newest revision")
    parser.set_defaults(func=migrate)


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    upgrade_database(settings.database_url)
    # Shown in logs and terminals: never the password of a PostgreSQL URL.
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"Database {where} is at revision {current_revision(settings.database_url)}")
    return 0
