"""Registers and exports for the administration (regulation 4.3.1, 6.4): the rows, scoped and audited.

The same functions serve the CLI and the web admin. The caller passes who is exporting and the school
levels asked for (`access.levels_in_scope`: None is the whole school). On the web and in the bot the
access policy is asked here, at the moment of exporting, and a level outside the principal's scope is
refused; the command line is the server's operator, who holds the database file anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _
from bot.reports.spreadsheet import Column, ColumnType, Sheet, Value
from bot.services import audit
from bot.services.access import may_export_levels
from bot.services.principal import Principal
from bot.services.results_requests import period_label
from bot.services.taxonomy import (
    AchievementLevel,
    AchievementResult,
    Category,
    is_notable,
    label_or_value,
    reward_kind_label,
)
from models import Account, Achievement, EvidenceFile, ResultsRequest, Reward, SchoolClass, Student
from models.enums import AchievementStatus, AuditChannel, SchoolLevel, Source


class ExportKind(StrEnum):
    GIFTED = "gifted"  # the gifted-students bank (regulation 4.3.1)
    ACHIEVEMENTS = "achievements"
    REQUESTS = "requests"  # the results requests register (regulation 6.4)
    REWARDS = "rewards"


class ExportDenied(PermissionError):
    """The principal may not export, or not the levels asked for. Already written to the audit log."""


@dataclass(frozen=True)
class Period:
    """Calendar days in the school's zone, both ends included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError("the period ends before it starts")

    def utc_bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in UTC for timestamp columns."""
        start = datetime.combine(self.first, time(), tz).astimezone(UTC)
        end = datetime.combine(self.last + timedelta(days=1), time(), tz).astimezone(UTC)
        return start, end


@dataclass(frozen=True)
class _Pupil:
    name: str
    class_label: str
    grade: int


async def export_sheet(
    session: AsyncSession,
    kind: ExportKind,
    period: Period,
    *,
    principal: Principal,
    levels: frozenset[SchoolLevel] | None,
    channel: AuditChannel,
    tz: ZoneInfo,
) -> Sheet:
    """The rows of one export for `levels` (None: the whole school), with an audit row; committed here."""
    details = f"kind={kind}; from={period.first.isoformat()}; to={period.last.isoformat()}; levels=" + (
        "all" if levels is None else ",".join(sorted(levels))
    )
    if channel != AuditChannel.CLI and not may_export_levels(principal, levels):
        await audit.record(
            session, action="export", channel=channel, actor_account_id=principal.account_id,
            object_type="export", object_id=kind, allowed=False, details=details,
        )  # fmt: skip
        await session.commit()
        raise ExportDenied(kind)
    pupils = await _pupils(session, levels)
    builder = {
        ExportKind.GIFTED: _gifted,
        ExportKind.ACHIEVEMENTS: _achievements,
        ExportKind.REQUESTS: _requests,
        ExportKind.REWARDS: _rewards,
    }[kind]
    sheet, exported = await builder(session, pupils, period, tz)
    await audit.record(
        session, action="export", channel=channel, actor_account_id=principal.account_id,
        object_type="export", object_id=kind, details=f"{details}; rows={len(sheet.rows)}",
    )  # fmt: skip
    for student_id in sorted(exported):  # one row per child in the file: their access register shows it
        await audit.record(
            session, action="export", channel=channel, actor_account_id=principal.account_id,
            student_id=student_id, object_type="export", object_id=kind, details=details,
        )  # fmt: skip
    await session.commit()
    return sheet


async def _pupils(session: AsyncSession, levels: frozenset[SchoolLevel] | None) -> dict[int, _Pupil]:
    """Students of the levels by id, whatever their status: a register keeps those who have left."""
    classes = {c.id: c for c in (await session.exec(select(SchoolClass))).all()}
    students = (await session.exec(select(Student))).all()
    return {
        student.id: _Pupil(
            student.full_name, classes[student.class_id].label, classes[student.class_id].grade
        )
        for student in students
        if student.id is not None and (levels is None or classes[student.class_id].level in levels)
    }


def _school_order(pupils: dict[int, _Pupil], student_id: int) -> tuple[int, str, str]:
    """Class by grade then letter, then name: how the school lists its students."""
    pupil = pupils[student_id]
    return pupil.grade, pupil.class_label, pupil.name


async def _evidence_counts(session: AsyncSession, achievement_ids: Sequence[int]) -> dict[int, int]:
    if not achievement_ids:
        return {}
    query = (
        select(EvidenceFile.achievement_id, func.count())
        .where(col(EvidenceFile.achievement_id).in_(achievement_ids))
        .group_by(col(EvidenceFile.achievement_id))
    )
    return {achievement_id: count for achievement_id, count in (await session.exec(query)).all()}


async def _achievements_in(
    session: AsyncSession, pupils: dict[int, _Pupil], period: Period, *, approved_only: bool
) -> list[Achievement]:
    query = select(Achievement).where(
        col(Achievement.event_date) >= period.first, col(Achievement.event_date) <= period.last
    )
    if approved_only:
        query = query.where(Achievement.status == AchievementStatus.APPROVED)
    rows = [a for a in (await session.exec(query)).all() if a.student_id in pupils]
    return sorted(rows, key=lambda a: (*_school_order(pupils, a.student_id), a.event_date, a.number))


async def _gifted(
    session: AsyncSession, pupils: dict[int, _Pupil], period: Period, tz: ZoneInfo
) -> tuple[Sheet, set[int]]:
    """Regional-and-higher wins and prizes, approved, one row per result, students in school order."""
    achievements = [
        a
        for a in await _achievements_in(session, pupils, period, approved_only=True)
        if is_notable(a.level, a.result)
    ]
    evidence = await _evidence_counts(session, [a.id for a in achievements if a.id is not None])
    columns = [
        Column(_("Ученик"), 32),
        Column(_("Класс"), 8),
        Column(_("Категория"), 30),
        Column(_("Уровень"), 16),
        Column(_("Результат"), 14),
        Column(_("Мероприятие"), 40),
        Column(_("Дата"), 12, ColumnType.DATE),
        Column(_("Где получено"), 22),
        Column(_("Файлов подтверждения"), 14, ColumnType.NUMBER),
        Column(_("Номер достижения"), 14),
    ]
    rows = [
        [
            pupils[a.student_id].name,
            pupils[a.student_id].class_label,
            *_labels(a),
            a.title,
            a.event_date,
            label_or_value(Source, a.source),
            evidence.get(a.id or 0, 0),
            a.number,
        ]
        for a in achievements
    ]
    return Sheet(_("Банк одарённых детей"), columns, rows), {a.student_id for a in achievements}


async def _achievements(
    session: AsyncSession, pupils: dict[int, _Pupil], period: Period, tz: ZoneInfo
) -> tuple[Sheet, set[int]]:
    """Every achievement whose event falls in the period, in any status."""
    achievements = await _achievements_in(session, pupils, period, approved_only=False)
    evidence = await _evidence_counts(session, [a.id for a in achievements if a.id is not None])
    columns = [
        Column(_("Номер"), 12),
        Column(_("Подано"), 17, ColumnType.DATETIME),
        Column(_("Ученик"), 32),
        Column(_("Класс"), 8),
        Column(_("Категория"), 30),
        Column(_("Уровень"), 16),
        Column(_("Результат"), 14),
        Column(_("Мероприятие"), 40),
        Column(_("Дата"), 12, ColumnType.DATE),
        Column(_("Где получено"), 22),
        Column(_("Статус"), 14),
        Column(_("Решение принято"), 17, ColumnType.DATETIME),
        Column(_("Причина отклонения"), 30),
        Column(_("Файлов подтверждения"), 14, ColumnType.NUMBER),
    ]
    rows = [
        [
            a.number,
            _local(a.created_at, tz),
            pupils[a.student_id].name,
            pupils[a.student_id].class_label,
            *_labels(a),
            a.title,
            a.event_date,
            label_or_value(Source, a.source),
            label_or_value(AchievementStatus, a.status),
            _local(a.decided_at, tz),
            a.reject_reason,
            evidence.get(a.id or 0, 0),
        ]
        for a in achievements
    ]
    return Sheet(_("Достижения"), columns, rows), {a.student_id for a in achievements}


async def _requests(
    session: AsyncSession, pupils: dict[int, _Pupil], period: Period, tz: ZoneInfo
) -> tuple[Sheet, set[int]]:
    """The results requests register (regulation 6.4), in the order they were registered."""
    start, end = period.utc_bounds(tz)
    query = (
        select(ResultsRequest, Account)
        .outerjoin(Account, col(Account.id) == col(ResultsRequest.requester_account_id))
        .where(col(ResultsRequest.created_at) >= start, col(ResultsRequest.created_at) < end)
        .order_by(col(ResultsRequest.created_at), col(ResultsRequest.id))
    )
    found = [(r, a) for r, a in (await session.exec(query)).all() if r.student_id in pupils]
    columns = [
        Column(_("Номер"), 12),
        Column(_("Дата и время"), 17, ColumnType.DATETIME),
        Column(_("Заявитель"), 28),
        Column(_("Ученик"), 32),
        Column(_("Класс"), 8),
        Column(_("Класс в выписке"), 10),
        Column(_("Период выписки"), 22),
        Column(_("Достижений"), 12, ColumnType.NUMBER),
        Column(_("Поощрений"), 12, ColumnType.NUMBER),
        Column(_("Код проверки"), 30),
    ]
    rows: list[list[Value]] = [
        [
            request.number,
            _local(request.created_at, tz),
            requester.name if requester else "—",
            pupils[request.student_id].name,
            pupils[request.student_id].class_label,
            request.class_label,  # None for requests registered before the class was kept
            _request_scope(request, tz),
            request.achievements_count,
            request.rewards_count,
            request.verification_code,
        ]
        for request, requester in found
    ]
    return Sheet(_("Журнал запросов"), columns, rows), {request.student_id for request, _requester in found}


async def _rewards(
    session: AsyncSession, pupils: dict[int, _Pupil], period: Period, tz: ZoneInfo
) -> tuple[Sheet, set[int]]:
    """Rewards granted in the period, by date."""
    query = (
        select(Reward, Account, Achievement)
        .outerjoin(Account, col(Account.id) == col(Reward.granted_by_account_id))
        .outerjoin(Achievement, col(Achievement.id) == col(Reward.achievement_id))
        .where(col(Reward.granted_on) >= period.first, col(Reward.granted_on) <= period.last)
        .order_by(col(Reward.granted_on), col(Reward.id))
    )
    found = [row for row in (await session.exec(query)).all() if row[0].student_id in pupils]
    columns = [
        Column(_("Дата"), 12, ColumnType.DATE),
        Column(_("Ученик"), 32),
        Column(_("Класс"), 8),
        Column(_("Вид поощрения"), 20),
        Column(_("Основание"), 40),
        Column(_("Номер приказа"), 14),
        Column(_("Достижение"), 14),
        Column(_("Кто поощрил"), 28),
    ]
    rows: list[list[Value]] = [
        [
            reward.granted_on,
            pupils[reward.student_id].name,
            pupils[reward.student_id].class_label,
            reward_kind_label(reward.kind),
            reward.reason,
            reward.order_number,
            achievement.number if achievement else None,
            granter.name if granter else None,
        ]
        for reward, granter, achievement in found
    ]
    return Sheet(_("Поощрения"), columns, rows), {row[0].student_id for row in found}


def _labels(achievement: Achievement) -> tuple[str, str, str]:
    return (
        label_or_value(Category, achievement.category),
        label_or_value(AchievementLevel, achievement.level),
        label_or_value(AchievementResult, achievement.result),
    )


def _request_scope(request: ResultsRequest, tz: ZoneInfo) -> str:
    """«2025/26 учебный год» or «все годы», as the extract said."""
    try:
        return period_label(request.scope, request.created_at, tz)
    except ValueError:
        return request.scope


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A stored UTC moment as the school's wall-clock time, without a zone (Excel has none)."""
    return None if moment is None else moment.astimezone(tz).replace(tzinfo=None, microsecond=0)
