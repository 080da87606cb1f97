"""Recording rewards through the local Bot API server: the wizard, the family's notices, the extract,
refusals, leaving, and a restart in the middle."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from sqlmodel import select

from models import Achievement, AuditEvent, Reward
from models.enums import SchoolLevel, StaffRole
from tests.harness import BotHarness
from tests.people import add_student, guardian_of, join, staff_member, student_code
from tests.test_requests_flow import approve, pdf_text
from tests.test_submission_flow import GARBAGE_IDS

REWARD = "🏅 Поощрить"


async def test_a_class_teacher_rewards_and_the_family_is_told_and_the_extract_lists_it(
    bot: BotHarness,
) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    await add_student(bot, "5А", "Смирнова", "Анна")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А", first_name="Елена")
    parent = await guardian_of(bot, child, first_name="Ольга")
    pupil = await join(bot.server.user(first_name="Пётр"), await student_code(bot, child))
    await approve(bot, child, "Олимпиада по математике", "2026-0001", date.today() - timedelta(days=10))
    granted_on = date.today() - timedelta(days=3)

    assert any(REWARD in row for row in teacher.reply_keyboard())
    teacher.send_text(REWARD)
    await teacher.wait_for("Класс 5А. Кого поощрить?")  # one class: no class question
    teacher.press("Иванов Пётр")
    await teacher.wait_for("Выберите вид поощрения")
    teacher.send_text("грамота")
    await teacher.wait_for("Выберите ответ кнопкой")
    teacher.press("Похвальный лист")
    await teacher.wait_for("За что поощрение?")
    teacher.send_text("  ")
    await teacher.wait_for("Напишите, за что поощрение")
    teacher.send_text("За победу в олимпиаде по математике")
    await teacher.wait_for("Дата поощрения?")
    teacher.press("← Назад")
    await teacher.wait_for("За что поощрение?")
    teacher.press("За отличную учёбу")
    await teacher.wait_for("Дата поощрения?")
    await bot.restart()  # the dialogue survives
    teacher.send_text("31.02.2026")
    await teacher.wait_for("Такой даты нет")
    teacher.send_text(granted_on.strftime("%d.%m.%Y"))
    await teacher.wait_for("Номер приказа?")
    teacher.send_text("№ 45-о")
    await teacher.wait_for("Связать поощрение с достижением")
    teacher.press("Олимпиада по математике")
    summary = await teacher.wait_for("Проверьте поощрение")
    for expected in (
        "Ученик: Иванов Пётр, 5А",
        "Вид: Похвальный лист",
        "За что: За отличную учёбу",
        f"Дата: {granted_on:%d.%m.%Y}",
        "Приказ № 45-о",
        "Достижение: № 2026-0001 «Олимпиада по математике»",
    ):
        assert expected in (summary.text or ""), expected
    teacher.press("💾 Сохранить")
    await teacher.wait_for("✅ Поощрение записано: Похвальный лист — Иванов Пётр")

    async with bot.session_factory() as session:
        reward = (await session.exec(select(Reward))).one()
        achievement = (await session.exec(select(Achievement))).one()
        granted = (await session.exec(select(AuditEvent).where(AuditEvent.action == "reward_granted"))).one()
    assert (reward.student_id, reward.kind, reward.reason) == (child, "commendation", "За отличную учёбу")
    assert (reward.granted_on, reward.order_number, reward.achievement_id) == (
        granted_on,
        "45-о",
        achievement.id,
    )
    assert granted.object_id == str(reward.id) and granted.allowed

    for person in (parent, pupil):
        notice = await person.wait_for("Поощрение: Похвальный лист", timeout=10)
        assert "За что: За отличную учёбу" in (notice.text or "") and "Приказ № 45-о" in (notice.text or "")
    assert not any("Поощрение:" in (m.text or "") for m in teacher.messages)

    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("За какой период")
    parent.press("Все годы")
    document = await parent.wait_for("по запросу от", timeout=10)
    text = pdf_text(bot, document.file_id or "")
    assert "Похвальный лист" in text and "За отличную учёбу" in text and "45-о" in text
    assert "commendation" not in text


async def test_only_staff_of_a_class_see_the_button(bot: BotHarness) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    coach = await staff_member(bot, StaffRole.TEACHER, first_name="Тренер")
    parent = await guardian_of(bot, child)
    for person in (coach, parent):
        assert not any(REWARD in row for row in person.reply_keyboard())
        person.send_text("/reward")
        await person.wait_for("Записывать поощрения могут классные руководители")
    async with bot.session_factory() as session:
        assert (await session.exec(select(Reward))).all() == []


async def test_a_forged_button_for_a_student_of_another_class_is_refused_and_audited(bot: BotHarness) -> None:
    stranger = await add_student(bot, "5А", "Иванов", "Пётр")
    await add_student(bot, "5Б", "Кузнецов", "Илья")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5Б")
    teacher.send_text("/reward")
    question = await teacher.wait_for("Класс 5Б. Кого поощрить?")
    assert "Иванов Пётр" not in str(teacher.buttons())

    pressed = teacher.press_callback(question.message_id, f"rw:student:{stranger}")
    assert "Нет доступа" in (await pressed.wait_answer())["text"]
    async with bot.session_factory() as session:
        [denied] = (await session.exec(select(AuditEvent).where(AuditEvent.action == "reward_denied"))).all()
    assert (denied.allowed, denied.student_id) == (False, stranger)

    teacher.press("Кузнецов Илья")  # the dialogue goes on
    await teacher.wait_for("Выберите вид поощрения")
    async with bot.session_factory() as session:
        assert (await session.exec(select(Reward))).all() == []


async def test_cancel_leaves_at_any_step_and_nothing_is_saved(bot: BotHarness) -> None:
    await add_student(bot, "5А", "Иванов", "Пётр")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    teacher.send_text(REWARD)
    await teacher.wait_for("Кого поощрить?")
    teacher.press("Иванов Пётр")
    await teacher.wait_for("Выберите вид поощрения")
    teacher.press("Грамота")
    await teacher.wait_for("За что поощрение?")
    teacher.send_text("/cancel")
    await teacher.wait_for("Поощрение не записано")
    teacher.send_text("За помощь")  # no longer an answer
    await teacher.wait_for("Не понимаю это сообщение")

    teacher.send_text(REWARD)
    await teacher.wait_for("Кого поощрить?")
    teacher.press("✖️ Отмена")
    await teacher.wait_for("Поощрение не записано")
    async with bot.session_factory() as session:
        assert (await session.exec(select(Reward))).all() == []


async def test_a_deputy_picks_a_class_pages_students_and_goes_back(bot: BotHarness) -> None:
    await add_student(bot, "5А", "Иванов", "Пётр")
    for index in range(11):
        await add_student(bot, "6А", f"Ученик{index:02d}", "Тест")
    await add_student(bot, "6А", "Ю<b>", "Ли")  # last by surname: on the second page, and HTML in a name
    deputy = await staff_member(bot, StaffRole.DEPUTY, level=SchoolLevel.OOO)
    deputy.send_text(REWARD)
    await deputy.wait_for("Выберите класс")
    assert deputy.buttons()[0] == ["5А", "6А"]
    deputy.press("6А")
    await deputy.wait_for("Страница 1 из 2")
    assert "Ю<b> Ли" not in str(deputy.buttons())
    deputy.press("▶️")
    await deputy.wait_for("Страница 2 из 2")
    deputy.press("Ю<b> Ли")
    kind_question = await deputy.wait_for("Выберите вид поощрения")
    assert "Ученик: Ю<b> Ли" in (kind_question.text or "")
    deputy.press("← Назад")
    await deputy.wait_for("Кого поощрить?")
    deputy.press("← Назад")
    await deputy.wait_for("Выберите класс")
    for button, next_question in (
        ("5А", "Кого поощрить?"),
        ("Иванов Пётр", "Выберите вид поощрения"),
        ("Ценный подарок", "За что поощрение?"),
        ("За активное участие в жизни класса", "Дата поощрения?"),
        ("Сегодня", "Номер приказа?"),
    ):
        deputy.press(button)
        await deputy.wait_for(next_question)
    deputy.press("Без приказа")  # no approved achievements: no question about them
    await deputy.wait_for("Проверьте поощрение")
    deputy.press("← Назад")  # skips the achievement question that was never asked
    await deputy.wait_for("Номер приказа?")
    deputy.press("Без приказа")
    summary = await deputy.wait_for("Проверьте поощрение")
    assert "Приказ: без приказа" in (summary.text or "")
    deputy.press("💾 Сохранить")
    await deputy.wait_for("✅ Поощрение записано: Ценный подарок — Иванов Пётр")
    async with bot.session_factory() as session:
        reward = (await session.exec(select(Reward))).one()
    assert (reward.kind, reward.order_number, reward.achievement_id) == ("gift", None, None)


async def test_a_preset_reason_is_recorded_in_the_schools_language_whatever_the_teachers(
    bot: BotHarness,
) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    parent = await guardian_of(bot, child)
    teacher.send_text("/lang")
    await teacher.wait_for("Choose your language")
    teacher.press("🇬🇧 English")
    await teacher.wait_for("English")
    teacher.send_text("/reward")
    await teacher.wait_for("Who should be rewarded?")
    teacher.press("Иванов Пётр")
    await teacher.wait_for("Choose the kind of reward")
    teacher.press("Commendation")
    await teacher.wait_for("What is the reward for?")
    teacher.press("For excellent studies")
    await teacher.wait_for("Date of the reward?")
    teacher.press("Today")
    await teacher.wait_for("Order number?")
    teacher.press("No order")
    await teacher.wait_for("Please check the reward")
    teacher.press("💾 Save")
    await teacher.wait_for("✅ Reward recorded")
    async with bot.session_factory() as session:
        reward = (await session.exec(select(Reward))).one()
    assert reward.reason == "За отличную учёбу"  # the school's record, as a Russian teacher would leave it
    notice = await parent.wait_for("Поощрение: Благодарность", timeout=10)
    assert "За что: За отличную учёбу" in (notice.text or "")


async def test_garbled_class_student_and_page_buttons_are_refused_politely_and_the_wizard_goes_on(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    await add_student(bot, "5А", "Иванов", "Пётр")
    await add_student(bot, "6Б", "Кузнецов", "Илья")
    deputy = await staff_member(bot, StaffRole.DEPUTY, level=SchoolLevel.OOO)
    deputy.send_text("/reward")
    question = await deputy.wait_for("класс")
    for value in GARBAGE_IDS:
        pressed = deputy.press_callback(question.message_id, f"rw:school_class:{value}")
        assert "Нет доступа к этому классу" in (await pressed.wait_answer())["text"], value
    deputy.press("6Б")
    question = await deputy.wait_for("Класс 6Б. Кого поощрить?")
    for value in GARBAGE_IDS:
        pressed = deputy.press_callback(question.message_id, f"rw:student:{value}")
        assert (await pressed.wait_answer())["text"] in (
            "Эта кнопка устарела.",
            "Нет доступа к этому ученику.",
        ), value
        pressed = deputy.press_callback(question.message_id, f"rw:page:{value}")
        await pressed.wait_answer()
    await bot.server.idle()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    deputy.press("Кузнецов Илья")  # the dialogue goes on
    await deputy.wait_for("Выберите вид поощрения")
