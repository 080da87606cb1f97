"""Reviewing achievements in the chat, as class teachers and deputies do it: the card, approve, reject with
a reason, corrections, double taps and races, forged and old buttons, and the /pending queue."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlmodel import col, select

from bot.services import evidence
from bot.services.sender import OutboxSender
from bot.services.submissions import SubmissionDraft, create_submission
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category
from models import Account, Achievement, AchievementStatusChange, AuditEvent, Notification, StaffAssignment
from models.base import utcnow
from models.enums import AchievementStatus, Source, StaffRole
from tests.factories import School, assign, make_school
from tests.harness import BotHarness
from tests.tg_users import FakeUser

CARD_BUTTONS = [["✅ Одобрить", "❌ Отклонить"], ["✏️ Исправить"]]


@pytest.fixture
async def school(bot: BotHarness) -> School:
    return await make_school(bot.session_factory)


def photo(seed: int = 1) -> bytes:
    image = Image.new("RGB", (64, 48), (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def person(bot: BotHarness, account: Account, first_name: str) -> FakeUser:
    """A person of the school who has written to the bot before (so it can write to them)."""
    return bot.server.user(id=account.telegram_id, first_name=first_name, started=True)


async def submit(
    bot: BotHarness,
    student_id: int,
    submitter: Account,
    *,
    title: str = "Региональный этап ВсОШ по математике",
    days_ago: int = 0,
    seed: int = 1,
) -> Achievement:
    """A pending submission with a real stored photo, made directly with the services."""
    now = datetime.now(bot.settings.tz) - timedelta(days=days_ago)
    stored = await evidence.store(bot.settings.media_dir, photo(seed))
    draft = SubmissionDraft(
        student_id=student_id,
        category=Category.OLYMPIAD,
        level=AchievementLevel.REGIONAL,
        result=AchievementResult.PRIZE_WINNER,
        title=title,
        event_date=(now - timedelta(days=30)).date(),
        source=Source.OUR_SCHOOL,
        files=[stored],
    )
    async with bot.session_factory() as session:
        assert submitter.id is not None
        return await create_submission(session, draft, submitter.id, now)


async def deliver(bot: BotHarness) -> None:
    """Send the outbox now rather than at the background sender's next poll."""
    assert bot.runtime is not None
    await OutboxSender().run_once(bot.runtime.bot, bot.session_factory, bot.settings.media_dir, utcnow())


async def card_for(bot: BotHarness, reviewer: FakeUser) -> Any:
    await deliver(bot)
    return await reviewer.wait_for("на проверку")


async def rows(bot: BotHarness, model: type, *where: Any) -> list[Any]:
    async with bot.session_factory() as session:
        return list((await session.exec(select(model).where(*where).order_by(col(model.id)))).all())


async def status_of(bot: BotHarness, achievement_id: int) -> str:
    async with bot.session_factory() as session:
        achievement = await session.get(Achievement, achievement_id)
        assert achievement is not None
        return achievement.status


async def decisions(bot: BotHarness, achievement_id: int) -> tuple[int, int, int]:
    """(status changes out of pending, decision audit rows, notifications to the submitter)."""
    changes = await rows(
        bot,
        AchievementStatusChange,
        AchievementStatusChange.achievement_id == achievement_id,
        AchievementStatusChange.from_status == AchievementStatus.PENDING,
    )
    audits = await rows(
        bot,
        AuditEvent,
        AuditEvent.object_id == str(achievement_id),
        col(AuditEvent.action).in_(["achievement_approved", "achievement_rejected"]),
    )
    notes = await rows(bot, Notification, Notification.dedup_key == f"decision:{achievement_id}")
    return len(changes), len(audits), len(notes)


def outcome_messages(user: FakeUser) -> list[str]:
    return [m.text or "" for m in user.messages if "Достижение №" in (m.text or "") and "«" in (m.text or "")]


async def test_the_class_teacher_gets_the_card_and_approves_it(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    parent = person(bot, school.guardian, "Ольга")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)

    card = await card_for(bot, teacher)
    assert card.kind == "photo"
    assert "Иванов Пётр, 5А" in card.caption and "Региональный этап ВсОШ" in card.caption
    assert card.buttons == CARD_BUTTONS

    press = teacher.press("✅ Одобрить")
    assert (await press.wait_answer())["text"] == "✅ Одобрено"
    edited = await teacher.wait_for(lambda m: m.edited and "Одобрено:" in (m.caption or ""))
    assert edited.message_id == card.message_id and edited.kind == "photo"
    assert "Иванов Пётр, 5А" in edited.caption and "Региональный этап ВсОШ" in edited.caption
    assert "✅ Одобрено: Елена Петровна, " in edited.caption
    assert edited.buttons == []

    told = await parent.wait_for("одобрено и добавлено в портфолио")
    assert achievement.number in told.text
    await bot.server.idle()
    assert len(outcome_messages(parent)) == 1
    assert await status_of(bot, achievement.id) == AchievementStatus.APPROVED
    assert await decisions(bot, achievement.id) == (1, 1, 1)


async def test_a_double_tap_decides_once(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    parent = person(bot, school.guardian, "Ольга")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    await card_for(bot, teacher)

    first, second = teacher.press("✅ Одобрить"), teacher.press("✅ Одобрить")
    assert (await first.wait_answer())["text"] == "✅ Одобрено"
    late = await second.wait_answer()
    assert late["show_alert"] and late["text"].startswith("Уже рассмотрено: одобрено, Елена Петровна, ")

    await parent.wait_for("одобрено")
    await bot.server.idle()
    assert len(outcome_messages(parent)) == 1
    assert await decisions(bot, achievement.id) == (1, 1, 1)


async def test_approve_and_reject_at_once_by_two_reviewers_give_one_decision(
    bot: BotHarness, school: School
) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    deputy = person(bot, school.deputy, "Завуч")
    parent = person(bot, school.guardian, "Ольга")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    await card_for(bot, teacher)
    # The deputy opens the same card from the queue and gets to the reasons.
    deputy.send_text("/pending")
    await deputy.wait_for("На проверке: 1")
    deputy.press(f"№ {achievement.number}")
    await deputy.wait_for("на проверку")
    deputy.press("❌ Отклонить")
    await deputy.wait_for(lambda m: "не тот ученик" in m.describe())

    presses = [teacher.press("✅ Одобрить"), deputy.press("не тот ученик")]
    answers = [await press.wait_answer() for press in presses]
    late = [a for a in answers if a["text"].startswith("Уже рассмотрено")]
    assert len(late) == 1 and late[0]["show_alert"]

    await parent.wait_for("Достижение №")
    await bot.server.idle()
    assert len(outcome_messages(parent)) == 1
    assert await decisions(bot, achievement.id) == (1, 1, 1)
    # Both cards now say who decided, and neither has buttons left.
    for reviewer in (teacher, deputy):
        shown = [m for m in reviewer.messages if "на проверку" in (m.caption or "")]
        assert shown and all(m.buttons == [] for m in shown)
        assert all("Одобрено:" in m.caption or "Отклонено:" in m.caption for m in shown)


async def test_a_listed_reason_reaches_the_submitter(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    parent = person(bot, school.guardian, "Ольга")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    card = await card_for(bot, teacher)

    teacher.press("❌ Отклонить")
    reasons = await teacher.wait_for(lambda m: m.edited and "дубликат" in m.describe())
    assert reasons.message_id == card.message_id and reasons.caption == card.caption
    assert [row[0] for row in reasons.buttons] == [
        "нечитаемое фото",
        "не тот ученик",
        "не подтверждает достижение",
        "дубликат",
        "другое",
        "← Назад",
    ]
    teacher.press("← Назад")
    back = await teacher.wait_for(lambda m: m.edited and m.buttons == CARD_BUTTONS)
    assert back.message_id == card.message_id

    teacher.press("❌ Отклонить")
    await teacher.wait_for(lambda m: m.edited and "дубликат" in m.describe())
    teacher.press("нечитаемое фото")
    edited = await teacher.wait_for(lambda m: m.edited and "Отклонено:" in (m.caption or ""))
    assert "Причина: нечитаемое фото" in edited.caption and edited.buttons == []

    told = await parent.wait_for("отклонено")
    assert "Причина: нечитаемое фото" in told.text
    assert await status_of(bot, achievement.id) == AchievementStatus.REJECTED
    assert await decisions(bot, achievement.id) == (1, 1, 1)


async def test_a_typed_reason_keeps_html_and_emoji_as_text(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    parent = person(bot, school.guardian, "Ольга")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    await card_for(bot, teacher)

    # /cancel leaves the achievement pending and gives the card its buttons back.
    teacher.press("❌ Отклонить")
    await teacher.wait_for(lambda m: "другое" in m.describe())
    teacher.press("другое")
    await teacher.wait_for("Напишите причину отказа")
    teacher.send_text("/cancel")
    await teacher.wait_for("Действие отменено")
    assert await status_of(bot, achievement.id) == AchievementStatus.PENDING
    await bot.server.idle()
    assert teacher.buttons() == CARD_BUTTONS

    teacher.press("❌ Отклонить")
    await teacher.wait_for(lambda m: "другое" in m.describe())
    teacher.press("другое")
    await teacher.wait_for("Напишите причину отказа")
    teacher.send_text("х" * 501)
    await teacher.wait_for("Слишком длинно")
    reason = "Нужен <b>оригинал</b> & печать 🙏📄"
    teacher.send_text(reason)
    await teacher.wait_for("отклонено. Отправитель получит причину")
    edited = await teacher.wait_for(lambda m: m.edited and "Отклонено:" in (m.caption or ""))
    assert f"Причина: {reason}" in edited.caption

    told = await parent.wait_for("отклонено")
    assert f"Причина: {reason}" in told.text
    async with bot.session_factory() as session:
        stored = await session.get(Achievement, achievement.id)
        assert stored is not None and stored.reject_reason == reason
    assert await decisions(bot, achievement.id) == (1, 1, 1)


async def test_the_teacher_corrects_the_title_then_approves(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    parent = person(bot, school.guardian, "Ольга")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian, title="олимпиада матем")
    card = await card_for(bot, teacher)

    teacher.press("✏️ Исправить")
    await teacher.wait_for(lambda m: m.edited and "Название" in m.describe())
    assert teacher.buttons() == [["Категория", "Уровень", "Результат"], ["Название", "Дата"], ["← Назад"]]
    teacher.press("Название")
    await teacher.wait_for("Напишите новое название")
    teacher.send_text("Я" * 1500)
    await teacher.wait_for("Слишком длинное название")
    title = 'Муниципальный этап <ВсОШ> & "Кенгуру" 🦘'
    teacher.send_text(title)
    await teacher.wait_for("Исправлено")
    updated = teacher.server.message(teacher.id, card.message_id)
    assert updated is not None and f"Название: {title}" in updated.caption
    assert updated.buttons == CARD_BUTTONS

    teacher.press("✅ Одобрить")
    await teacher.wait_for(lambda m: m.edited and "Одобрено:" in (m.caption or ""))
    told = await parent.wait_for("одобрено")
    assert f"«{title}»" in told.text
    async with bot.session_factory() as session:
        stored = await session.get(Achievement, achievement.id)
        assert stored is not None and (stored.title, stored.status) == (title, AchievementStatus.APPROVED)
        audits = (
            await session.exec(select(AuditEvent.action).where(AuditEvent.object_id == str(stored.id)))
        ).all()
        assert "achievement_corrected" in audits


async def test_category_result_and_date_are_corrected_from_buttons_and_typing(
    bot: BotHarness, school: School
) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    card = await card_for(bot, teacher)

    teacher.press("✏️ Исправить")
    await teacher.wait_for(lambda m: m.edited and "Категория" in m.describe())
    teacher.press("Категория")
    await teacher.wait_for(lambda m: m.edited and "Нормы ГТО" in m.describe())
    assert "✓ Предметная олимпиада" in [row[0] for row in teacher.buttons()]
    teacher.press("Нормы ГТО")  # «призёр» is not a result of ГТО: the result is asked for next
    await teacher.wait_for(lambda m: m.edited and "золотой знак отличия" in m.describe())
    assert await status_of(bot, achievement.id) == AchievementStatus.PENDING
    teacher.press("золотой знак отличия")
    updated = await teacher.wait_for(lambda m: m.edited and "Нормы ГТО" in (m.caption or ""))
    assert "Результат: золотой знак отличия" in updated.caption and updated.buttons == CARD_BUTTONS

    teacher.press("✏️ Исправить")
    await teacher.wait_for(lambda m: m.edited and "Дата" in m.describe())
    teacher.press("Дата")
    await teacher.wait_for("Напишите новую дату")
    teacher.send_text("31.02.2025")
    await teacher.wait_for("Такой даты нет")
    teacher.send_text("завтра")
    await teacher.wait_for("Не понял дату")
    teacher.send_text("01.03.2025")
    await teacher.wait_for("Исправлено")
    updated = teacher.server.message(teacher.id, card.message_id)
    assert updated is not None and "Дата: 01.03.2025" in updated.caption
    async with bot.session_factory() as session:
        stored = await session.get(Achievement, achievement.id)
        assert stored is not None
        assert (stored.category, stored.result) == (Category.GTO, AchievementResult.GTO_GOLD)
        assert stored.event_date.isoformat() == "2025-03-01"


async def test_a_forged_button_for_another_class_is_refused_and_audited(
    bot: BotHarness, school: School
) -> None:
    other_teacher = person(bot, school.teacher_5b, "Сергей")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    other_teacher.send_text("/start")
    menu = await other_teacher.next_message()

    press = other_teacher.press_callback(menu.message_id, f"rv:approve:{achievement.id}")
    answer = await press.wait_answer()
    assert answer == {"text": "Нет доступа к этому достижению", "show_alert": True, "url": None}
    missing = other_teacher.press_callback(menu.message_id, "rv:approve:987654")
    assert (await missing.wait_answer())["text"] == "Это достижение не найдено"

    assert await status_of(bot, achievement.id) == AchievementStatus.PENDING
    denied = await rows(bot, AuditEvent, col(AuditEvent.allowed).is_(False))
    assert [(d.action, d.actor_account_id, d.object_id) for d in denied] == [
        ("achievement_review_denied", school.teacher_5b.id, str(achievement.id))
    ]
    assert await decisions(bot, achievement.id) == (0, 0, 0)


async def test_a_teacher_moved_to_another_class_can_no_longer_decide(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    await card_for(bot, teacher)
    async with bot.session_factory() as session:
        old = (
            await session.exec(
                select(StaffAssignment).where(StaffAssignment.account_id == school.teacher_5a.id)
            )
        ).one()
        old.active, old.ended_at = False, utcnow()
        session.add(old)
        await assign(session, school.teacher_5a, StaffRole.CLASS_TEACHER, school_class=school.class_5b)
        await session.commit()

    answer = await teacher.press("✅ Одобрить").wait_answer()
    assert answer["text"] == "Нет доступа к этому достижению" and answer["show_alert"]
    assert await status_of(bot, achievement.id) == AchievementStatus.PENDING
    denied = await rows(bot, AuditEvent, col(AuditEvent.allowed).is_(False))
    assert len(denied) == 1 and denied[0].actor_account_id == school.teacher_5a.id


async def test_a_card_from_before_a_restart_still_works(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    parent = person(bot, school.guardian, "Ольга")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    card = await card_for(bot, teacher)

    await bot.restart()
    teacher.press("✅ Одобрить", card)
    edited = await teacher.wait_for(lambda m: m.edited and "Одобрено:" in (m.caption or ""))
    assert edited.message_id == card.message_id
    await parent.wait_for("одобрено")
    assert await status_of(bot, achievement.id) == AchievementStatus.APPROVED


async def test_pending_lists_the_queue_ten_to_a_page(bot: BotHarness, school: School) -> None:
    deputy = person(bot, school.deputy, "Завуч")
    numbers = []
    for index in range(12):
        student = (school.students_5a + school.students_5b)[index % 4]
        achievement = await submit(
            bot, student.id, school.guardian, title=f"Конкурс № {index}", days_ago=11 - index, seed=index
        )
        numbers.append(achievement.number)

    deputy.send_text("/pending")
    first = await deputy.wait_for("На проверке: 12")
    assert "(стр. 1 из 2)" in first.text
    lines = [line for line in first.text.split("\n") if line.startswith("№ ")]
    assert len(lines) == 10
    assert lines[0] == f"№ {numbers[0]} · Иванов Пётр, 5А · Конкурс № 0 · 11 дн."
    assert lines[2].startswith(f"№ {numbers[2]} · Кузнецов Илья, 5Б")
    assert first.buttons[-1] == ["▶️"] and len(first.buttons) == 11

    deputy.press("▶️")
    second = await deputy.wait_for(lambda m: m.edited and "(стр. 2 из 2)" in (m.text or ""))
    assert second.message_id == first.message_id
    assert [line for line in second.text.split("\n") if line.startswith("№ ")][-1].endswith("· сегодня")
    assert second.buttons == [
        [f"№ {numbers[10]} · Кузнецов Илья"],
        [f"№ {numbers[11]} · Попова Мария"],
        ["◀️"],
    ]
    deputy.press("◀️")
    await deputy.wait_for(lambda m: m.edited and "(стр. 1 из 2)" in (m.text or ""))
    # Each child listed on a page shown gets a row in their access register: pages 1, 2 and 1 again.
    async with bot.session_factory() as session:
        viewed = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "review_queue_viewed"))
        ).all()
    assert len(viewed) == 10 + 2 + 10
    assert {(e.actor_account_id, e.channel, e.allowed) for e in viewed} == {(school.deputy.id, "bot", True)}
    assert {e.student_id for e in viewed[10:12]} == {school.students_5b[0].id, school.students_5b[1].id}

    deputy.press(f"№ {numbers[3]}")
    card = await deputy.wait_for("на проверку")
    assert card.kind == "photo" and "Попова Мария, 5Б" in card.caption and card.buttons == CARD_BUTTONS

    # The reply-keyboard button works as well; a class teacher sees only their class.
    deputy.send_text("📥 На проверке")
    await deputy.wait_for("На проверке: 12")
    teacher_5b = person(bot, school.teacher_5b, "Сергей")
    teacher_5b.send_text("/pending")
    own = await teacher_5b.wait_for("На проверке: 6")
    assert "5А" not in own.text and "(стр." not in own.text
    parent = person(bot, school.guardian, "Ольга")
    parent.send_text("/pending")
    await parent.wait_for("Очередь на проверку есть у")


async def test_an_empty_queue_says_so(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    teacher.send_text("/pending")
    await teacher.wait_for("Нет достижений, ожидающих проверки")


async def test_a_submitter_who_blocked_the_bot_is_marked_unreachable_and_nothing_breaks(
    bot: BotHarness, school: School
) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    parent = person(bot, school.guardian, "Ольга")
    achievement = await submit(bot, school.students_5a[0].id, school.guardian)
    await card_for(bot, teacher)
    parent.block()

    teacher.press("✅ Одобрить")
    await teacher.wait_for(lambda m: m.edited and "Одобрено:" in (m.caption or ""))
    await deliver(bot)

    assert await status_of(bot, achievement.id) == AchievementStatus.APPROVED
    # The background sender may have taken the notice first and still be marking it when we look.
    async with asyncio.timeout(5):
        while True:
            [note] = await rows(bot, Notification, Notification.dedup_key == f"decision:{achievement.id}")
            if note.status != "pending":
                break
            await asyncio.sleep(0.02)
    assert note.status == "failed"
    async with bot.session_factory() as session:
        guardian = await session.get(Account, school.guardian.id)
        assert guardian is not None and guardian.reachable is False


async def test_typing_a_reason_does_not_wipe_the_reviewers_own_draft(bot: BotHarness, school: School) -> None:
    teacher = person(bot, school.teacher_5a, "Елена")
    await submit(bot, school.students_5a[0].id, school.guardian)
    card = await card_for(bot, teacher)
    teacher.send_photo(photo(9))  # her own submission, started from the menu
    await teacher.wait_for("Выберите класс")
    teacher.press("❌ Отклонить", message=card)
    await teacher.wait_for("другое")
    answer = await teacher.press("другое").wait_answer()
    assert "Сначала закончите или отмените" in answer["text"]
    teacher.press("5А")  # the draft goes on
    await teacher.wait_for("Отметьте ученика")
