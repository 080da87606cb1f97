"""Results requests under regulation 6.4: registering a request, issuing its extract, verifying a code.

Who may request an extract or verify a code is decided by the access policy (`bot/services/access.py`)
before these functions are called. `now` is aware and in the school's zone: its year picks the number
series, its date the academic year of a «current year» request, and it is printed on the extract.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _, in_language
from bot.reports.extract import build_extract
from bot.services import audit, outbox
from bot.services.numbering import next_number
from bot.services.outbox import NotificationPayload
from bot.services.portfolio import academic_year, academic_year_label, approved_entries, rewards_of
from bot.services.verification import find_request, make_code, verification_link
from models import Account, ResultsRequest, SchoolClass, StaffAssignment, Student
from models.enums import AuditChannel, RequestScope, StaffRole

SERIES = "results_request"
NOTIFICATION_KIND = "results_request"


@dataclass(frozen=True)
class IssuedExtract:
    request: ResultsRequest
    pdf: bytes
    period_label: str  # «2026/27 учебный год» or «все годы», as printed on the extract


@dataclass(frozen=True)
class VerifiedExtract:
    """What a staff member sees when a code checks out."""

    request: ResultsRequest
    number: str
    student_name: str
    class_label: str
    issued_at: datetime  # UTC, as stored
    scope: RequestScope
    achievements_count: int
    rewards_count: int
    requester_name: str


async def class_teachers(session: AsyncSession, class_id: int) -> list[Account]:
    """The accounts with an active class-teacher assignment for the class, in id order."""
    query = (
        select(Account)
        .join(StaffAssignment, col(StaffAssignment.account_id) == col(Account.id))
        .where(
            StaffAssignment.role == StaffRole.CLASS_TEACHER,
            StaffAssignment.class_id == class_id,
            col(StaffAssignment.active).is_(True),
        )
        .order_by(col(Account.id))
    )
    return list({account.id: account for account in (await session.exec(query)).all()}.values())


def scope_label(scope: RequestScope, year: int | None = None) -> str:
    if scope == RequestScope.CURRENT_YEAR:
        if year is None:
            return _("текущий учебный год")
        return _("{year} учебный год").format(year=academic_year_label(year))
    return _("все годы")


def period_label(scope: RequestScope | str, issued_at: datetime, tz: tzinfo) -> str:
    """What an extract covers, as printed on it: a current-year extract names the academic year it was
    issued in («2025/26 учебный год»), which is no longer «the current year» when it is checked later."""
    scope = RequestScope(scope)
    if scope != RequestScope.CURRENT_YEAR:
        return scope_label(scope)
    return scope_label(scope, academic_year(issued_at.astimezone(tz).date()))


async def _load(session: AsyncSession, student_id: int) -> tuple[Student, SchoolClass]:
    student = await session.get(Student, student_id)
    if student is None:
        raise LookupError(f"no student {student_id}")
    school_class = await session.get(SchoolClass, student.class_id)
    if school_class is None:
        raise LookupError(f"no class {student.class_id}")
    return student, school_class


async def register_request(
    session: AsyncSession,
    requester_account_id: int,
    student_id: int,
    scope: RequestScope,
    now: datetime,
    secret: str,
    school_name: str,
    *,
    bot_username: str | None = None,
) -> IssuedExtract:
    """Register the request and issue its extract, in one transaction (committed here). With the bot's
    username the extract's QR code is the bot's verification link, which a phone's camera opens."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    number = await next_number(session, SERIES, now.year)  # the first write: see next_number
    student, school_class = await _load(session, student_id)
    year = academic_year(now.date()) if scope == RequestScope.CURRENT_YEAR else None
    entries = await approved_entries(session, student_id, scope_year=year)
    rewards = await rewards_of(session, student_id, year)
    request = ResultsRequest(
        number=number,
        requester_account_id=requester_account_id,
        student_id=student_id,
        scope=scope,
        created_at=now,
        achievements_count=len(entries),
        rewards_count=len(rewards),
    )
    session.add(request)
    await session.flush()
    code = make_code(secret, request)
    request.verification_code = code
    teachers = await class_teachers(session, school_class.id)  # type: ignore[arg-type]
    teacher_name = ", ".join(teacher.name for teacher in teachers) or "—"
    pdf = build_extract(
        school_name,
        student.full_name,
        school_class.label,
        number,
        now,
        entries,
        rewards,
        teacher_name,
        code,
        period_label=scope_label(scope, year),
        qr_data=verification_link(bot_username, code) if bot_username else None,
    )
    request.extract_sha256 = hashlib.sha256(pdf).hexdigest()
    session.add(request)
    await audit.record(
        session,
        action="extract_issued",
        channel=AuditChannel.BOT,
        actor_account_id=requester_account_id,
        student_id=student_id,
        object_type="results_request",
        object_id=request.id,
    )
    requester = await session.get(Account, requester_account_id)
    requester_name = requester.name if requester is not None else "—"
    for teacher in teachers:
        with in_language(teacher.language):
            if student.account_id is not None and student.account_id == requester_account_id:
                text = _("Запрос результатов № {number} от ученика {requester}: выписка выдана.")
            else:
                text = _("Запрос результатов № {number} от родителя {requester}: выписка выдана.")
            text = text.format(number=number, requester=html.escape(requester_name))
            text += "\n" + _("Ученик: {student}, {class_label}. Период: {period}.").format(
                student=html.escape(student.short_name),
                class_label=school_class.label,
                period=scope_label(scope, year),
            )
        await outbox.enqueue(
            session,
            teacher.id,  # type: ignore[arg-type]
            NOTIFICATION_KIND,
            NotificationPayload(text=text),
            dedup_key=f"request:{request.id}:{teacher.id}",
            student_id=student.id,
        )
    await session.commit()
    await session.refresh(request)
    return IssuedExtract(request=request, pdf=pdf, period_label=scope_label(scope, year))


async def check_extract_code(
    session: AsyncSession,
    secret: str,
    code: str,
    *,
    actor_account_id: int | None,
    channel: AuditChannel,
    actor_telegram_id: int | None = None,
) -> VerifiedExtract | None:
    """A staff member checks an extract's code (`/verify` in the bot, «Проверка выписки» in the admin):
    `verify`, audited as `extract_verified` on the child's register when it checks out; committed here.
    That the person may verify at all is `access.may_verify_extract`'s, asked before."""
    found = await verify(session, secret, code)
    await audit.record(
        session,
        action="extract_verified",
        channel=channel,
        actor_account_id=actor_account_id,
        actor_telegram_id=actor_telegram_id,
        student_id=found.request.student_id if found else None,
        object_type="results_request" if found else None,
        object_id=found.request.id if found else None,
        allowed=True,
        details=None if found else "unknown code",
    )
    await session.commit()
    return found


def verification_answer(found: VerifiedExtract | None, tz: tzinfo) -> str:
    """What the staff member is told of a checked code, as plain text (the bot quotes it for HTML, the
    admin's template escapes it): what was issued, to whom, when and by which request, or that the code
    is unknown or altered."""
    if found is None:
        return _("❌ Код не найден или изменён.")
    issued = found.issued_at.astimezone(tz)
    return _(
        "✅ Выписка № {number} выдана {date} в {time} по запросу {requester}, ученик {student} "
        "(сейчас в классе {class_label}), период: {period}, достижений {achievements}, поощрений {rewards}."
    ).format(
        number=found.number,
        date=issued.strftime("%d.%m.%Y"),
        time=issued.strftime("%H:%M"),
        requester=found.requester_name,
        student=found.student_name,
        class_label=found.class_label,
        period=period_label(found.scope, found.issued_at, tz),
        achievements=found.achievements_count,
        rewards=found.rewards_count,
    )


async def verify(session: AsyncSession, secret: str, code: str) -> VerifiedExtract | None:
    """What the extract with `code` was issued for, or None for an unknown, altered or forged code."""
    request = await find_request(session, secret, code)
    if request is None:
        return None
    student, school_class = await _load(session, request.student_id)
    requester = (
        await session.get(Account, request.requester_account_id)
        if request.requester_account_id is not None
        else None
    )
    return VerifiedExtract(
        request=request,
        number=request.number,
        student_name=student.full_name,
        class_label=school_class.label,
        issued_at=request.created_at,
        scope=RequestScope(request.scope),
        achievements_count=request.achievements_count,
        rewards_count=request.rewards_count,
        requester_name=requester.name if requester is not None else "—",
    )
