"""`python -m bot students --status left|graduated|active ID...`: mark students as left or graduated
(which starts the retention period) or back at school."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Settings
from bot.i18n_text import _
from bot.services.students import set_student_status
from models.base import utcnow
from models.db import create_engine, create_session_factory
from models.enums import AuditChannel, StudentStatus


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("students", help="set students' status: left, graduated or active")
    parser.add_argument(
        "--status", required=True, choices=[s.value for s in StudentStatus], help="the new status"
    )
    parser.add_argument("ids", type=int, nargs="+", metavar="ID", help="students' ids (see the web admin)")
    parser.set_defaults(func=command)


def command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.migrate import upgrade_database

    upgrade_database(settings.database_url)
    missing = asyncio.run(_apply(settings, StudentStatus(args.status), args.ids))
    for student_id in missing:
        print(_("Ученика с id {id} нет.").format(id=student_id), file=sys.stderr)
    return 1 if missing else 0


async def _apply(settings: Settings, status: StudentStatus, ids: list[int]) -> list[int]:
    engine = create_engine(settings.database_url)
    missing = []
    try:
        async with create_session_factory(engine)() as session:
            for student_id in ids:
                student = await set_student_status(
                    session, student_id, status, None, AuditChannel.CLI, utcnow()
                )
                if student is None:
                    missing.append(student_id)
                    continue
                print(
                    _("{id}: {name} — статус «{status}».").format(
                        id=student_id, name=student.full_name, status=status
                    )
                )
    finally:
        await engine.dispose()
    return missing
