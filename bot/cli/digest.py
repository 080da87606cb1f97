"""`python -m bot digest --now [--period last-week|this-week|YYYY-Www] [--dry-run]`: the weekly digest on
demand.

Queues the period's digest for every recipient who hasn't had it (the same exactly-once rows as the
scheduled run, so running it twice sends nothing new); the running bot process delivers the queue. With
--dry-run it only writes the PDFs (under MEDIA_DIR/digests/WEEK/preview/, never over a digest that was
sent) and prints where.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Settings
from bot.i18n_text import _
from bot.services.digest import DigestRun, Period, parse_period, run_digest
from models.base import utcnow
from models.db import create_engine, create_session_factory
from models.enums import AuditChannel


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("digest", help="build and queue the weekly digest now")
    parser.add_argument("--now", action="store_true", required=True, help="run now, not on DIGEST_CRON")
    parser.add_argument(
        "--period", default="last-week", help="last-week (default), this-week or an ISO week like 2026-W49"
    )
    parser.add_argument("--dry-run", action="store_true", help="only write the PDFs and print where")
    parser.set_defaults(func=command)


def command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.migrate import upgrade_database

    now = utcnow()
    try:
        period = parse_period(args.period, now, settings.tz)
    except ValueError:
        print(
            _("Не понимаю период «{period}»: нужно last-week, this-week или неделя вида 2026-W49.").format(
                period=args.period
            ),
            file=sys.stderr,
        )
        return 2
    upgrade_database(settings.database_url)
    run = asyncio.run(_run(settings, period, args.dry_run))
    for path in run.pdfs:
        print(_("PDF: {path}").format(path=path))
    if args.dry_run:
        print(_("Пробный запуск: сводка {period} никому не отправлена.").format(period=period.key))
    else:
        print(
            _("Сводка {period}: поставлено в очередь — {queued}, уже получили раньше — {skipped}.").format(
                period=period.key, queued=run.queued, skipped=run.skipped
            )
        )
        if run.queued:
            print(_("Их отправит запущенный бот (python -m bot run)."))
    return 0


async def _run(settings: Settings, period: Period, dry_run: bool) -> DigestRun:
    from bot.app import create_i18n

    engine = create_engine(settings.database_url)
    try:
        return await run_digest(
            create_session_factory(engine),
            settings,
            period,
            utcnow(),
            i18n=create_i18n(settings),
            dry_run=dry_run,
            channel=AuditChannel.CLI,
        )
    finally:
        await engine.dispose()
