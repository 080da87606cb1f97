"""`python -m bot import-roster FILE [--dry-run]`: load the class lists (CSV or XLSX) and print the report."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import Settings
from bot.i18n_text import _
from bot.services.roster import ImportReport, ParsedRoster, RosterFormatError, import_roster, parse_roster
from models.db import create_engine, create_session_factory
from models.enums import AuditChannel


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import-roster",
        help="import the class lists: CSV or XLSX with class, surname, name, patronymic, "
        "optional birth date and external id",
    )
    parser.add_argument("file", type=Path, help="the roster file (.csv or .xlsx)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change and change nothing")
    parser.set_defaults(func=command)


def command(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        data = path.read_bytes()
        parsed = parse_roster(data, path.name)
    except OSError as error:
        print(
            _("Не удалось прочитать файл {path}: {error}").format(path=path, error=error.strerror),
            file=sys.stderr,
        )
        return 2
    except RosterFormatError as error:
        print(error, file=sys.stderr)
        return 1
    from bot.migrate import upgrade_database

    upgrade_database(settings.database_url)
    report = asyncio.run(_apply(settings, parsed, dry_run=args.dry_run))
    print(report.format())
    return 0


async def _apply(settings: Settings, parsed: ParsedRoster, *, dry_run: bool) -> ImportReport:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            return await import_roster(session, parsed, dry_run=dry_run, channel=AuditChannel.CLI)
    finally:
        await engine.dispose()
