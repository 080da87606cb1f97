"""`python -m bot export KIND --from D --to D --out FILE [--format xlsx|csv]`: a register for Excel.

The command line acts for the whole school (whoever runs it holds the database anyway); the export is
written to the audit log with channel cli.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from bot.config import Settings
from bot.i18n_text import _
from bot.reports.spreadsheet import Sheet, to_csv, to_xlsx
from bot.services.exports import ExportKind, Period, export_sheet
from bot.services.principal import ANONYMOUS
from models.db import create_engine, create_session_factory
from models.enums import AuditChannel


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export", help="export a register to XLSX or CSV: gifted, achievements, requests, rewards"
    )
    parser.add_argument("kind", choices=[kind.value for kind in ExportKind])
    parser.add_argument("--from", dest="first", type=_day, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="last", type=_day, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    parser.set_defaults(func=command)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("дата в виде ГГГГ-ММ-ДД, например 2026-09-01")) from None


def command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.migrate import upgrade_database

    if args.last < args.first:
        print(_("Период заканчивается раньше, чем начинается: проверьте --from и --to."), file=sys.stderr)
        return 2
    upgrade_database(settings.database_url)
    sheet = asyncio.run(_export(settings, ExportKind(args.kind), Period(args.first, args.last)))
    data = to_csv(sheet) if args.format == "csv" else to_xlsx(sheet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(
        _("{title}: строк {count}, файл {path}").format(
            title=sheet.title, count=len(sheet.rows), path=args.out
        )
    )
    return 0


async def _export(settings: Settings, kind: ExportKind, period: Period) -> Sheet:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            return await export_sheet(
                session,
                kind,
                period,
                principal=ANONYMOUS,
                levels=None,
                channel=AuditChannel.CLI,
                tz=settings.tz,
            )
    finally:
        await engine.dispose()
