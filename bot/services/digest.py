"""The weekly digest: what happened in a staff member's classes during one ISO week, sent exactly once.

- **Period**: an ISO week («2026-W49»), Monday 00:00 to the next Monday 00:00 in the school's zone.
- **Recipients and scopes**: every account holding an active administrator, deputy or class-teacher role
  gets ONE digest per period (the delivery row is unique per period and account) covering every class the
  access policy lets them view (`access.classes_in_scope`): an administrator the whole school, a deputy
  their level(s), a class teacher their class(es); a deputy who also leads a class of another level gets
  both in one digest. Narrower scopes are merged into the widest rather than sent as several digests:
  the same children would otherwise be counted twice in a person's chat.
- **Content** (`Digest`), all restricted to the scope's classes (a child's current class): submissions
  new in the week, approved and rejected in the week, still pending now (submitted before the week's
  end) with the oldest per class; approved results by category and level; notable results (regional and
  higher wins, `taxonomy.is_notable`) with the child's name; rewards and results requests recorded in
  the week; guardian coverage per class; people in the scope the bot can't reach.
- **Exactly once**: `run_digest` claims a `DigestDelivery` row per (period, recipient) with
  INSERT … ON CONFLICT DO NOTHING and queues the message with its PDF in the same transaction; a second
  run, a restart or a concurrent run queues nothing for a recipient already claimed. Delivery itself is
  the outbox's (rate limits, flood waits, blocked users marked unreachable); the notification's dedup
  key is `digest:<period>:<account id>`. `sent_at` records when the digest was handed to the outbox.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path

from aiogram.utils.i18n import I18n, ngettext
from sqlalchemy import or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.i18n_text import _, in_language
from bot.reports.digest_pdf import build_digest_pdf
from bot.services import audit, outbox
from bot.services.access import classes_in_scope
from bot.services.coverage import classes_coverage
from bot.services.outbox import NotificationPayload
from bot.services.principal import load_principal
from bot.services.reminders import days_text
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category, is_notable, label
from models import (
    Account,
    Achievement,
    DigestDelivery,
    GuardianLink,
    ResultsRequest,
    Reward,
    SchoolClass,
    StaffAssignment,
    Student,
)
from models.db import SessionFactory
from models.enums import (
    AchievementStatus,
    AuditChannel,
    GuardianLinkStatus,
    SchoolLevel,
    StaffRole,
    StudentStatus,
)

log = logging.getLogger(__name__)

NOTIFICATION_KIND = "digest"
DIGESTS_DIR = "digests"  # under MEDIA_DIR: the outbox sends documents from there
DIGEST_ROLES = (StaffRole.ADMIN, StaffRole.DEPUTY, StaffRole.CLASS_TEACHER)
_SCOPE_KEY_LENGTH = 32  # DigestDelivery.scope


# -- periods ---------------------------------------------------------------------------------------------

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Period:
    """An ISO week. Raises ValueError for a week the year doesn't have (W53 of most years)."""

    year: int
    week: int

    def __post_init__(self) -> None:
        date.fromisocalendar(self.year, self.week, 1)

    @classmethod
    def containing(cls, moment: datetime, tz: tzinfo) -> Period:
        """The week `moment` (aware) falls in, in the school's zone."""
        year, week, _day = moment.astimezone(tz).date().isocalendar()
        return cls(year, week)

    @property
    def key(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    def start(self, tz: tzinfo) -> datetime:
        return datetime.combine(self.first_day, time(), tz)

    def end(self, tz: tzinfo) -> datetime:
        """The next Monday's midnight: the period is [start, end)."""
        return datetime.combine(self.first_day + timedelta(days=7), time(), tz)

    def previous(self) -> Period:
        year, week, _day = (self.first_day - timedelta(days=7)).isocalendar()
        return Period(year, week)

    @property
    def dates_label(self) -> str:
        return f"{self.first_day:%d.%m.%Y} – {self.last_day:%d.%m.%Y}"

    def __str__(self) -> str:
        return self.key


def parse_period(text: str, now: datetime, tz: tzinfo) -> Period:
    """«last-week», «this-week» (relative to `now` in the school's zone) or «YYYY-Www»."""
    value = text.strip().lower()
    if value == "this-week":
        return Period.containing(now, tz)
    if value == "last-week":
        return Period.containing(now, tz).previous()
    match = _WEEK.match(value)
    if match is None:
        raise ValueError(f"not a period: {text!r} (last-week, this-week or YYYY-Www)")
    return Period(int(match[1]), int(match[2]))


# -- scopes ----------------------------------------------------------------------------------------------

_LEVEL_NAMES = {
    SchoolLevel.NOO: "НОО",
    SchoolLevel.OOO: "ООО",
    SchoolLevel.SOO: "СОО",
}


@dataclass(frozen=True)
class Scope:
    """The classes one digest covers, in school order."""

    whole_school: bool
    levels: frozenset[SchoolLevel]
    classes: tuple[SchoolClass, ...]

    @property
    def own_classes(self) -> list[SchoolClass]:
        """Classes in the scope by a class-teacher role rather than a whole level."""
        if self.whole_school:
            return []
        return [c for c in self.classes if c.level not in self.levels]

    @property
    def key(self) -> str:
        """«school», «level:ooo», «class:12», «level:noo+soo;class:12»: stored in DigestDelivery.scope."""
        if self.whole_school:
            return "school"
        parts = []
        if self.levels:
            parts.append("level:" + "+".join(level.value for level in SchoolLevel if level in self.levels))
        if own := self.own_classes:
            parts.append("class:" + "+".join(str(c.id) for c in own))
        return ";".join(parts)[:_SCOPE_KEY_LENGTH]

    @property
    def slug(self) -> str:
        """For the PDF's file name, which the recipient sees: «school», «ooo», «5А», «noo_10Б»."""
        if self.whole_school:
            return "school"
        levels = [level.value for level in SchoolLevel if level in self.levels]
        return "_".join([*levels, *(c.label for c in self.own_classes)])

    def title(self) -> str:
        """«Вся школа», «Уровень ООО», «Класс 5А», «Уровень НОО, класс 10Б» in the current language."""
        if self.whole_school:
            return _("Вся школа")
        parts = []
        if self.levels:
            names = ", ".join(_LEVEL_NAMES[level] for level in SchoolLevel if level in self.levels)
            parts.append(_("Уровень {levels}").format(levels=names))
        own = [c.label for c in self.own_classes]
        if len(own) == 1:
            parts.append(_("класс {label}").format(label=own[0]))
        elif own:
            parts.append(_("классы {labels}").format(labels=", ".join(own)))
        text = ", ".join(parts)
        return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Recipient:
    account: Account
    scope: Scope


async def recipients(session: AsyncSession, as_of: datetime) -> list[Recipient]:
    """Everyone with a digest role held since `as_of` at the latest, in account order, with their scope.

    A role given after `as_of` (the moment the digest fell due) doesn't bring that week's digest: a
    catch-up after downtime goes to those who should have had it then, not to newcomers.
    """
    accounts = (
        await session.exec(
            select(Account)
            .join(StaffAssignment, col(StaffAssignment.account_id) == col(Account.id))
            .where(
                col(StaffAssignment.active).is_(True),
                col(StaffAssignment.role).in_(DIGEST_ROLES),
                col(StaffAssignment.created_at) <= as_of,
            )
            .distinct()
            .order_by(col(Account.id))
        )
    ).all()
    found = []
    for account in accounts:
        principal = await load_principal(session, account)
        classes = await classes_in_scope(session, principal)
        if classes:
            scope = Scope(principal.is_admin, principal.deputy_levels, tuple(classes))
            found.append(Recipient(account, scope))
    return found


# -- content ---------------------------------------------------------------------------------------------


class PersonRole(StrEnum):
    GUARDIAN = "guardian"
    STUDENT = "student"
    STAFF = "staff"

    def label(self) -> str:
        return {
            PersonRole.GUARDIAN: _("родитель"),
            PersonRole.STUDENT: _("ученик"),
            PersonRole.STAFF: _("работник школы"),
        }[self]


def enum_label(enum: type[StrEnum], value: str) -> str:
    """A vocabulary value's label, or the value itself if the vocabulary no longer has it."""
    try:
        return label(enum(value))
    except (ValueError, KeyError):
        return value


@dataclass(frozen=True)
class PendingItem:
    number: str
    student_name: str
    class_label: str
    submitted_at: datetime
    age_days: int


@dataclass
class ClassRow:
    label: str
    students: int
    with_guardian: int
    new: int = 0
    approved: int = 0
    rejected: int = 0
    pending: int = 0
    oldest: PendingItem | None = None

    @property
    def coverage_percent(self) -> int:
        return round(100 * self.with_guardian / self.students) if self.students else 0


@dataclass(frozen=True)
class NotableItem:
    number: str
    student_name: str
    class_label: str
    title: str
    level: str
    result: str

    @property
    def level_label(self) -> str:
        return enum_label(AchievementLevel, self.level)

    @property
    def result_label(self) -> str:
        return enum_label(AchievementResult, self.result)


@dataclass(frozen=True)
class RewardItem:
    student_name: str
    class_label: str
    kind: str
    reason: str
    granted_on: date


@dataclass(frozen=True)
class RequestItem:
    number: str
    registered_at: datetime
    student_name: str
    class_label: str


@dataclass(frozen=True)
class UnreachableItem:
    name: str
    role: PersonRole
    class_label: str
    student_name: str = ""  # whose guardian


@dataclass
class Digest:
    period: Period
    scope: Scope
    generated_at: datetime  # aware, in the school's zone
    classes: list[ClassRow]
    category_levels: dict[tuple[str, str], int] = field(default_factory=dict)  # approved in the week
    notable: list[NotableItem] = field(default_factory=list)
    rewards: list[RewardItem] = field(default_factory=list)
    requests: list[RequestItem] = field(default_factory=list)
    unreachable: list[UnreachableItem] = field(default_factory=list)
    student_ids: set[int] = field(default_factory=set)  # children named in it: for the audit

    @property
    def new(self) -> int:
        return sum(row.new for row in self.classes)

    @property
    def approved(self) -> int:
        return sum(row.approved for row in self.classes)

    @property
    def rejected(self) -> int:
        return sum(row.rejected for row in self.classes)

    @property
    def pending(self) -> int:
        return sum(row.pending for row in self.classes)

    @property
    def students(self) -> int:
        return sum(row.students for row in self.classes)

    @property
    def with_guardian(self) -> int:
        return sum(row.with_guardian for row in self.classes)

    @property
    def oldest(self) -> PendingItem | None:
        items = [row.oldest for row in self.classes if row.oldest is not None]
        return min(items, key=lambda item: item.submitted_at) if items else None

    def category_level_rows(self) -> list[tuple[str, list[int]]]:
        """Approved in the week: (category label, counts per level lowest first) for each category that
        has any, in the regulation's order; categories no longer in the vocabulary come last."""
        categories = [c.value for c in Category]
        categories += sorted({c for c, _level in self.category_levels} - set(categories))
        return [
            (
                enum_label(Category, category),
                [self.category_levels.get((category, lv.value), 0) for lv in AchievementLevel],
            )
            for category in categories
            if any(c == category for c, _level in self.category_levels)
        ]


def _in_period(column: object, period: Period, tz: tzinfo) -> list[object]:
    return [column >= period.start(tz), column < period.end(tz)]  # type: ignore[operator]


async def build_digest(
    session: AsyncSession, scope: Scope, period: Period, now: datetime, tz: tzinfo
) -> Digest:
    """The digest of `scope` for `period`; pending ages are counted at `now` (aware)."""
    rows = {c.id: ClassRow(c.label, 0, 0) for c in scope.classes}
    for school_class, coverage in zip(
        scope.classes, await classes_coverage(session, list(scope.classes)), strict=True
    ):
        rows[school_class.id].students = len(coverage.students)
        rows[school_class.id].with_guardian = coverage.with_guardian
    label_of = {c.id: c.label for c in scope.classes}
    class_ids = list(rows)
    digest = Digest(period, scope, now.astimezone(tz), list(rows.values()))
    in_scope = col(Student.class_id).in_(class_ids)

    new = await session.exec(
        select(Student.class_id, func.count())
        .join(Achievement, col(Achievement.student_id) == col(Student.id))
        .where(in_scope, *_in_period(col(Achievement.created_at), period, tz))
        .group_by(col(Student.class_id))
    )
    for class_id, count in new.all():
        rows[class_id].new = int(count)

    decided = await session.exec(
        select(Achievement, Student)
        .join(Student, col(Student.id) == col(Achievement.student_id))
        .where(
            in_scope,
            col(Achievement.status).in_([AchievementStatus.APPROVED, AchievementStatus.REJECTED]),
            *_in_period(col(Achievement.decided_at), period, tz),
        )
        .order_by(col(Achievement.decided_at), col(Achievement.id))
    )
    for achievement, student in decided.all():
        row = rows[student.class_id]
        if achievement.status == AchievementStatus.REJECTED:
            row.rejected += 1
            continue
        row.approved += 1
        cell = (achievement.category, achievement.level)
        digest.category_levels[cell] = digest.category_levels.get(cell, 0) + 1
        if is_notable(achievement.level, achievement.result):
            digest.notable.append(
                NotableItem(
                    achievement.number,
                    student.full_name,
                    row.label,
                    achievement.title,
                    achievement.level,
                    achievement.result,
                )
            )
            digest.student_ids.add(student.id)

    pending = await session.exec(
        select(Achievement, Student)
        .join(Student, col(Student.id) == col(Achievement.student_id))
        .where(
            in_scope,
            Achievement.status == AchievementStatus.PENDING,
            col(Achievement.created_at) < period.end(tz),
        )
        .order_by(col(Achievement.created_at), col(Achievement.id))
    )
    for achievement, student in pending.all():
        row = rows[student.class_id]
        row.pending += 1
        if row.oldest is None:
            age = max((now - achievement.created_at) // timedelta(days=1), 0)
            row.oldest = PendingItem(
                achievement.number, student.short_name, row.label, achievement.created_at, age
            )
            digest.student_ids.add(student.id)

    rewards = await session.exec(
        select(Reward, Student)
        .join(Student, col(Student.id) == col(Reward.student_id))
        .where(in_scope, *_in_period(col(Reward.created_at), period, tz))
        .order_by(col(Reward.granted_on), col(Reward.id))
    )
    for reward, student in rewards.all():
        digest.rewards.append(
            RewardItem(
                student.short_name, label_of[student.class_id], reward.kind, reward.reason, reward.granted_on
            )
        )
        digest.student_ids.add(student.id)

    requests = await session.exec(
        select(ResultsRequest, Student)
        .join(Student, col(Student.id) == col(ResultsRequest.student_id))
        .where(in_scope, *_in_period(col(ResultsRequest.created_at), period, tz))
        .order_by(col(ResultsRequest.created_at), col(ResultsRequest.id))
    )
    for request, student in requests.all():
        digest.requests.append(
            RequestItem(request.number, request.created_at, student.short_name, label_of[student.class_id])
        )
        digest.student_ids.add(student.id)

    digest.unreachable = await _unreachable(session, scope, class_ids, label_of)
    digest.student_ids.update(await _unreachable_student_ids(session, class_ids))
    return digest


async def _unreachable(
    session: AsyncSession, scope: Scope, class_ids: list[int], label_of: dict[int | None, str]
) -> list[UnreachableItem]:
    """Guardians, students and staff of the scope whom Telegram refused (blocked, never started)."""
    unreachable = col(Account.reachable).is_(False)
    active_student = Student.status == StudentStatus.ACTIVE
    items: list[UnreachableItem] = []
    guardians = await session.exec(
        select(Account, Student)
        .join(GuardianLink, col(GuardianLink.account_id) == col(Account.id))
        .join(Student, col(Student.id) == col(GuardianLink.student_id))
        .where(
            unreachable,
            active_student,
            GuardianLink.status == GuardianLinkStatus.CONFIRMED,
            col(Student.class_id).in_(class_ids),
        )
        .order_by(col(Student.class_id), col(Student.surname), col(Student.name), col(Account.id))
    )
    for account, student in guardians.all():
        items.append(
            UnreachableItem(account.name, PersonRole.GUARDIAN, label_of[student.class_id], student.short_name)
        )
    students = await session.exec(
        select(Student)
        .join(Account, col(Account.id) == col(Student.account_id))
        .where(unreachable, active_student, col(Student.class_id).in_(class_ids))
        .order_by(col(Student.class_id), col(Student.surname), col(Student.name))
    )
    for student in students.all():
        items.append(UnreachableItem(student.short_name, PersonRole.STUDENT, label_of[student.class_id]))

    staff_query = (
        select(Account, StaffAssignment)
        .join(StaffAssignment, col(StaffAssignment.account_id) == col(Account.id))
        .where(unreachable, col(StaffAssignment.active).is_(True))
        .order_by(col(Account.id), col(StaffAssignment.id))
    )
    if not scope.whole_school:
        staff_query = staff_query.where(
            or_(
                col(StaffAssignment.class_id).in_(class_ids),
                (StaffAssignment.role == StaffRole.DEPUTY)
                & col(StaffAssignment.level).in_([level.value for level in scope.levels]),
            )
        )
    seen: set[int | None] = set()
    for account, assignment in (await session.exec(staff_query)).all():
        if account.id not in seen:
            seen.add(account.id)
            items.append(
                UnreachableItem(account.name, PersonRole.STAFF, label_of.get(assignment.class_id, ""))
            )
    return items


async def _unreachable_student_ids(session: AsyncSession, class_ids: list[int]) -> Iterable[int]:
    """Children named in the unreachable list (as themselves, or as whose guardian): for the audit."""
    rows = await session.exec(
        select(Student.id)
        .outerjoin(GuardianLink, col(GuardianLink.student_id) == col(Student.id))
        .join(
            Account,
            or_(
                col(Account.id) == col(Student.account_id),
                (col(Account.id) == col(GuardianLink.account_id))
                & (GuardianLink.status == GuardianLinkStatus.CONFIRMED),
            ),
        )
        .where(
            col(Account.reachable).is_(False),
            Student.status == StudentStatus.ACTIVE,
            col(Student.class_id).in_(class_ids),
        )
        .distinct()
    )
    return [student_id for student_id in rows.all() if student_id is not None]


# -- texts -----------------------------------------------------------------------------------------------


def achievements_text(count: int) -> str:
    """«1 достижение», «2 достижения», «5 достижений», «21 достижение» in the current language."""
    return ngettext("{count} достижение", "{count} достижения", count).format(count=count)


def digest_text(digest: Digest) -> str:
    """The short message (a document caption: at most 1024 characters) in the current language."""
    lines = [
        _("📊 <b>Сводка за неделю {dates}</b>").format(dates=digest.period.dates_label),
        html.escape(digest.scope.title()),
        "",
        _("Новых: {achievements}; одобрено: {approved}, отклонено: {rejected}.").format(
            achievements=achievements_text(digest.new), approved=digest.approved, rejected=digest.rejected
        ),
    ]
    oldest = digest.oldest
    if oldest is None:
        lines.append(_("Ждут проверки: {count}.").format(count=digest.pending))
    else:
        lines.append(
            _("Ждут проверки: {count}, самое давнее — {age} ({class_label}).").format(
                count=digest.pending,
                age=days_text(oldest.age_days),
                class_label=html.escape(oldest.class_label),
            )
        )
    lines.append(
        _("Значимые результаты: {notable}. Поощрения: {rewards}. Запросы результатов: {requests}.").format(
            notable=len(digest.notable), rewards=len(digest.rewards), requests=len(digest.requests)
        )
    )
    if digest.students:
        lines.append(
            _("Родители подключены у {linked} из {students} учеников ({percent}%).").format(
                linked=digest.with_guardian,
                students=digest.students,
                percent=round(100 * digest.with_guardian / digest.students),
            )
        )
    if digest.unreachable:
        lines.append(_("Бот не может написать: {count}.").format(count=len(digest.unreachable)))
    lines += ["", _("Подробности — в PDF.")]
    return "\n".join(lines)


# -- running ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestRun:
    period: Period
    queued: int  # recipients whose digest was claimed and queued by this run
    skipped: int  # recipients who had this period's digest already
    pdfs: list[Path]  # written by this run


def pdf_path(period: Period, scope: Scope, language: str) -> str:
    """Relative to MEDIA_DIR: «digests/2026-W49/ru/digest-2026-W49-5А.pdf»."""
    return f"{DIGESTS_DIR}/{period.key}/{language}/digest-{period.key}-{scope.slug}.pdf"


def _write_atomically(path: Path, data: bytes) -> None:
    """The outbox may be sending an earlier version of the same file: never show it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(descriptor, "wb") as f:
        f.write(data)
    os.replace(temporary, path)


async def _claim(
    session: AsyncSession, period: Period, recipient: Recipient, pdf: str, now: datetime
) -> bool:
    """The delivery row for (period, recipient), unless it exists already (ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = await session.exec(
        insert(DigestDelivery)
        .values(
            period=period.key,
            account_id=recipient.account.id,
            scope=recipient.scope.key,
            pdf_path=pdf,
            created_at=now,
            sent_at=now,
        )
        .on_conflict_do_nothing(index_elements=["period", "account_id"])
    )
    return result.rowcount == 1


async def run_digest(
    session_factory: SessionFactory,
    settings: Settings,
    period: Period,
    now: datetime,
    *,
    i18n: I18n,
    as_of: datetime | None = None,
    dry_run: bool = False,
    channel: AuditChannel = AuditChannel.SYSTEM,
) -> DigestRun:
    """Build and queue `period`'s digest for every recipient who hasn't had it; commits once.

    `now` (aware) dates the digest and the pending ages; recipients are those holding their role at
    `as_of` (default `now`). Each recipient's texts and PDF are in their language (plural forms come from
    `i18n`'s catalogs, so it is needed outside a handler too: `bot.app.create_i18n(settings)`). A dry run
    writes the PDFs of every recipient's scope and claims, queues and records nothing but the audit
    of the export.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    async with session_factory() as session:
        everyone = await recipients(session, as_of or now)
        delivered: set[int | None] = set()
        if not dry_run:
            delivered = set(
                (
                    await session.exec(
                        select(DigestDelivery.account_id).where(DigestDelivery.period == period.key)
                    )
                ).all()
            )
        due = [recipient for recipient in everyone if recipient.account.id not in delivered]
        prepared = await _prepare(session, settings, period, now, due, i18n)
    # Everything is built before anything is written, so the write transaction is short; and it is a
    # new one (SQLite can't turn a read snapshot that others have written past into a write).
    queued = 0
    async with session_factory() as session:
        if dry_run:  # the files hold children's data: an export
            for digest in {item.digest.scope.key: item.digest for item in prepared}.values():
                await _audit(session, digest, "digest_exported", channel, None)
        else:
            for item in prepared:
                account_id = item.recipient.account.id
                if not await _claim(session, period, item.recipient, item.pdf_path, now):
                    continue  # a concurrent run got there first
                await outbox.enqueue(
                    session,
                    account_id,  # type: ignore[arg-type]
                    NOTIFICATION_KIND,
                    NotificationPayload(text=item.text, document_paths=[item.pdf_path]),
                    dedup_key=f"digest:{period.key}:{account_id}",
                )
                await _audit(session, item.digest, "digest_sent", channel, account_id)
                queued += 1
        await session.commit()
    if queued:
        log.info("digest %s queued for %d recipients", period.key, queued)
    written = sorted({settings.media_dir / item.pdf_path for item in prepared})
    return DigestRun(period, queued, len(everyone) - len(due), written)


@dataclass(frozen=True)
class _Prepared:
    recipient: Recipient
    digest: Digest
    pdf_path: str  # relative to MEDIA_DIR
    text: str


async def _prepare(
    session: AsyncSession,
    settings: Settings,
    period: Period,
    now: datetime,
    due: list[Recipient],
    i18n: I18n,
) -> list[_Prepared]:
    """Each recipient's digest, message and PDF (written), in their language; one PDF per scope and
    language."""
    digests: dict[str, Digest] = {}
    written: set[str] = set()
    prepared = []
    for recipient in due:
        scope = recipient.scope
        if scope.key not in digests:
            digests[scope.key] = await build_digest(session, scope, period, now, settings.tz)
        digest = digests[scope.key]
        language = recipient.account.language
        if language not in i18n.available_locales:
            language = i18n.default_locale
        relative = pdf_path(period, scope, language)
        with in_language(language, i18n):
            if relative not in written:
                # Seconds of CPU for a big school: off the event loop, which keeps answering users.
                pdf = await asyncio.to_thread(build_digest_pdf, settings.school_name, digest)
                _write_atomically(settings.media_dir / relative, pdf)
                written.add(relative)
            prepared.append(_Prepared(recipient, digest, relative, digest_text(digest)))
    return prepared


async def _audit(
    session: AsyncSession, digest: Digest, action: str, channel: AuditChannel, recipient_id: int | None
) -> None:
    """One audit row per child named in the digest: it shows their data to the recipient (or a file)."""
    for student_id in sorted(digest.student_ids):
        await audit.record(
            session,
            action=action,
            channel=channel,
            actor_account_id=recipient_id,
            student_id=student_id,
            object_type="digest",
            object_id=digest.period.key,
        )
