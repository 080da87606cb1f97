"""`python -m bot audit --student ID`: the access register of one child (for a personal-data inquiry)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Settings
from bot.i18n_text import _
from bot.services.access_register import access_register
from models.db import create_engine, create_session_factory


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("audit", help="print the access register of one student")
    parser.add_argument("--student", type=int, required=True, help="the student's id (see the web admin)")
    parser.set_defaults(func=command)


def command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.migrate import upgrade_database

    upgrade_database(settings.database_url)
    text = asyncio.run(_register_text(settings, args.student))
    if text is None:
        print(_("Ученика с id {id} нет.").format(id=args.student), file=sys.stderr)
        return 1
    print(text)
    return 0


async def _register_text(settings: Settings, student_id: int) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            student, lines = await access_register(session, student_id)
    finally:
        await engine.dispose()
    if student is None and not lines:
        return None
    name = student.full_name if student else _("(записи ученика уничтожены)")
    out = [_("Журнал доступа к данным ученика: {name} (id {id})").format(name=name, id=student_id), ""]
    out.append(
        _row(_("Когда"), _("Канал"), _("Решение"), _("Действие"), _("Объект"), _("Кто")),
    )
    for line in lines:
        verdict = _("разрешено") if line.allowed else _("ОТКАЗАНО")
        when = line.at.astimezone(settings.tz).strftime("%d.%m.%Y %H:%M:%S")
        out.append(_row(when, line.channel, verdict, line.action, line.object, line.actor))
    out.append("")
    out.append(_("Всего записей: {count}").format(count=len(lines)))
    return "\n".join(out)


def _row(when: str, channel: str, verdict: str, action: str, obj: str, actor: str) -> str:
    return f"{when:<19}  {channel:<6} {verdict:<10} {action:<28} {obj:<22} {actor}"
