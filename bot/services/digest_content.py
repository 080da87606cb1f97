"""The weekly digest's content: what one scope's classes did in one week, as counts, lists and texts.

Everything is restricted to the scope's classes (a child's current class): submissions new in the week,
approved and rejected in it, still pending now (submitted before the week's end, of students still at
school: what /pending lists) with the oldest per class; approved results by category and level; notable
results (regional and higher wins, `taxonomy.is_notable`) with the child's name; rewards and results
requests recorded in the week; guardian coverage per class; people in the scope the bot can't reach.
Reads only.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiogram.utils.i18n import ngettext
from sqlalchemy import or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _
from bot.services.coverage import ClassCoverage, classes_coverage
from bot.services.reminders import days_text
from bot.services.taxonomy import (
    AchievementLevel,
    AchievementResult,
    Category,
    is_notable,
    label,
    reward_kind_label,
)
from models import (
    Account,
    Achievement,
    GuardianLink,
    ResultsRequest,
    Reward,
    SchoolClass,
    StaffAssignment,
    Student,
)
from models.enums import AchievementStatus, GuardianLinkStatus, StaffRole, StudentStatus

if TYPE_CHECKING:
    from bot.services.digest import Period, Scope


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
    kind: str  # as stored: shown in the reader's language by `kind_label`
    reason: str
    granted_on: date

    @property
    def kind_label(self) -> str:
        return reward_kind_label(self.kind)


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


@dataclass
class WeekRecords:
    """What a week's digests show about a set of classes, loaded once with a query per kind; each
    scope's digest is then cut from it (`digest_of`), so the school, its levels and its classes don't
    each read the same rows again."""

    coverage: dict[int, ClassCoverage]  # class id -> its students and their guardians
    new: dict[int, int]  # class id -> submissions new in the week
    decided: list[tuple[Achievement, Student]]  # approved or rejected in the week, in decision order
    # Still pending, submitted before the week's end, of students still at school (as /pending): oldest first.
    pending: list[tuple[Achievement, Student]]
    rewards: list[tuple[Reward, Student]]
    requests: list[tuple[ResultsRequest, Student]]
    unreachable_guardians: list[tuple[Account, Student]]
    unreachable_students: list[Student]
    unreachable_staff: list[tuple[Account, StaffAssignment]]  # active assignments, by account then id
    unreachable_named: list[tuple[int, int]]  # (student id, class id) of children in the unreachable list


async def load_week(
    session: AsyncSession, classes: Iterable[SchoolClass], period: Period, tz: tzinfo
) -> WeekRecords:
    """The records of `classes` (a child's current class) for `period`. Reads only."""
    classes = list({c.id: c for c in classes}.values())
    class_ids = [c.id for c in classes]
    in_classes = col(Student.class_id).in_(class_ids)
    coverage = dict(zip(class_ids, await classes_coverage(session, classes), strict=True))
    new = await session.exec(
        select(Student.class_id, func.count())
        .join(Achievement, col(Achievement.student_id) == col(Student.id))
        .where(in_classes, *_in_period(col(Achievement.created_at), period, tz))
        .group_by(col(Student.class_id))
    )
    decided = await session.exec(
        select(Achievement, Student)
        .join(Student, col(Student.id) == col(Achievement.student_id))
        .where(
            in_classes,
            col(Achievement.status).in_([AchievementStatus.APPROVED, AchievementStatus.REJECTED]),
            *_in_period(col(Achievement.decided_at), period, tz),
        )
        .order_by(col(Achievement.decided_at), col(Achievement.id))
    )
    pending = await session.exec(
        select(Achievement, Student)
        .join(Student, col(Student.id) == col(Achievement.student_id))
        .where(
            in_classes,
            Achievement.status == AchievementStatus.PENDING,
            col(Achievement.created_at) < period.end(tz),
            # A student who left is nobody's to review (access.may_review): not waiting, as in /pending.
            Student.status == StudentStatus.ACTIVE,
        )
        .order_by(col(Achievement.created_at), col(Achievement.id))
    )
    rewards = await session.exec(
        select(Reward, Student)
        .join(Student, col(Student.id) == col(Reward.student_id))
        .where(in_classes, *_in_period(col(Reward.created_at), period, tz))
        .order_by(col(Reward.granted_on), col(Reward.id))
    )
    requests = await session.exec(
        select(ResultsRequest, Student)
        .join(Student, col(Student.id) == col(ResultsRequest.student_id))
        .where(in_classes, *_in_period(col(ResultsRequest.created_at), period, tz))
        .order_by(col(ResultsRequest.created_at), col(ResultsRequest.id))
    )
    return WeekRecords(
        coverage=coverage,
        new={class_id: int(count) for class_id, count in new.all()},
        decided=list(decided.all()),
        pending=list(pending.all()),
        rewards=list(rewards.all()),
        requests=list(requests.all()),
        **await _unreachable(session, class_ids),
    )


def digest_of(records: WeekRecords, scope: Scope, period: Period, now: datetime, tz: tzinfo) -> Digest:
    """The digest of `scope` (whose classes `records` hold); pending ages are counted at `now` (aware)."""
    rows = {c.id: ClassRow(c.label, 0, 0) for c in scope.classes}
    for class_id, row in rows.items():
        coverage = records.coverage[class_id]  # type: ignore[index]
        row.students = len(coverage.students)
        row.with_guardian = coverage.with_guardian
        row.new = records.new.get(class_id, 0)  # type: ignore[arg-type]
    digest = Digest(period, scope, now.astimezone(tz), list(rows.values()))

    for achievement, student in records.decided:
        if (row := rows.get(student.class_id)) is None:
            continue
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
            digest.student_ids.add(student.id)  # type: ignore[arg-type]

    for achievement, student in records.pending:
        if (row := rows.get(student.class_id)) is None:
            continue
        row.pending += 1
        if row.oldest is None:
            age = max((now - achievement.created_at) // timedelta(days=1), 0)
            row.oldest = PendingItem(
                achievement.number, student.short_name, row.label, achievement.created_at, age
            )
            digest.student_ids.add(student.id)  # type: ignore[arg-type]

    for reward, student in records.rewards:
        if (row := rows.get(student.class_id)) is not None:
            digest.rewards.append(
                RewardItem(student.short_name, row.label, reward.kind, reward.reason, reward.granted_on)
            )
            digest.student_ids.add(student.id)  # type: ignore[arg-type]

    for request, student in records.requests:
        if (row := rows.get(student.class_id)) is not None:
            digest.requests.append(
                RequestItem(request.number, request.created_at, student.short_name, row.label)
            )
            digest.student_ids.add(student.id)  # type: ignore[arg-type]

    digest.unreachable = _unreachable_in(records, scope, rows)
    digest.student_ids.update(
        student_id for student_id, class_id in records.unreachable_named if class_id in rows
    )
    return digest


async def _unreachable(session: AsyncSession, class_ids: list[int | None]) -> dict[str, list[Any]]:
    """Guardians, students and staff whom Telegram refused (blocked, never started): the guardians and
    students of `class_ids`, every active staff assignment (its scope decides which are shown)."""
    unreachable = col(Account.reachable).is_(False)
    active_student = Student.status == StudentStatus.ACTIVE
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
    students = await session.exec(
        select(Student)
        .join(Account, col(Account.id) == col(Student.account_id))
        .where(unreachable, active_student, col(Student.class_id).in_(class_ids))
        .order_by(col(Student.class_id), col(Student.surname), col(Student.name))
    )
    staff = await session.exec(
        select(Account, StaffAssignment)
        .join(StaffAssignment, col(StaffAssignment.account_id) == col(Account.id))
        .where(unreachable, col(StaffAssignment.active).is_(True))
        .order_by(col(Account.id), col(StaffAssignment.id))
    )
    # Children named in that list (as themselves, or as whose guardian): for the audit.
    named = await session.exec(
        select(Student.id, Student.class_id)
        .outerjoin(GuardianLink, col(GuardianLink.student_id) == col(Student.id))
        .join(
            Account,
            or_(
                col(Account.id) == col(Student.account_id),
                (col(Account.id) == col(GuardianLink.account_id))
                & (GuardianLink.status == GuardianLinkStatus.CONFIRMED),
            ),
        )
        .where(unreachable, active_student, col(Student.class_id).in_(class_ids))
        .distinct()
    )
    return {
        "unreachable_guardians": list(guardians.all()),
        "unreachable_students": list(students.all()),
        "unreachable_staff": list(staff.all()),
        "unreachable_named": [(student_id, class_id) for student_id, class_id in named.all() if student_id],
    }


def _unreachable_in(
    records: WeekRecords, scope: Scope, rows: dict[int | None, ClassRow]
) -> list[UnreachableItem]:
    """The unreachable people of one scope: its classes' guardians and students, and its staff (the class
    teachers of its classes and the deputies of its levels; everyone for the whole school)."""
    items = [
        UnreachableItem(account.name, PersonRole.GUARDIAN, rows[student.class_id].label, student.short_name)
        for account, student in records.unreachable_guardians
        if student.class_id in rows
    ]
    items += [
        UnreachableItem(student.short_name, PersonRole.STUDENT, rows[student.class_id].label)
        for student in records.unreachable_students
        if student.class_id in rows
    ]
    levels = {level.value for level in scope.levels}
    seen: set[int | None] = set()
    for account, assignment in records.unreachable_staff:
        in_scope = (
            scope.whole_school
            or assignment.class_id in rows
            or (assignment.role == StaffRole.DEPUTY and assignment.level in levels)
        )
        if in_scope and account.id not in seen:
            seen.add(account.id)
            row = rows.get(assignment.class_id)
            items.append(UnreachableItem(account.name, PersonRole.STAFF, row.label if row else ""))
    return items


# -- texts -----------------------------------------------------------------------------------------------


def achievements_text(count: int) -> str:
    """«1 достижение», «2 достижения», «5 достижений», «21 достижение» in the current language."""
    return ngettext("{count} достижение", "{count} достижения", count).format(count=count)


def coverage_text(linked: int, students: int) -> str:
    """«Родители подключены у 2 из 21 ученика (10%).»: after «из» one, twenty-one… take «ученика»."""
    return ngettext(
        "Родители подключены у {linked} из {students} ученика ({percent}%).",
        "Родители подключены у {linked} из {students} учеников ({percent}%).",
        students,
    ).format(linked=linked, students=students, percent=round(100 * linked / students) if students else 0)


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
        lines.append(coverage_text(digest.with_guardian, digest.students))
    if digest.unreachable:
        lines.append(_("Бот не может написать: {count}.").format(count=len(digest.unreachable)))
    lines += ["", _("Подробности — в PDF.")]
    return "\n".join(lines)
