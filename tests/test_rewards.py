"""The rewards service: who may reward whom, the rules of the record, the audit and the family's notices."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from sqlmodel import col, select

from bot.services.portfolio import rewards_of
from bot.services.principal import load_principal
from bot.services.rewards import (
    InvalidReward,
    RewardDenied,
    RewardProblem,
    grant_reward,
)
from bot.services.taxonomy import RewardKind, label
from models import Account, Achievement, AuditEvent, GuardianLink, Notification, Reward, Student
from models.db import SessionFactory
from models.enums import AchievementStatus, GuardianLinkStatus, Source, StudentStatus
from tests.factories import School, make_account, make_school

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
# An English catalog of our own: the project's catalogs get the new strings only when the lead merges.
ENGLISH = {
    "🏅 <b>Поощрение: {kind}</b>": "🏅 <b>Reward: {kind}</b>",
    "Похвальный лист": "Certificate of commendation",
    "Ученик: {name}": "Student: {name}",
    "За что: {reason}": "For: {reason}",
    "Дата: {date}": "Date: {date}",
    "Приказ № {number}": "Order No. {number}",
}


@pytest.fixture(scope="module")
def i18n(tmp_path_factory: pytest.TempPathFactory) -> I18n:
    root = tmp_path_factory.mktemp("locales")
    for locale, messages in (("ru", {}), ("en", ENGLISH)):
        catalog = Catalog(locale=locale)
        for msgid, msgstr in messages.items():
            catalog.add(msgid, msgstr)
        folder = root / locale / "LC_MESSAGES"
        folder.mkdir(parents=True)
        with (folder / "messages.mo").open("wb") as file:
            write_mo(file, catalog)
    return I18n(path=Path(root), default_locale="ru", domain="messages")


@pytest.fixture
async def school(session_factory: SessionFactory) -> School:
    return await make_school(session_factory)


async def approved(
    session_factory: SessionFactory, student: Student, status: str = "approved"
) -> Achievement:
    async with session_factory() as session:
        achievement = Achievement(
            number=f"2026-{student.id:04d}-{status[:3]}",
            student_id=student.id,
            category="olympiad",
            level="regional",
            result="winner",
            title="Олимпиада по математике",
            event_date=date(2026, 2, 1),
            source=Source.OUR_SCHOOL,
            status=status,
        )
        session.add(achievement)
        await session.commit()
        return achievement


async def grant(
    session_factory: SessionFactory,
    actor: Account,
    student: Student,
    *,
    kind: str = RewardKind.COMMENDATION,
    reason: str = "За отличную учёбу <и> поведение",
    granted_on: date = date(2026, 3, 2),
    order_number: str | None = "№ 45-о",
    achievement_id: int | None = None,
) -> Reward:
    async with session_factory() as session:
        principal = await load_principal(session, await session.get(Account, actor.id))
        return await grant_reward(
            session, principal, student.id, kind, reason, granted_on, order_number, achievement_id, NOW
        )


async def rows(session_factory: SessionFactory, model: type) -> list:
    async with session_factory() as session:
        return list((await session.exec(select(model).order_by(col(model.id)))).all())


async def test_a_reward_is_saved_audited_and_the_family_told_in_their_languages(
    session_factory: SessionFactory, school: School, i18n: I18n
) -> None:
    student = school.students_5a[0]
    async with session_factory() as session:
        own = await make_account(session, "Пётр")
        own.language = "en"
        stored = await session.get(Student, student.id)
        stored.account_id = own.id
        revoked = await make_account(session, "Бывший опекун")
        unreachable = await make_account(session, "Недоступный")
        unreachable.reachable = False
        for account, status in (
            (revoked, GuardianLinkStatus.REVOKED),
            (unreachable, GuardianLinkStatus.CONFIRMED),
        ):
            session.add(GuardianLink(account_id=account.id, student_id=student.id, status=status))
        await session.commit()
    achievement = await approved(session_factory, student)

    with i18n.context():
        reward = await grant(session_factory, school.teacher_5a, student, achievement_id=achievement.id)

    [saved] = await rows(session_factory, Reward)
    assert (saved.id, saved.student_id, saved.kind) == (reward.id, student.id, "commendation")
    assert saved.reason == "За отличную учёбу <и> поведение"
    assert (saved.granted_on, saved.order_number) == (date(2026, 3, 2), "45-о")
    assert (saved.achievement_id, saved.granted_by_account_id) == (achievement.id, school.teacher_5a.id)
    [event] = [e for e in await rows(session_factory, AuditEvent) if e.action == "reward_granted"]
    assert (event.allowed, event.student_id, event.object_id) == (True, student.id, str(reward.id))
    assert event.actor_account_id == school.teacher_5a.id

    notices = {n.account_id: n for n in await rows(session_factory, Notification)}
    assert set(notices) == {own.id, school.guardian.id}  # not the revoked nor the unreachable guardian
    assert all(n.kind == "reward" for n in notices.values())
    russian = json.loads(notices[school.guardian.id].payload)["text"]
    assert russian == (
        "🏅 <b>Поощрение: Похвальный лист</b>\nУченик: Иванов Пётр\n"
        "За что: За отличную учёбу &lt;и&gt; поведение\nДата: 02.03.2026\nПриказ № 45-о"
    )
    english = json.loads(notices[own.id].payload)["text"]
    assert english.startswith("🏅 <b>Reward: Certificate of commendation</b>\nStudent: Иванов Пётр\nFor: ")
    assert "Order No. 45-о" in english and "Поощрение" not in english


async def test_no_order_number_and_no_family_account_still_saves(
    session_factory: SessionFactory, school: School
) -> None:
    student = school.students_5a[1]  # nobody joined for her
    await grant(session_factory, school.deputy, student, kind=RewardKind.HONOUR_BOARD, order_number="  ")
    [saved] = await rows(session_factory, Reward)
    assert (saved.kind, saved.order_number, saved.achievement_id) == ("honour_board", None, None)
    assert await rows(session_factory, Notification) == []


@pytest.mark.parametrize("actor", ["teacher_5b", "coach", "guardian"])
async def test_someone_outside_the_class_is_refused_and_the_refusal_audited(
    session_factory: SessionFactory, school: School, actor: str
) -> None:
    student = school.students_5a[0]
    with pytest.raises(RewardDenied):
        await grant(session_factory, getattr(school, actor), student)
    assert await rows(session_factory, Reward) == []
    assert await rows(session_factory, Notification) == []
    [event] = await rows(session_factory, AuditEvent)
    assert (event.action, event.allowed, event.student_id) == ("reward_denied", False, student.id)
    assert event.actor_account_id == getattr(school, actor).id


async def test_a_student_who_left_is_not_rewarded(session_factory: SessionFactory, school: School) -> None:
    student = school.students_5a[0]
    async with session_factory() as session:
        stored = await session.get(Student, student.id)
        stored.status = StudentStatus.LEFT
        await session.commit()
    with pytest.raises(RewardDenied):
        await grant(session_factory, school.admin, student)
    assert await rows(session_factory, Reward) == []


async def test_an_achievement_of_another_student_or_not_approved_is_refused(
    session_factory: SessionFactory, school: School
) -> None:
    petr, anna = school.students_5a
    annas = await approved(session_factory, anna)
    pending = await approved(session_factory, petr, status=AchievementStatus.PENDING)
    for achievement_id in (annas.id, pending.id, 999_999):
        with pytest.raises(InvalidReward) as refused:
            await grant(session_factory, school.teacher_5a, petr, achievement_id=achievement_id)
        assert refused.value.problem == RewardProblem.ACHIEVEMENT_NOT_ELIGIBLE
    assert await rows(session_factory, Reward) == []
    assert await rows(session_factory, Notification) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"reason": "   \n "}, RewardProblem.REASON_EMPTY),
        ({"reason": "а" * 501}, RewardProblem.REASON_TOO_LONG),
        ({"granted_on": date(2026, 3, 11)}, RewardProblem.DATE_FUTURE),
        ({"granted_on": date(1999, 12, 31)}, RewardProblem.DATE_TOO_OLD),
        ({"order_number": "1" * 65}, RewardProblem.ORDER_TOO_LONG),
        ({"kind": "medal"}, RewardProblem.UNKNOWN_KIND),
    ],
)
async def test_bad_input_is_refused_and_nothing_saved(
    session_factory: SessionFactory, school: School, changes: dict, problem: RewardProblem
) -> None:
    with pytest.raises(InvalidReward) as refused:
        await grant(session_factory, school.teacher_5a, school.students_5a[0], **changes)
    assert refused.value.problem == problem
    assert await rows(session_factory, Reward) == []


async def test_limits_are_inclusive_and_whitespace_is_tidied(
    session_factory: SessionFactory, school: School
) -> None:
    await grant(
        session_factory,
        school.teacher_5a,
        school.students_5a[0],
        reason="  " + "б" * 499 + "\n",
        granted_on=TODAY,
        order_number="№" + "7" * 64,
    )
    [saved] = await rows(session_factory, Reward)
    assert (len(saved.reason), saved.granted_on, saved.order_number) == (499, TODAY, "7" * 64)


async def test_a_naive_now_is_refused(session_factory: SessionFactory, school: School) -> None:
    async with session_factory() as session:
        principal = await load_principal(session, await session.get(Account, school.teacher_5a.id))
        with pytest.raises(ValueError, match="aware"):
            await grant_reward(
                session, principal, school.students_5a[0].id, "gratitude", "За помощь", TODAY, None, None,
                NOW.replace(tzinfo=None),
            )  # fmt: skip


async def test_the_portfolio_and_extract_name_the_kind(
    session_factory: SessionFactory, school: School
) -> None:
    student = school.students_5a[0]
    await grant(session_factory, school.teacher_5a, student, kind=RewardKind.PARENTS_LETTER)
    async with session_factory() as session:
        session.add(
            Reward(student_id=student.id, kind="retired_kind", reason="Старое", granted_on=date(2025, 1, 1))
        )
        await session.commit()
        entries = await rewards_of(session, student.id)
    assert [entry.kind_label for entry in entries] == ["Благодарственное письмо родителям", "retired_kind"]


def test_the_regulation_lists_six_reward_kinds_with_russian_labels() -> None:
    assert [label(kind) for kind in RewardKind] == [
        "Благодарность",
        "Грамота",
        "Похвальный лист",
        "Благодарственное письмо родителям",
        "Ценный подарок",
        "Занесение на доску почёта",
    ]
    assert all(kind.isascii() and len(kind) <= 32 for kind in RewardKind)
