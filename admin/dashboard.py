"""The dashboard's numbers: the review queue by class, this week's activity, onboarding coverage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.coverage import ClassCoverage, classes_coverage
from models import Achievement, ResultsRequest, Reward, SchoolClass, Student
from models.enums import AchievementStatus


@dataclass(frozen=True)
class PendingRow:
    class_label: str
    count: int
    oldest_days: int


@dataclass(frozen=True)
class WeekNumbers:
    submitted: int
    approved: int
    rejected: int
    rewards: int
    requests: int


@dataclass(frozen=True)
class Dashboard:
    today: str
    week_start: str
    pending: list[PendingRow]
    week: WeekNumbers
    coverage: list[ClassCoverage]


async def _count(session: AsyncSession, query: object) -> int:
    return int((await session.exec(query)).one())  # type: ignore[call-overload]


async def dashboard(
    session: AsyncSession, classes: list[SchoolClass], now: datetime, tz: ZoneInfo
) -> Dashboard:
    """Everything about `classes` (the ones the signed-in person may see), as of `now`."""
    class_ids = [c.id for c in classes]
    labels = {c.id: c.label for c in classes}
    pending_rows = (
        await session.exec(
            select(Student.class_id, func.count(), func.min(Achievement.created_at))
            .join(Student, col(Student.id) == col(Achievement.student_id))
            .where(Achievement.status == AchievementStatus.PENDING, col(Student.class_id).in_(class_ids))
            .group_by(Student.class_id)
        )
    ).all()
    order = {c.id: i for i, c in enumerate(classes)}
    pending = [
        PendingRow(labels[class_id], count, _days_since(oldest, now))
        for class_id, count, oldest in sorted(pending_rows, key=lambda r: order[r[0]])
    ]
    local_today = now.astimezone(tz).date()
    week_start_day = local_today - timedelta(days=local_today.weekday())
    week_start = datetime.combine(week_start_day, time(), tz)
    in_scope = col(Student.class_id).in_(class_ids)

    def achievements(*conditions: object) -> object:
        return (
            select(func.count())
            .select_from(Achievement)
            .join(Student, col(Student.id) == col(Achievement.student_id))
            .where(in_scope, *conditions)
        )

    week = WeekNumbers(
        submitted=await _count(session, achievements(Achievement.created_at >= week_start)),
        approved=await _count(
            session,
            achievements(
                Achievement.status == AchievementStatus.APPROVED, col(Achievement.decided_at) >= week_start
            ),
        ),
        rejected=await _count(
            session,
            achievements(
                Achievement.status == AchievementStatus.REJECTED, col(Achievement.decided_at) >= week_start
            ),
        ),
        rewards=await _count(
            session,
            select(func.count())
            .select_from(Reward)
            .join(Student, col(Student.id) == col(Reward.student_id))
            .where(in_scope, Reward.created_at >= week_start),
        ),
        requests=await _count(
            session,
            select(func.count())
            .select_from(ResultsRequest)
            .join(Student, col(Student.id) == col(ResultsRequest.student_id))
            .where(in_scope, ResultsRequest.created_at >= week_start),
        ),
    )
    return Dashboard(
        today=_format(local_today),
        week_start=_format(week_start_day),
        pending=pending,
        week=week,
        coverage=await classes_coverage(session, classes),
    )


def _days_since(moment: datetime, now: datetime) -> int:
    # SQLite's min() gives the stored text back without our column type.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return (now - moment).days


def _format(day: date) -> str:
    return day.strftime("%d.%m.%Y")
