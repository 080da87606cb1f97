"""Invite commands: the first administrator's link, class invite sheets and staff links.

    python -m bot init-admin [--force]
    python -m bot invites --class 5А [--format pdf|csv] [--out PATH] [--guardians N]
    python -m bot invites staff --role admin|deputy|class_teacher|teacher [--class 5А | --level ООО]

Links need the bot's username: it is asked from Telegram (getMe) unless --bot-username is given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from aiogram.exceptions import TelegramAPIError
from aiogram.utils.token import TokenValidationError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.i18n_text import _
from bot.reports.invite_sheet import build_invite_csv, build_invite_sheet
from bot.services.invites import (
    InviteError,
    IssuedInvite,
    SheetEntry,
    create_staff_invite,
    deep_link,
    has_active_admin,
    issue_class_sheet_invites,
    last_valid_day,
)
from bot.services.roster import normalize_class_label
from models import SchoolClass
from models.db import create_engine, create_session_factory
from models.enums import AuditChannel, SchoolLevel, StaffRole

T = TypeVar("T")

_LEVEL_NAMES = {
    "noo": SchoolLevel.NOO,
    "ooo": SchoolLevel.OOO,
    "soo": SchoolLevel.SOO,
    "ноо": SchoolLevel.NOO,
    "ооо": SchoolLevel.OOO,
    "соо": SchoolLevel.SOO,
}

_LEVEL_LABELS = {SchoolLevel.NOO: "НОО", SchoolLevel.OOO: "ООО", SchoolLevel.SOO: "СОО"}


class CommandError(Exception):
    """A problem to tell the operator in one line; the command exits with status 1."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init_admin = subparsers.add_parser("init-admin", help="print the first administrator's invite link")
    init_admin.add_argument(
        "--force", action="store_true", help="issue a link even if an administrator exists"
    )
    _add_bot_username(init_admin, default=None)
    init_admin.set_defaults(func=_run(_init_admin))

    invites = subparsers.add_parser(
        "invites", help="write a class invite sheet, or print a staff invite link"
    )
    invites.add_argument("--class", dest="class_label", metavar="CLASS", help="class label, e.g. 5А")
    invites.add_argument("--format", choices=("pdf", "csv"), default="pdf", help="sheet format (default pdf)")
    invites.add_argument(
        "--out", type=Path, help="where to write the sheet (default ./invites-<class>.<format>)"
    )
    invites.add_argument("--guardians", type=int, default=1, help="guardian codes per student (default 1)")
    _add_bot_username(invites, default=None)
    invites.set_defaults(func=_run(_class_sheet))

    staff = invites.add_subparsers(dest="invites_command", metavar="staff").add_parser(
        "staff", help="print a staff invite link"
    )
    staff.add_argument("--role", required=True, choices=[role.value for role in StaffRole])
    # SUPPRESS: a value given before «staff» (invites --class 5А staff ...) is kept, not reset to None.
    staff.add_argument("--class", dest="class_label", metavar="CLASS", default=argparse.SUPPRESS)
    staff.add_argument("--level", help="for a deputy: noo|ooo|soo or НОО|ООО|СОО")
    _add_bot_username(staff, default=argparse.SUPPRESS)
    staff.set_defaults(func=_run(_staff_link))


def _add_bot_username(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--bot-username", default=default, help="the bot's @username; skips asking Telegram for it"
    )


def _run(
    work: Callable[[Settings, argparse.Namespace], Awaitable[str]],
) -> Callable[[Settings, argparse.Namespace], int]:
    """A CLI entry: migrate, run `work` in its own event loop and print what it returns."""

    def command(settings: Settings, args: argparse.Namespace) -> int:
        from bot.migrate import upgrade_database

        upgrade_database(settings.database_url)
        try:
            print(asyncio.run(work(settings, args)))
        except (CommandError, InviteError) as error:
            print(error, file=sys.stderr)
            return 1
        return 0

    return command


async def fetch_bot_username(settings: Settings) -> str:
    """The bot's username from Telegram (getMe), through the Bot API server of the settings."""
    from bot.app import create_bot

    if not settings.bot_token:
        raise CommandError(_("BOT_TOKEN не задан: укажите его в .env или передайте --bot-username."))
    try:
        bot = create_bot(settings)
    except TokenValidationError as error:
        raise CommandError(_("BOT_TOKEN в .env имеет неверный формат.")) from error
    try:
        me = await bot.get_me()
    except TelegramAPIError as error:
        raise CommandError(
            _("Не удалось узнать имя бота у Telegram ({error}); передайте --bot-username.").format(
                error=error
            )
        ) from error
    finally:
        await bot.session.close()
    if not me.username:
        raise CommandError(_("У бота нет имени пользователя (username)."))
    return me.username


async def _bot_username(settings: Settings, args: argparse.Namespace) -> str:
    given: str | None = getattr(args, "bot_username", None)
    return given.removeprefix("@") if given else await fetch_bot_username(settings)


async def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _role_title(role: StaffRole, level: SchoolLevel | None, class_label: str | None) -> str:
    if role == StaffRole.ADMIN:
        return _("Ссылка-приглашение администратора:")
    if role == StaffRole.DEPUTY:
        level_name = _LEVEL_LABELS.get(level, "") if level else ""
        return _("Ссылка-приглашение заместителя директора ({level}):").format(level=level_name)
    if role == StaffRole.CLASS_TEACHER:
        return _("Ссылка-приглашение классного руководителя {class_label}:").format(class_label=class_label)
    return _("Ссылка-приглашение педагога:")


def _link_text(settings: Settings, title: str, bot_username: str, issued: IssuedInvite) -> str:
    until = last_valid_day(issued.invite.expires_at, settings.tz).strftime("%d.%m.%Y")
    return "\n".join(
        (
            title,
            deep_link(bot_username, issued.code),
            _(
                "Ссылка одноразовая и действует до {date} включительно. Откройте её в Telegram на телефоне "
                "того, кому она предназначена, и никому не пересылайте."
            ).format(date=until),
        )
    )


async def _init_admin(settings: Settings, args: argparse.Namespace) -> str:
    bot_username = await _bot_username(settings, args)

    async def issue(session: AsyncSession) -> IssuedInvite:
        if await has_active_admin(session) and not args.force:
            raise CommandError(
                _(
                    "Администратор уже есть: новых администраторов приглашают в боте или командой "
                    "«invites staff --role admin». Чтобы всё равно выдать ссылку, добавьте --force."
                )
            )
        return await create_staff_invite(
            session, StaffRole.ADMIN, None, None, settings.invite_ttl, channel=AuditChannel.CLI
        )

    issued = await _in_session(settings, issue)
    return _link_text(settings, _role_title(StaffRole.ADMIN, None, None), bot_username, issued)


async def _find_class(session: AsyncSession, label: str) -> SchoolClass:
    try:
        grade, letter = normalize_class_label(label)
    except ValueError as error:
        message = _("Непонятный класс «{label}»: нужен номер 1–11 и буква, например 5А.")
        raise CommandError(message.format(label=label)) from error
    query = select(SchoolClass).where(SchoolClass.grade == grade, SchoolClass.letter == letter)
    school_class = (await session.exec(query)).first()
    if school_class is None:
        raise CommandError(
            _("Класса {label} нет: сначала загрузите список учащихся (import-roster).").format(
                label=f"{grade}{letter}"
            )
        )
    return school_class


async def _class_sheet(settings: Settings, args: argparse.Namespace) -> str:
    if not args.class_label:
        raise CommandError(_("Укажите класс: --class 5А (или «invites staff ...» для ссылки сотруднику)."))
    bot_username = await _bot_username(settings, args)

    async def issue(session: AsyncSession) -> tuple[str, list[SheetEntry]]:
        school_class = await _find_class(session, args.class_label)
        assert school_class.id is not None
        entries = await issue_class_sheet_invites(
            session,
            school_class.id,
            settings.invite_ttl,
            guardian_codes_per_student=args.guardians,
            channel=AuditChannel.CLI,
        )
        return school_class.label, entries

    # Check the destination first: codes issued for a sheet that can't be written would be wasted.
    out: Path | None = args.out
    if out is not None and not out.parent.is_dir():
        raise CommandError(_("Нет папки {path}.").format(path=out.parent))
    label, entries = await _in_session(settings, issue)
    if not entries:
        raise CommandError(_("В классе {label} нет учащихся.").format(label=label))
    out = out or Path(f"invites-{label}.{args.format}")
    expires_on = last_valid_day(entries[0].expires_at, settings.tz)
    if args.format == "csv":
        content = build_invite_csv(entries, bot_username, expires_on)
    else:
        issued_on = datetime.now(settings.tz).date()
        content = build_invite_sheet(
            settings.school_name, label, entries, bot_username, issued_on, expires_on
        )
    await asyncio.to_thread(out.write_bytes, content)
    return _("Приглашения для класса {label} ({count} уч.) записаны в {path}").format(
        label=label, count=len(entries), path=out
    )


def _parse_level(text: str) -> SchoolLevel:
    level = _LEVEL_NAMES.get(text.strip().casefold())
    if level is None:
        raise CommandError(_("Непонятный уровень «{level}»: нужен НОО, ООО или СОО.").format(level=text))
    return level


async def _staff_link(settings: Settings, args: argparse.Namespace) -> str:
    role = StaffRole(args.role)
    level = _parse_level(args.level) if args.level else None
    bot_username = await _bot_username(settings, args)

    async def issue(session: AsyncSession) -> tuple[IssuedInvite, str | None]:
        school_class = None
        if getattr(args, "class_label", None):
            school_class = await _find_class(session, args.class_label)
        class_id = school_class.id if school_class else None
        issued = await create_staff_invite(
            session, role, level, class_id, settings.invite_ttl, channel=AuditChannel.CLI
        )
        return issued, school_class.label if school_class else None

    issued, class_label = await _in_session(settings, issue)
    return _link_text(settings, _role_title(role, level, class_label), bot_username, issued)
