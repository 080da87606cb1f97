"""A student's portfolio: approved achievements by academic year and category, and rewards.

Reads only; who may see a portfolio is decided by the access policy before these are called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.taxonomy import (
    AchievementLevel,
    AchievementResult,
    Category,
    label_or_value,
    reward_kind_label,
)
from models import Achievement, EvidenceFile, Reward
from models.enums import AchievementStatus, Source

T = TypeVar("T")

PER_PAGE = 8
# The academic year starts on 1 September (regulation: учебный год).
_YEAR_START_MONTH = 9


def academic_year(d: date) -> int:
    """The academic year `d` falls in, as its starting calendar year: 31.08.2026 → 2025, 01.09.2026 → 2026."""
    return d.year if d.month >= _YEAR_START_MONTH else d.year - 1


def academic_year_label(year: int) -> str:
    """«2025/26» for the academic year starting in 2025."""
    return f"{year}/{(year + 1) % 100:02d}"


def academic_year_bounds(year: int) -> tuple[date, date]:
    """First and last day of the academic year, inclusive."""
    return date(year, _YEAR_START_MONTH, 1), date(year + 1, _YEAR_START_MONTH - 1, 31)


@dataclass(frozen=True)
class PortfolioEntry:
    id: int
    number: str
    category: str
    level: str
    result: str
    title: str
    event_date: date
    source: str
    evidence_count: int

    @property
    def academic_year(self) -> int:
        return academic_year(self.event_date)

    @property
    def category_label(self) -> str:
        return label_or_value(Category, self.category)

    @property
    def level_label(self) -> str:
        return label_or_value(AchievementLevel, self.level)

    @property
    def result_label(self) -> str:
        return label_or_value(AchievementResult, self.result)

    @property
    def source_label(self) -> str:
        return label_or_value(Source, self.source)


@dataclass(frozen=True)
class CategoryGroup:
    category: str
    label: str
    entries: list[PortfolioEntry]

    @property
    def count(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class YearGroup:
    year: int
    label: str
    categories: list[CategoryGroup]

    @property
    def count(self) -> int:
        return sum(group.count for group in self.categories)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int  # 0-based, clamped to the pages there are
    pages: int  # at least 1

    @property
    def has_previous(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page < self.pages - 1


@dataclass(frozen=True)
class RewardEntry:
    id: int
    kind: str
    kind_label: str
    reason: str
    granted_on: date
    order_number: str | None


async def approved_entries(
    session: AsyncSession, student_id: int, *, scope_year: int | None = None
) -> list[PortfolioEntry]:
    """The student's approved achievements, newest first; only academic year `scope_year` when given."""
    # Counted per achievement through the index: a subquery grouping the whole evidence table made
    # SQLite count every school's file for one student's page (16 ms for two years of a big school).
    files = (
        select(func.count())
        .where(col(EvidenceFile.achievement_id) == col(Achievement.id))
        .correlate(Achievement)
        .scalar_subquery()
    )
    query = (
        select(Achievement, files)
        .where(Achievement.student_id == student_id, Achievement.status == AchievementStatus.APPROVED)
        .order_by(col(Achievement.event_date).desc(), col(Achievement.id).desc())
    )
    if scope_year is not None:
        first, last = academic_year_bounds(scope_year)
        query = query.where(col(Achievement.event_date) >= first, col(Achievement.event_date) <= last)
    rows = (await session.exec(query)).all()
    return [
        PortfolioEntry(
            id=achievement.id,
            number=achievement.number,
            category=achievement.category,
            level=achievement.level,
            result=achievement.result,
            title=achievement.title,
            event_date=achievement.event_date,
            source=achievement.source,
            evidence_count=int(files),
        )
        for achievement, files in rows
    ]


def group_by_year_and_category(entries: Sequence[PortfolioEntry]) -> list[YearGroup]:
    """Entries by academic year (newest first), then by category in the regulation's order.

    Within a category the entries keep the order they were given in (newest first from `approved_entries`).
    """
    order = {category.value: index for index, category in enumerate(Category)}
    by_year: dict[int, dict[str, list[PortfolioEntry]]] = {}
    for entry in entries:
        by_year.setdefault(entry.academic_year, {}).setdefault(entry.category, []).append(entry)
    groups = []
    for year in sorted(by_year, reverse=True):
        categories = sorted(by_year[year].items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
        groups.append(
            YearGroup(
                year=year,
                label=academic_year_label(year),
                categories=[
                    CategoryGroup(category, label_or_value(Category, category), list(items))
                    for category, items in categories
                ],
            )
        )
    return groups


def paginate(items: Sequence[T], page: int, per_page: int = PER_PAGE) -> Page[T]:
    """Page `page` (0-based) of `items`; a page out of range gives the nearest existing one."""
    if per_page < 1:
        raise ValueError("per_page must be positive")
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page, 0), pages - 1)
    return Page(list(items[page * per_page : (page + 1) * per_page]), page, pages)


async def rewards_of(
    session: AsyncSession,
    student_id: int,
    scope_year: int | None = None,
    *,
    kind_label: Callable[[str], str] = reward_kind_label,
) -> list[RewardEntry]:
    """The student's rewards, newest first; only academic year `scope_year` when given.

    `kind_label` names a stored reward kind for people: by default its label in the current language.
    """
    query = (
        select(Reward)
        .where(Reward.student_id == student_id)
        .order_by(col(Reward.granted_on).desc(), col(Reward.id).desc())
    )
    if scope_year is not None:
        first, last = academic_year_bounds(scope_year)
        query = query.where(col(Reward.granted_on) >= first, col(Reward.granted_on) <= last)
    rewards = (await session.exec(query)).all()
    return [
        RewardEntry(
            id=reward.id,
            kind=reward.kind,
            kind_label=kind_label(reward.kind),
            reason=reward.reason,
            granted_on=reward.granted_on,
            order_number=reward.order_number,
        )
        for reward in rewards
    ]


async def own_submissions(session: AsyncSession, student_id: int, account_id: int) -> list[Achievement]:
    """What `account_id` sent for the student that is not in the portfolio yet or was turned down:
    pending and rejected, newest first (the submitter's «Мои заявки»)."""
    query = (
        select(Achievement)
        .where(
            Achievement.student_id == student_id,
            Achievement.submitted_by_account_id == account_id,
            col(Achievement.status).in_([AchievementStatus.PENDING, AchievementStatus.REJECTED]),
        )
        .order_by(col(Achievement.created_at).desc(), col(Achievement.id).desc())
    )
    return list((await session.exec(query)).all())
