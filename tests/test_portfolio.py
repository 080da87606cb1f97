"""The portfolio service: academic years, grouping with counts, pages, only approved items, scope."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from bot.services.numbering import next_number
from bot.services.portfolio import (
    academic_year,
    academic_year_label,
    approved_entries,
    group_by_year_and_category,
    paginate,
    rewards_of,
)
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category
from models import Achievement, EvidenceFile, Reward, Student
from models.db import SessionFactory
from models.enums import AchievementStatus, Source
from tests.factories import make_school

_numbers = itertools.count(1)


def achievement(
    student: Student,
    title: str,
    event_date: date,
    *,
    category: Category = Category.OLYMPIAD,
    status: AchievementStatus = AchievementStatus.APPROVED,
) -> Achievement:
    return Achievement(
        number=f"T-{next(_numbers):05d}",
        student_id=student.id,
        category=category,
        level=AchievementLevel.REGIONAL,
        result=AchievementResult.WINNER,
        title=title,
        event_date=event_date,
        source=Source.OUR_SCHOOL,
        status=status,
    )


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2026, 8, 31), 2025),
        (date(2026, 9, 1), 2026),
        (date(2026, 1, 1), 2025),
        (date(2025, 12, 31), 2025),
        (date(2027, 6, 30), 2026),
    ],
)
def test_academic_year_boundaries(day: date, year: int) -> None:
    assert academic_year(day) == year


def test_academic_year_label() -> None:
    assert academic_year_label(2025) == "2025/26"
    assert academic_year_label(2099) == "2099/00"


def test_paginate() -> None:
    items = list(range(17))
    first = paginate(items, 0)
    assert (first.items, first.page, first.pages) == (list(range(8)), 0, 3)
    assert not first.has_previous and first.has_next
    last = paginate(items, 2)
    assert last.items == [16] and last.has_previous and not last.has_next
    assert paginate(items, 99).page == 2  # out of range: the nearest page
    assert paginate(items, -1).page == 0
    empty = paginate([], 0)
    assert (empty.items, empty.page, empty.pages) == ([], 0, 1)
    assert paginate(list(range(8)), 0).pages == 1
    assert paginate(items, 1, per_page=5).items == [5, 6, 7, 8, 9]


async def test_only_approved_newest_first_with_evidence_count(session_factory: SessionFactory) -> None:
    school = await make_school(session_factory)
    student, other = school.students_5a[0], school.students_5a[1]
    async with session_factory() as session:
        old = achievement(student, "Старое", date(2025, 10, 1))
        new = achievement(student, "Новое", date(2026, 3, 1))
        session.add_all(
            [
                old,
                new,
                achievement(student, "На проверке", date(2026, 3, 2), status=AchievementStatus.PENDING),
                achievement(student, "Отклонено", date(2026, 3, 3), status=AchievementStatus.REJECTED),
                achievement(student, "Отозвано", date(2026, 3, 4), status=AchievementStatus.WITHDRAWN),
                achievement(other, "Чужое", date(2026, 3, 5)),
            ]
        )
        await session.flush()
        for position in range(2):
            session.add(
                EvidenceFile(
                    achievement_id=new.id,
                    position=position,
                    path=f"x/{position}.jpg",
                    sha256=f"{position:064d}",
                    original_sha256=f"{position:064d}",
                    mime_type="image/jpeg",
                    size=10,
                )
            )
        await session.commit()

        entries = await approved_entries(session, student.id)
    assert [entry.title for entry in entries] == ["Новое", "Старое"]
    assert [entry.evidence_count for entry in entries] == [2, 0]
    assert entries[0].number == new.number
    assert entries[0].category_label == "Предметная олимпиада"
    assert entries[0].level_label == "региональный"
    assert entries[0].result_label == "победитель"
    assert entries[0].source_label == "в нашей школе"


async def test_scope_year_and_rewards(session_factory: SessionFactory) -> None:
    school = await make_school(session_factory)
    student = school.students_5a[0]
    async with session_factory() as session:
        session.add_all(
            [
                achievement(student, "31 августа", date(2026, 8, 31)),
                achievement(student, "1 сентября", date(2026, 9, 1)),
                achievement(student, "Прошлый год", date(2025, 9, 1)),
                Reward(
                    student_id=student.id, kind="gramota", reason="За олимпиаду", granted_on=date(2026, 9, 5)
                ),
                Reward(
                    student_id=student.id,
                    kind="thanks",
                    reason="За помощь",
                    granted_on=date(2026, 5, 5),
                    order_number="12-о",
                ),
                Reward(
                    student_id=school.students_5a[1].id,
                    kind="gramota",
                    reason="Чужое",
                    granted_on=date(2026, 9, 6),
                ),
            ]
        )
        await session.commit()

        current = await approved_entries(session, student.id, scope_year=2026)
        previous = await approved_entries(session, student.id, scope_year=2025)
        everything = await approved_entries(session, student.id)
        rewards = await rewards_of(session, student.id, kind_label=str.upper)
        rewards_2026 = await rewards_of(session, student.id, 2026)
    assert [entry.title for entry in current] == ["1 сентября"]
    assert [entry.title for entry in previous] == ["31 августа", "Прошлый год"]
    assert len(everything) == 3
    assert [(reward.reason, reward.kind_label) for reward in rewards] == [
        ("За олимпиаду", "GRAMOTA"),
        ("За помощь", "THANKS"),
    ]
    assert rewards[1].order_number == "12-о"
    assert [reward.reason for reward in rewards_2026] == ["За олимпиаду"]


async def test_group_by_year_and_category_with_counts(session_factory: SessionFactory) -> None:
    school = await make_school(session_factory)
    student = school.students_5a[0]
    async with session_factory() as session:
        session.add_all(
            [
                achievement(student, "Спорт 2026", date(2026, 10, 1), category=Category.SPORT),
                achievement(student, "Олимпиада 2026", date(2026, 9, 20)),
                achievement(student, "Олимпиада 2026 б", date(2026, 11, 20)),
                achievement(student, "Конкурс 2025", date(2026, 2, 1), category=Category.CONTEST),
                achievement(student, "Олимпиада 2025", date(2025, 9, 1)),
            ]
        )
        await session.commit()
        entries = await approved_entries(session, student.id)

    groups = group_by_year_and_category(entries)
    assert [(group.year, group.label, group.count) for group in groups] == [
        (2026, "2026/27", 3),
        (2025, "2025/26", 2),
    ]
    first = groups[0].categories
    # Categories in the regulation's order; entries newest first inside each.
    assert [(group.category, group.count) for group in first] == [("olympiad", 2), ("sport", 1)]
    assert [entry.title for entry in first[0].entries] == ["Олимпиада 2026 б", "Олимпиада 2026"]
    assert first[0].label == "Предметная олимпиада"
    assert [group.category for group in groups[1].categories] == ["olympiad", "contest"]
    assert group_by_year_and_category([]) == []


async def test_next_number_is_per_series_and_year(session_factory: SessionFactory) -> None:
    async with session_factory() as session:
        assert await next_number(session, "results_request", 2026) == "2026-0001"
        assert await next_number(session, "results_request", 2026) == "2026-0002"
        assert await next_number(session, "results_request", 2027) == "2027-0001"
        assert await next_number(session, "achievement", 2026) == "2026-0001"
        await session.commit()
