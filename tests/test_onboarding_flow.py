"""Onboarding as people live it: deep links and typed codes, consent, menus, bad codes, groups, restarts."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.services import invites
from models import (
    Account,
    AuditEvent,
    CodeAttempt,
    Consent,
    GuardianLink,
    Invite,
    StaffAssignment,
    Student,
)
from models.base import utcnow
from models.enums import ConsentDecision, GuardianLinkStatus, SchoolLevel, StaffRole
from tests.harness import BotHarness
from tests.people import TTL, add_student, guardian_code, staff_code, student_code


async def test_guardian_joins_by_deep_link_after_accepting_consent(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр", "Сергеевич")
    code = await guardian_code(bot, student_id)
    mother = bot.server.user(first_name="Мария")

    mother.send_text(f"/start {code}")
    consent = await mother.wait_for("Согласие на обработку персональных данных")
    assert "Иванов Пётр Сергеевич" in consent.text and "5А" in consent.text
    async with bot.session_factory() as session:  # nothing linked before consent
        assert (await session.exec(select(GuardianLink))).all() == []

    mother.press("✅ Принимаю")
    welcome = await mother.wait_for("Вы подключены как родитель")
    assert "Иванов Пётр Сергеевич" in welcome.text
    assert ["👨‍👩‍👧 Мои дети"] in mother.reply_keyboard()

    async with bot.session_factory() as session:
        link = (await session.exec(select(GuardianLink))).one()
        assert (link.student_id, link.status) == (student_id, GuardianLinkStatus.CONFIRMED)
        consent_row = (await session.exec(select(Consent))).one()
        assert (consent_row.decision, consent_row.student_id) == (ConsentDecision.GIVEN, student_id)
        assert (await session.exec(select(Invite))).one().used_at is not None
        actions = (await session.exec(select(AuditEvent.action))).all()
        assert "consent_given" in actions


async def test_a_consent_pressed_while_the_bot_was_busy_still_joins(bot: BotHarness) -> None:
    """Telegram refuses to answer a press older than about 15 s; the rest of the handler still runs."""
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    mother = bot.server.user(first_name="Мария")
    mother.send_text(f"/start {await guardian_code(bot, student_id)}")
    await mother.wait_for("Согласие на обработку")
    bot.server.callback_query_lifetime = 0.0  # every answer to a press now comes too late

    press = mother.press("✅ Принимаю")

    await mother.wait_for("Вы подключены как родитель")
    assert press.answer is None  # the answer was refused, and that was all
    async with bot.session_factory() as session:
        link = (await session.exec(select(GuardianLink))).one()
        assert (link.student_id, link.status) == (student_id, GuardianLinkStatus.CONFIRMED)


async def test_guardian_with_two_children_sees_both(bot: BotHarness) -> None:
    first = await add_student(bot, "3Б", "Смирнова", "Алиса")
    second = await add_student(bot, "7А", "Смирнов", "Борис")
    father = bot.server.user(first_name="Олег")
    for student_id in (first, second):
        father.send_text(f"/start {await guardian_code(bot, student_id)}")
        await father.wait_for("Согласие на обработку")
        father.press("✅ Принимаю")
        await father.wait_for("Вы подключены как родитель")

    father.send_text("👨‍👩‍👧 Мои дети")
    children = await father.wait_for("Ваши дети")
    assert "Смирнова Алиса, 3Б" in children.text and "Смирнов Борис, 7А" in children.text


async def test_child_with_two_guardians(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Петрова", "Вера")
    for telegram_id, name in ((501, "Мама"), (502, "Папа")):
        parent = bot.server.user(id=telegram_id, first_name=name)
        parent.send_text(f"/start {await guardian_code(bot, student_id)}")
        await parent.wait_for("Согласие")
        parent.press("✅ Принимаю")
        await parent.wait_for("Вы подключены как родитель")
    async with bot.session_factory() as session:
        links = (await session.exec(select(GuardianLink).where(GuardianLink.student_id == student_id))).all()
        assert len(links) == 2


async def test_student_types_the_code_after_start(bot: BotHarness) -> None:
    student_id = await add_student(bot, "9В", "Кузнецов", "Илья")
    code = await student_code(bot, student_id)
    pupil = bot.server.user(first_name="Илья")

    pupil.send_text("/start")
    await pupil.wait_for("отправьте сюда код приглашения")
    pupil.send_text(f"  {code}  ")
    consent = await pupil.wait_for("Согласие")
    assert "Вы подключаетесь как ученик" in consent.text
    pupil.press("✅ Принимаю")
    await pupil.wait_for("Вы подключены как ученик: Кузнецов Илья")
    pupil.send_text("🙋 Мой профиль")
    profile = await pupil.wait_for("Вы:")
    assert "Кузнецов Илья" in profile.text and "9В" in profile.text
    async with bot.session_factory() as session:
        student = await session.get(Student, student_id)
        assert student is not None and student.account_id is not None


async def test_a_pasted_link_works_as_a_code(bot: BotHarness) -> None:
    student_id = await add_student(bot, "2А", "Орлова", "Ника")
    code = await guardian_code(bot, student_id)
    parent = bot.server.user()
    parent.send_text("/start")
    await parent.next_message()
    parent.send_text(f"https://t.me/{bot.server.bot_username}?start={code}")
    await parent.wait_for("Согласие")


@pytest.mark.parametrize(
    ("role", "level", "class_label", "expected_role", "menu_entry"),
    [
        (StaffRole.ADMIN, None, None, "администратор", "📊 Подключение"),
        (StaffRole.DEPUTY, SchoolLevel.OOO, None, "заместитель директора, основное общее", "📊 Подключение"),
        (StaffRole.CLASS_TEACHER, None, "5А", "классный руководитель 5А", "🏫 Мой класс"),
        (StaffRole.TEACHER, None, None, "педагог", "❓ Помощь"),
    ],
)
async def test_staff_join_with_their_role(
    bot: BotHarness,
    role: StaffRole,
    level: SchoolLevel | None,
    class_label: str | None,
    expected_role: str,
    menu_entry: str,
) -> None:
    await add_student(bot, "5А", "Иванов", "Пётр")
    person = bot.server.user(first_name="Сотрудник")
    person.send_text(f"/start {await staff_code(bot, role, level, class_label)}")
    joined = await person.wait_for("Вы подключены как")
    assert expected_role in joined.text
    assert any(menu_entry in row for row in person.reply_keyboard())
    async with bot.session_factory() as session:
        assignment = (await session.exec(select(StaffAssignment))).one()
        assert (assignment.role, assignment.level) == (role, level)


async def test_class_teacher_sees_who_joined(bot: BotHarness) -> None:
    linked = await add_student(bot, "5А", "Алексеев", "Антон")
    await add_student(bot, "5А", "Борисова", "Бэлла")
    await add_student(bot, "6А", "Чужой", "Ученик")
    parent = bot.server.user()
    parent.send_text(f"/start {await guardian_code(bot, linked)}")
    await parent.wait_for("Согласие")
    parent.press("✅ Принимаю")
    await parent.wait_for("Вы подключены")

    teacher = bot.server.user(first_name="Классный")
    teacher.send_text(f"/start {await staff_code(bot, StaffRole.CLASS_TEACHER, class_label='5А')}")
    await teacher.wait_for("Вы подключены как")
    teacher.send_text("🏫 Мой класс")
    roster = await teacher.wait_for("5А класс")
    assert "учеников 2, подключены родители у 1" in roster.text
    assert "✅ Алексеев Антон" in roster.text and "▫️ Борисова Бэлла" in roster.text
    assert "Чужой" not in roster.text
    async with bot.session_factory() as session:
        viewed = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "class_roster_viewed"))
        ).all()
        stranger = (await session.exec(select(Student.id).where(Student.surname == "Чужой"))).one()
    assert len(viewed) == 2 and stranger not in {e.student_id for e in viewed}
    assert linked in {e.student_id for e in viewed}
    assert {(e.object_type, e.channel, e.allowed) for e in viewed} == {("class", "bot", True)}


async def test_a_person_with_several_roles_gets_all_menus(bot: BotHarness) -> None:
    child = await add_student(bot, "4А", "Сидоров", "Миша")
    teacher_parent = bot.server.user(first_name="Учитель-родитель")
    teacher_parent.send_text(f"/start {await staff_code(bot, StaffRole.CLASS_TEACHER, class_label='4А')}")
    await teacher_parent.wait_for("Вы подключены как")
    teacher_parent.send_text(f"/start {await guardian_code(bot, child)}")
    await teacher_parent.wait_for("Согласие")
    teacher_parent.press("✅ Принимаю")
    await teacher_parent.wait_for("Вы подключены как родитель")
    keyboard = [text for row in teacher_parent.reply_keyboard() for text in row]
    assert "👨‍👩‍👧 Мои дети" in keyboard and "🏫 Мой класс" in keyboard


async def test_wrong_expired_and_used_codes_get_distinct_answers(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    used = await guardian_code(bot, student_id)
    async with bot.session_factory() as session:
        expired = (
            await invites.create_guardian_invite(session, student_id, TTL, now=utcnow() - timedelta(days=31))
        ).code
    first = bot.server.user()
    first.send_text(f"/start {used}")
    await first.wait_for("Согласие")
    first.press("✅ Принимаю")
    await first.wait_for("Вы подключены")

    other = bot.server.user()
    other.send_text("/start not-a-real-code-at-all")
    assert "код не найден" in (await other.next_message()).text.lower()
    other.send_text(f"/start {expired}")
    assert "Срок действия этого кода истёк" in (await other.next_message()).text
    other.send_text(f"/start {used}")
    assert "Этот код уже использован" in (await other.next_message()).text


async def test_guessing_codes_is_stopped_by_a_cooldown(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    good = await guardian_code(bot, student_id)
    guesser = bot.server.user()
    for attempt in range(5):
        guesser.send_text(f"/start guess{attempt:02d}" + "A" * 36)  # well-formed, 43 characters
        assert "не найден" in (await guesser.next_message()).text
    guesser.send_text(f"/start {good}")  # even a right code waits out the cooldown
    blocked = await guesser.next_message()
    assert "Слишком много неверных кодов" in blocked.text
    async with bot.session_factory() as session:
        assert len((await session.exec(select(CodeAttempt))).all()) == 5
        cooldowns = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "invite_code_cooldown"))
        ).all()
        assert len(cooldowns) == 1 and cooldowns[0].allowed is False
        assert (await session.exec(select(Invite))).one().used_at is None


async def test_declining_consent_stores_only_the_decline(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    code = await guardian_code(bot, student_id)
    parent = bot.server.user()
    parent.send_text(f"/start {code}")
    await parent.wait_for("Согласие")
    parent.press("❌ Не принимаю")
    await parent.wait_for("Ничего, кроме вашего отказа, не сохранено")
    async with bot.session_factory() as session:
        assert (await session.exec(select(GuardianLink))).all() == []
        assert (await session.exec(select(Consent.decision))).all() == [ConsentDecision.DECLINED]
        assert (await session.exec(select(Invite))).one().used_at is None

    parent.send_text(f"/start {code}")  # changed their mind: the same code still works
    await parent.wait_for("Согласие")
    parent.press("✅ Принимаю")
    await parent.wait_for("Вы подключены как родитель")


async def test_group_chats_get_a_polite_refusal_and_no_data(bot: BotHarness) -> None:
    await add_student(bot, "5А", "Иванов", "Пётр")
    group = bot.server.group(-100200300, "Родители 5А")
    parent = bot.server.user()
    parent.send_text("/help", chat=group)
    refusal = await group.wait_for("только в личных сообщениях")
    assert "Иванов" not in refusal.text
    parent.send_text("всем привет", chat=group)
    await bot.server.idle()
    assert len(group.messages) == 1
    async with bot.session_factory() as session:
        assert (await session.exec(select(Account))).all() == []


async def test_a_code_posted_in_a_group_is_revoked(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    code = await guardian_code(bot, student_id)
    group = bot.server.group(-100200300, "Родители 5А")
    parent = bot.server.user()
    parent.send_text(f"/start {code}", chat=group)
    warning = await group.wait_for("отозвал")
    assert "Иванов" not in warning.text
    parent.send_text(f"/start {code}")
    assert "отозван" in (await parent.next_message()).text
    async with bot.session_factory() as session:
        assert (await session.exec(select(Invite))).one().revoked_at is not None


async def test_a_restart_between_two_steps_loses_nothing(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = bot.server.user()
    parent.send_text(f"/start {await guardian_code(bot, student_id)}")
    await parent.wait_for("Согласие")

    await bot.restart()

    parent.press("✅ Принимаю")
    await parent.wait_for("Вы подключены как родитель")


async def test_typing_fast_keeps_the_order(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    code = await guardian_code(bot, student_id)
    parent = bot.server.user()
    parent.send_text("/start")
    parent.send_text(code)  # sent before the bot answered the first message
    await parent.wait_for("Согласие")


async def test_names_with_html_characters_are_shown_as_written(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "<b>Д'Артаньян</b> & Ко", "Шарль 😀")
    parent = bot.server.user()
    parent.send_text(f"/start {await guardian_code(bot, student_id)}")
    consent = await parent.wait_for("Согласие")
    assert "<b>Д'Артаньян</b> & Ко Шарль 😀" in consent.text


async def test_language_switch_to_english(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = bot.server.user()
    parent.send_text(f"/start {await guardian_code(bot, student_id)}")
    await parent.wait_for("Согласие")
    parent.press("✅ Принимаю")
    await parent.wait_for("Вы подключены")
    parent.send_text("/lang")
    await parent.wait_for("Choose your language")
    parent.press("English")
    await parent.wait_for("Language: 🇬🇧 English")
    await parent.wait_for("Menu updated")
    assert ["👨‍👩‍👧 My children"] in parent.reply_keyboard()
    parent.send_text("/help")
    assert "For parents" in (await parent.next_message()).text


async def test_commands_are_set_in_russian_and_english(bot: BotHarness) -> None:
    russian = {c["command"]: c["description"] for c in bot.server.my_commands("ru")}
    english = {c["command"]: c["description"] for c in bot.server.my_commands("en")}
    default = {c["command"]: c["description"] for c in bot.server.my_commands("")}
    assert russian["help"] == "Справка" and english["help"] == "Help" and default == russian


async def test_unknown_text_from_a_stranger_asks_for_the_code(bot: BotHarness) -> None:
    stranger = bot.server.user()
    stranger.send_text("здравствуйте")
    assert "код приглашения" in (await stranger.next_message()).text
    stranger.send_sticker()
    assert "код приглашения" in (await stranger.next_message()).text


async def test_the_apology_reaches_the_user_when_a_handler_fails(bot: BotHarness) -> None:
    stranger = bot.server.user()
    bot.server.fail_next("sendMessage", error_code=400, description="Bad Request: something odd")
    stranger.send_text("/start")
    assert "что-то пошло не так" in (await stranger.next_message()).text


async def test_two_people_redeeming_one_code_at_once_do_not_stall_the_bot(bot: BotHarness) -> None:
    for _round in range(3):
        code = await staff_code(bot, StaffRole.TEACHER)
        first, second = bot.server.user(), bot.server.user()
        first.send_text(f"/start {code}")
        second.send_text(f"/start {code}")
        started = time.monotonic()
        answers = [(await first.next_message(timeout=3)).text, (await second.next_message(timeout=3)).text]
        assert time.monotonic() - started < 2
        assert sum("Вы подключены как" in a for a in answers) == 1
        assert sum("уже использован" in a for a in answers) == 1


async def test_accept_under_an_earlier_childs_consent_does_not_link_another_child(bot: BotHarness) -> None:
    alice = await add_student(bot, "3Б", "Смирнова", "Алиса")
    boris = await add_student(bot, "7А", "Смирнов", "Борис")
    father = bot.server.user()
    father.send_text(f"/start {await guardian_code(bot, alice)}")
    alice_consent = await father.wait_for("Смирнова Алиса")
    father.send_text(f"/start {await guardian_code(bot, boris)}")
    await father.wait_for("Смирнов Борис")
    answer = await father.press("✅ Принимаю", message=alice_consent).wait_answer()
    assert "откройте ссылку" in answer["text"].lower()
    father.press("✅ Принимаю")  # under Boris's consent
    await father.wait_for("Вы подключены как родитель ученика: Смирнов Борис")
    async with bot.session_factory() as session:
        assert (await session.exec(select(GuardianLink.student_id))).all() == [boris]


async def test_chatting_and_commands_while_asked_for_a_code_are_not_wrong_codes(bot: BotHarness) -> None:
    code = await guardian_code(bot, await add_student(bot, "5А", "Иванов", "Пётр"))
    parent = bot.server.user()
    for text in ["/start", "здравствуйте", "/help", "/cancel", "у меня нет кода", "???", "/start"]:
        parent.send_text(text)
        await parent.next_message()
    async with bot.session_factory() as session:
        assert (await session.exec(select(CodeAttempt))).all() == []
    parent.send_text(code)
    assert "Согласие" in (await parent.next_message()).text


async def test_commands_work_at_the_consent_step(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = bot.server.user()
    parent.send_text(f"/start {await guardian_code(bot, student_id)}")
    await parent.wait_for("Согласие")
    parent.send_text("/help")
    assert "Портфолио" in (await parent.next_message()).text
    parent.send_text("/cancel")
    assert "отменено" in (await parent.next_message()).text
    async with bot.session_factory() as session:
        assert (await session.exec(select(GuardianLink))).all() == []


async def test_a_student_cannot_take_the_parents_code_nor_a_parent_the_students(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    pupil = bot.server.user()
    pupil.send_text(f"/start {await student_code(bot, student_id)}")
    await pupil.wait_for("Согласие")
    pupil.press("✅ Принимаю")
    await pupil.wait_for("Вы подключены как ученик")
    pupil.send_text(f"/start {await guardian_code(bot, student_id)}")
    assert "Это код для родителя" in (await pupil.next_message()).text

    parent = bot.server.user()
    parent.send_text(f"/start {await guardian_code(bot, student_id)}")
    await parent.wait_for("Согласие")
    parent.press("✅ Принимаю")
    await parent.wait_for("Вы подключены как родитель")
    parent.send_text(f"/start {await student_code(bot, student_id)}")
    assert "Это код для самого ученика" in (await parent.next_message()).text


async def test_blocking_the_bot_marks_the_person_unreachable(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = bot.server.user()
    parent.send_text(f"/start {await guardian_code(bot, student_id)}")
    await parent.wait_for("Согласие")
    parent.block()
    await bot.server.idle()
    async with bot.session_factory() as session:
        assert (await session.exec(select(Account))).one().reachable is False
