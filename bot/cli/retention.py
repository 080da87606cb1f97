"""`python -m bot retention --dry-run|--apply [--out DIR]`: destroy the records of students who left or
graduated more than RETENTION_DAYS ago, the digest PDFs naming them, and evidence files no record owns;
`--apply` writes the act of destruction (CSV and PDF) to DIR. A dry run lists what would go (each digest
PDF too) and changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bot.config import Settings
from bot.i18n_text import _
from bot.reports.destruction_act import build_act_csv, build_act_pdf, status_label
from bot.services.retention import RetentionReport, run_retention
from models.base import utcnow
from models.db import create_engine, create_session_factory

DEFAULT_OUT = Path("data/retention")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "retention", help="destroy records of students who left or graduated RETENTION_DAYS ago"
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="list what would be destroyed, change nothing")
    mode.add_argument("--apply", action="store_true", help="destroy and write the act")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where to write the act (default {DEFAULT_OUT})"
    )
    parser.set_defaults(func=command)


def command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.migrate import upgrade_database

    upgrade_database(settings.database_url)
    if args.apply and not _writable(args.out):  # records without their act would be gone for good
        print(
            _("Не могу записать акт в {path}: ничего не уничтожено.").format(path=args.out), file=sys.stderr
        )
        return 2
    report = asyncio.run(_run(settings, apply=args.apply))
    print(format_report(report, settings))
    if report.applied and (report.students or report.orphan_files):
        for path in write_act(report, settings, args.out):
            print(_("Акт: {path}").format(path=path))
    return 0


def _writable(out: Path) -> bool:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(out, os.W_OK)


async def _run(settings: Settings, *, apply: bool) -> RetentionReport:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            return await run_retention(
                session, settings.media_dir, utcnow(), settings.retention_days, apply=apply
            )
    finally:
        await engine.dispose()


def format_report(report: RetentionReport, settings: Settings) -> str:
    head = _("Уничтожено") if report.applied else _("Будет уничтожено (пробный запуск, ничего не изменено)")
    lines = [
        _("Срок хранения: {days} дн. после выбытия или выпуска.").format(days=report.retention_days),
        f"{head}:",
    ]
    for item in report.students:
        lines.append(
            "  "
            + _(
                "id {id}: {name}, {class_label}, {status} с {since}: достижений {achievements}, "
                "файлов {files}, поощрений {rewards}, запросов {requests}, сводок {digests}"
            ).format(
                id=item.student_id,
                name=item.full_name,
                class_label=item.class_label,
                status=status_label(item.status),
                since=item.status_since.astimezone(settings.tz).strftime("%d.%m.%Y"),
                achievements=item.achievements,
                files=item.files,
                rewards=item.rewards,
                requests=item.requests,
                digests=len(item.digests),
            )
        )
        lines.extend("    " + _("сводка: {path}").format(path=path) for path in item.digests)
    if not report.students:
        lines.append("  " + _("учеников, чей срок хранения истёк, нет"))
    lines.append(_("Файлов без записей: {count}").format(count=len(report.orphan_files)))
    return "\n".join(lines)


def write_act(report: RetentionReport, settings: Settings, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"retention-act-{report.now.astimezone(settings.tz):%Y%m%d-%H%M%S}"
    csv_path, pdf_path = out / f"{stem}.csv", out / f"{stem}.pdf"
    csv_path.write_bytes(build_act_csv(report, settings.tz))
    pdf_path.write_bytes(build_act_pdf(report, settings.school_name, settings.tz))
    return [csv_path, pdf_path]
