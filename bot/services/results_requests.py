"""Results requests under regulation 6.4: registering a request, issuing its extract, verifying a code.

Who may request an extract or verify a code is decided by the access policy (`bot/services/access.py`)
before these functions are called. `now` is aware and in the school's zone: its year picks the number
series, its date the academic year of a «current year» request, and it is printed on the extract.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _, in_language
from bot.reports.extract import build_extract
from bot.services import audit, outbox
from bot.services.numbering import next_number
from bot.services.outbox import NotificationPayload
from bot.services.portfolio import (
    PortfolioEntry,
    RewardEntry,
    academic_year,
    academic_year_label,
    approved_entries,
    rewards_of,
)
from bot.services.verification import find_request, make_code, verification_link
from models import Account, ResultsRequest, SchoolClass, StaffAssignment, Student
from models.enums import AuditChannel, RequestScope, StaffRole

log = logging.getLogger(__name__)

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
    class_label: str  # the student's class now
    class_at_issue: str | None  # printed on the extract; None for requests registered before it was kept
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


class ExtractNotBuilt(Exception):
    """The request is registered (it keeps its number) but its extract could not be built; asking again
    (the same person, child and period) builds it for the same request."""

    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


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
    """Register the request and issue its extract; commits. With the bot's username the extract's QR code
    is the bot's verification link, which a phone's camera opens.

    No write transaction is open while the PDF is drawn (a quarter of a second for 200 entries, for which
    SQLite would make every other writer wait), and it is drawn in a thread, off the event loop:

    1. a short write transaction registers the request: its number, the counts of what the extract lists
       and the verification code that signs them, committed;
    2. the PDF is built from what was read for it, with that number and code;
    3. a second short transaction records the extract's hash (from then on the code verifies: see
       `verify`), the audit row and the class teachers' notices.

    If building fails (or the process stops before step 3) the request stays registered without an
    extract and `ExtractNotBuilt` is raised; the next request of the same person for the same child and
    period takes that registration up again, so its number is kept and none is skipped (its counts and
    code are brought up to what is printed then: no extract with the old code ever left the bot).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    student, school_class = await _load(session, student_id)
    request = await _unissued(session, requester_account_id, student_id, scope)
    issued_at = request.created_at.astimezone(now.tzinfo) if request is not None else now
    year = academic_year(issued_at.date()) if scope == RequestScope.CURRENT_YEAR else None
    entries = await approved_entries(session, student_id, scope_year=year)
    rewards = await rewards_of(session, student_id, year)
    teachers = await class_teachers(session, school_class.id)  # type: ignore[arg-type]
    request = await _registered(
        session,
        request,
        requester_account_id,
        student_id,
        school_class.label,
        scope,
        issued_at,
        secret,
        entries,
        rewards,
    )
    code = request.verification_code or ""
    period = scope_label(scope, year)
    try:
        pdf = await asyncio.to_thread(
            build_extract,
            school_name,
            student.full_name,
            school_class.label,
            request.number,
            issued_at,
            entries,
            rewards,
            ", ".join(teacher.name for teacher in teachers) or "—",
            code,
            period_label=period,
            qr_data=verification_link(bot_username, code) if bot_username else None,
        )
    except Exception as error:
        log.exception("the extract of results request %s was not built", request.id)
        raise ExtractNotBuilt(request.number) from error

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
            text = text.format(number=request.number, requester=html.escape(requester_name))
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
    return IssuedExtract(request=request, pdf=pdf, period_label=period)


async def _unissued(
    session: AsyncSession, requester_account_id: int, student_id: int, scope: RequestScope
) -> ResultsRequest | None:
    """The person's latest registration for this child and period whose extract was never built."""
    return (
        await session.exec(
            select(ResultsRequest)
            .where(
                ResultsRequest.requester_account_id == requester_account_id,
                ResultsRequest.student_id == student_id,
                ResultsRequest.scope == scope,
                col(ResultsRequest.verification_code).is_not(None),
                col(ResultsRequest.extract_sha256).is_(None),
            )
            .order_by(col(ResultsRequest.id).desc())
            .limit(1)
        )
    ).first()


async def _registered(
    session: AsyncSession,
    request: ResultsRequest | None,
    requester_account_id: int,
    student_id: int,
    class_label: str,
    scope: RequestScope,
    issued_at: datetime,
    secret: str,
    entries: Sequence[PortfolioEntry],
    rewards: Sequence[RewardEntry],
) -> ResultsRequest:
    """Step 1 of `register_request`: the request as registered, with its number and code; committed."""
    if request is None:
        number = await next_number(session, SERIES, issued_at.year)  # the first write: see next_number
        request = ResultsRequest(
            number=number,
            requester_account_id=requester_account_id,
            student_id=student_id,
            scope=scope,
            created_at=issued_at,
        )
    request.achievements_count = len(entries)
    request.rewards_count = len(rewards)
    request.class_label = class_label  # as printed on the extract
    session.add(request)
    await session.flush()  # the id, which the code carries
    request.verification_code = make_code(secret, request)
    session.add(request)
    await session.commit()
    return request


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
        "✅ Выписка № {number} выдана {date} в {time} по запросу {requester}, ученик {student}, "
        "период: {period}, достижений {achievements}, поощрений {rewards}."
    ).format(
        number=found.number,
        date=issued.strftime("%d.%m.%Y"),
        time=issued.strftime("%H:%M"),
        requester=found.requester_name,
        student=_student_and_class(found),
        period=period_label(found.scope, found.issued_at, tz),
        achievements=found.achievements_count,
        rewards=found.rewards_count,
    )


def _student_and_class(found: VerifiedExtract) -> str:
    """«Иванов Пётр, класс 5А» as on the extract, with the class now when the student has moved since
    («…, класс 5А (сейчас в классе 6А)»); for an extract of before the class was kept, only the class now."""
    student, now = found.student_name, found.class_label
    if found.class_at_issue is None:
        return _("{student} (сейчас в классе {class_now})").format(student=student, class_now=now)
    if found.class_at_issue == found.class_label:
        return _("{student}, класс {class_label}").format(student=student, class_label=found.class_at_issue)
    return _("{student}, класс {class_label} (сейчас в классе {class_now})").format(
        student=student, class_label=found.class_at_issue, class_now=now
    )


async def verify(session: AsyncSession, secret: str, code: str) -> VerifiedExtract | None:
    """What the extract with `code` was issued for, or None for an unknown, altered or forged code."""
    request = await find_request(session, secret, code)
    if request is None or request.extract_sha256 is None:  # registered, but no extract was issued with it
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
        class_at_issue=request.class_label,
        issued_at=request.created_at,
        scope=RequestScope(request.scope),
        achievements_count=request.achievements_count,
        rewards_count=request.rewards_count,
        requester_name=requester.name if requester is not None else "—",
    )
