"""The achievement wizard as parents, students and teachers use it, through the local Bot API server."""

from __future__ import annotations

import io
import logging
import random

import pytest
from PIL import Image
from sqlmodel import select

from bot.callbacks import SubmitCb, WithdrawCb
from models import Achievement, AuditEvent, EvidenceFile, Notification, Student
from models.enums import AchievementStatus, StaffRole
from tests.harness import BotHarness
from tests.people import add_student, guardian_of, staff_member
from tests.tg_users import FakeUser

OLYMPIAD = "Предметная олимпиада"


def photo(seed: int = 1, size: tuple[int, int] = (60, 40)) -> bytes:
    """A small distinct JPEG (a different seed gives different bytes)."""
    image = Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


async def answer_wizard(user: FakeUser, title: str = "Олимпиада по математике") -> None:
    """Category → level → result → title → today → our school → confirm."""
    await answer_wizard_after_evidence(user, title)


async def answer_wizard_after_evidence(user: FakeUser, title: str = "Олимпиада по математике") -> None:
    await user.wait_for("Выберите категорию")
    user.press(OLYMPIAD)
    await user.wait_for("Какого уровня")
    user.press("региональный")
    await user.wait_for("Какой результат")
    user.press("призёр")
    await user.wait_for("Напишите название")
    user.send_text(title)
    await user.wait_for("Когда было мероприятие")
    user.press("Сегодня")
    await user.wait_for("Где получено")
    user.press("в нашей школе")
    await user.wait_for("Проверьте, всё ли верно")
    user.press("✅ Подтвердить")


async def to_title_step(parent: FakeUser, seed: int = 1) -> None:
    """From sending a photo at the main menu to the title question (olympiad, school level, participant)."""
    parent.send_photo(photo(seed))
    await parent.wait_for("Выберите категорию")
    parent.press(OLYMPIAD)
    await parent.wait_for("Какого уровня")
    parent.press("школьный")
    await parent.wait_for("Какой результат")
    parent.press("участник")
    await parent.wait_for("Напишите название")


async def test_parent_sends_a_diploma_and_the_class_teacher_gets_the_card(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    parent = await guardian_of(bot, student_id)

    parent.send_text("➕ Добавить достижение")
    await parent.wait_for("Пришлите фото диплома")
    parent.send_photo(photo())
    await answer_wizard(parent)
    done = await parent.wait_for("отправлено на проверку")
    assert "№ " in done.text

    card = await teacher.wait_for("на проверку", timeout=10)
    assert card.kind == "photo"
    assert "Иванов Пётр, 5А" in card.caption and "призёр" in card.caption
    assert card.buttons == [["✅ Одобрить", "❌ Отклонить"], ["✏️ Исправить"]]
    async with bot.session_factory() as session:
        achievement = (await session.exec(select(Achievement))).one()
        assert achievement.status == AchievementStatus.PENDING and achievement.student_id == student_id
        assert len((await session.exec(select(EvidenceFile))).all()) == 1


async def test_a_photo_from_the_main_menu_starts_the_wizard(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_photo(photo())
    await answer_wizard(parent)
    await parent.wait_for("отправлено на проверку")


async def test_an_album_in_random_order_is_one_submission(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_text("➕ Добавить достижение")
    await parent.wait_for("Пришлите фото")
    order = [2, 0, 1]
    random.shuffle(order)
    parent.send_album(
        [(photo(1), "photo"), (photo(2), "photo"), (photo(3), "photo")],
        caption="Грамота за олимпиаду",
        caption_index=1,
        order=order,
    )
    await parent.wait_for("Выберите категорию")
    parent.press(OLYMPIAD)
    await parent.wait_for("Какого уровня")
    parent.press("школьный")
    await parent.wait_for("Какой результат")
    parent.press("победитель")
    await parent.wait_for("Напишите название")
    parent.press("Взять из подписи")
    await parent.wait_for("Когда было")
    parent.press("Сегодня")
    await parent.wait_for("Где получено")
    parent.press("в нашей школе")
    summary = await parent.wait_for("Проверьте")
    assert "Страниц: 3" in summary.text and "Грамота за олимпиаду" in summary.text
    parent.press("✅ Подтвердить")
    await parent.wait_for("отправлено на проверку")
    async with bot.session_factory() as session:
        assert len((await session.exec(select(Achievement))).all()) == 1
        assert len((await session.exec(select(EvidenceFile))).all()) == 3


async def test_a_file_over_20_mb_is_refused_without_downloading(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_text("➕ Добавить достижение")
    await parent.wait_for("Пришлите фото")
    parent.send_document(b"%PDF-1.4 tiny", "scan.pdf", file_size=21 * 1024 * 1024)
    refusal = await parent.wait_for("больше 20 МБ")
    assert "Сфотографируйте" in refusal.text
    assert bot.server.calls("getFile") == []


async def test_wrong_things_where_a_file_is_expected_get_a_re_prompt(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_text("➕ Добавить достижение")
    await parent.wait_for("Пришлите фото")
    for send in (lambda: parent.send_text("вот"), parent.send_voice, parent.send_sticker, parent.send_video):
        send()
        assert "Нужна фотография или скан" in (await parent.next_message()).text
    parent.send_document(b"just some text, not a picture", "diploma.jpg", "image/jpeg")
    assert "не похож на фото" in (await parent.next_message()).text
    parent.send_photo(photo())  # the dialogue goes on
    await parent.wait_for("Выберите категорию")


async def test_title_and_date_validation(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    await to_title_step(parent)
    parent.send_text("Х" * 1500)
    await parent.wait_for("Слишком длинное название")
    parent.send_text('Конкурс <b>"Юный химик"</b> & 🧪')
    await parent.wait_for("Когда было")
    parent.press("Другая дата")
    await parent.wait_for("ДД.ММ.ГГГГ")
    parent.send_text("31.02.2025")
    await parent.wait_for("Такой даты нет")
    parent.send_text("01.01.2099")
    await parent.wait_for("не может быть в будущем")
    parent.send_text("15.03.2025")
    await parent.wait_for("Где получено")
    parent.press("в другой организации")
    summary = await parent.wait_for("Проверьте")
    assert 'Конкурс <b>"Юный химик"</b> & 🧪' in summary.text and "15.03.2025" in summary.text


async def test_back_and_cancel(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_photo(photo())
    await parent.wait_for("Выберите категорию")
    parent.press(OLYMPIAD)
    await parent.wait_for("Какого уровня")
    parent.press("← Назад")
    await parent.wait_for("Выберите категорию")
    parent.press("Нормы ГТО")
    await parent.wait_for("Какого уровня")
    parent.press("школьный")
    result = await parent.wait_for("Какой результат")
    assert "золотой знак отличия" in str(result.buttons)
    parent.send_text("/cancel")
    await parent.wait_for("отменено")
    async with bot.session_factory() as session:
        assert (await session.exec(select(Achievement))).all() == []
    assert not list(bot.settings.media_dir.rglob("*.jpg")), "the cancelled draft's files are deleted"


async def test_a_guardian_of_two_children_picks_the_child(bot: BotHarness) -> None:
    first = await add_student(bot, "3Б", "Смирнова", "Алиса")
    second = await add_student(bot, "7А", "Смирнов", "Борис")
    parent = await guardian_of(bot, first, second)
    parent.send_text("➕ Добавить достижение")
    await parent.wait_for("Чьё это достижение")
    parent.press("Смирнов Борис")
    await parent.wait_for("Пришлите фото")
    parent.send_photo(photo())
    await answer_wizard(parent)
    await parent.wait_for("отправлено на проверку")
    async with bot.session_factory() as session:
        assert (await session.exec(select(Achievement))).one().student_id == second


async def test_a_forged_child_button_is_refused(bot: BotHarness) -> None:
    mine = await add_student(bot, "3Б", "Смирнова", "Алиса")
    other = await add_student(bot, "3Б", "Смирнов", "Борис")
    stranger_child = await add_student(bot, "9А", "Чужой", "Ребёнок")
    parent = await guardian_of(bot, mine, other)
    parent.send_text("➕ Добавить достижение")
    question = await parent.wait_for("Чьё это достижение")
    pressed = parent.press_callback(question.message_id, f"sb:child:{stranger_child}")
    answer = await pressed.wait_answer()
    assert "Нет доступа" in answer["text"]


async def test_class_teacher_submitting_for_their_class_is_approved_at_once(bot: BotHarness) -> None:
    await add_student(bot, "5А", "Иванов", "Пётр")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    teacher.send_text("➕ Добавить достижение")
    await teacher.wait_for("Выберите класс")
    teacher.press("5А")
    await teacher.wait_for("Отметьте ученика")
    teacher.press("Иванов Пётр")
    teacher.press("Готово")
    await teacher.wait_for("Пришлите фото")
    teacher.send_photo(photo())
    await answer_wizard(teacher)
    await teacher.wait_for("сразу одобрено")
    async with bot.session_factory() as session:
        assert (await session.exec(select(Achievement))).one().status == AchievementStatus.APPROVED
        assert (await session.exec(select(Notification))).all() == []


async def test_the_same_file_twice_is_flagged(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    for attempt in range(2):
        await to_title_step(parent, seed=7)
        parent.send_text("Олимпиада")
        await parent.wait_for("Когда было")
        parent.press("Сегодня")
        await parent.wait_for("Где получено")
        parent.press("в нашей школе")
        summary = await parent.wait_for("Проверьте")
        assert ("уже загружен" in summary.text) == (attempt == 1)
        parent.press("✅ Подтвердить")
        await parent.wait_for("отправлено на проверку")


async def test_restart_between_wizard_steps_loses_nothing(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_photo(photo())
    await parent.wait_for("Выберите категорию")
    parent.press(OLYMPIAD)
    await parent.wait_for("Какого уровня")
    await bot.restart()
    parent.press("региональный")
    await parent.wait_for("Какой результат")
    parent.press("призёр")
    await parent.wait_for("Напишите название")
    await bot.restart()
    parent.send_text("Олимпиада")
    await parent.wait_for("Когда было")
    parent.press("Сегодня")
    await parent.wait_for("Где получено")
    parent.press("в нашей школе")
    await parent.wait_for("Проверьте")
    parent.press("✅ Подтвердить")
    await parent.wait_for("отправлено на проверку")


async def test_submitter_withdraws_while_pending(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_photo(photo())
    await answer_wizard(parent)
    await parent.wait_for("отправлено на проверку")
    parent.press("↩️ Отозвать")
    await parent.wait_for("отозвано")
    async with bot.session_factory() as session:
        assert (await session.exec(select(Achievement))).one().status == AchievementStatus.WITHDRAWN


async def test_a_forged_withdraw_of_someone_elses_submission_is_refused_and_audited(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_photo(photo())
    await answer_wizard(parent)
    await parent.wait_for("отправлено на проверку")
    other_parent = await guardian_of(bot, student_id)  # the child's other guardian did not send it
    async with bot.session_factory() as session:
        achievement = (await session.exec(select(Achievement))).one()
    forged = WithdrawCb(achievement_id=achievement.id).pack()
    answer = await other_parent.press_callback(other_parent.last_message.message_id, forged).wait_answer()
    assert "только тот, кто прислал" in answer["text"]
    async with bot.session_factory() as session:
        assert (await session.get(Achievement, achievement.id)).status == AchievementStatus.PENDING
        denied = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "achievement_withdraw_denied"))
        ).one()
        assert (denied.allowed, denied.channel, denied.student_id) == (False, "bot", student_id)
        assert denied.object_id == str(achievement.id)


async def test_forged_wizard_presses_never_show_or_take_another_class(bot: BotHarness) -> None:
    own = await add_student(bot, "5А", "Иванов", "Пётр")
    sister = await add_student(bot, "7Б", "Иванова", "Ольга")
    stranger = await add_student(bot, "9В", "Чужой", "Ученик")
    parent = await guardian_of(bot, own, sister)
    parent.send_text("➕ Добавить достижение")
    question = await parent.wait_for("Чьё это достижение?")
    async with bot.session_factory() as session:
        class_9v = (await session.get(Student, stranger)).class_id
    parent.press_callback(question.message_id, SubmitCb(step="class", value=str(class_9v)).pack())
    picker = await parent.wait_for("Отметьте ученика")
    assert "Чужой" not in str(parent.buttons()) and "выбрано: 0" in str(parent.buttons())
    forged = SubmitCb(step="child", value=str(stranger)).pack()
    parent.send_text("/cancel")
    parent.send_text("➕ Добавить достижение")
    question = await parent.wait_for("Чьё это достижение?")
    answer = await parent.press_callback(question.message_id, forged).wait_answer()
    assert "Нет доступа" in answer["text"]
    assert picker.message_id != question.message_id
    async with bot.session_factory() as session:
        denied = (await session.exec(select(AuditEvent).where(AuditEvent.action == "submit_denied"))).one()
        assert (denied.allowed, denied.channel, denied.student_id) == (False, "bot", stranger)


async def test_a_coach_sends_a_team_diploma_for_two_students(bot: BotHarness) -> None:
    await add_student(bot, "7А", "Орлов", "Миша")
    await add_student(bot, "7А", "Соколова", "Нина")
    await add_student(bot, "7А", "Лишний", "Ученик")
    class_teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="7А")
    coach = await staff_member(bot, StaffRole.TEACHER)
    coach.send_photo(photo(5))
    await coach.wait_for("Выберите класс")
    coach.press("7А")
    await coach.wait_for("Отметьте ученика")
    assert "хотя бы одного" in (await coach.press("Готово").wait_answer())["text"]
    coach.press("Орлов Миша")
    await coach.wait_for("✅ Орлов Миша")
    coach.press("Соколова Нина")
    await coach.wait_for("выбрано: 2")
    coach.press("Готово")
    await answer_wizard_after_evidence(coach)
    summary_and_done = await coach.wait_for("Сохранено достижений: 2")
    assert "№" in summary_and_done.text
    cards = [await class_teacher.wait_for("на проверку", timeout=10) for _ in range(2)]
    assert {("Орлов" in c.caption) for c in cards} == {True, False}
    async with bot.session_factory() as session:
        achievements = (await session.exec(select(Achievement))).all()
        assert len(achievements) == 2 and all(a.status == AchievementStatus.PENDING for a in achievements)
        files = (await session.exec(select(EvidenceFile))).all()
        assert len(files) == 2 and files[0].path != files[1].path and files[0].sha256 == files[1].sha256


async def test_menu_buttons_and_commands_are_not_taken_as_the_title(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    await to_title_step(parent)
    parent.send_text("➕ Добавить достижение")
    assert "Сейчас вы добавляете достижение" in (await parent.next_message()).text
    parent.send_text("/help")
    assert "Портфолио" in (await parent.next_message()).text
    parent.send_photo(photo(2))
    assert "Напишите название мероприятия текстом" in (await parent.next_message()).text
    parent.send_text("Олимпиада")  # the draft is still there
    await parent.wait_for("Когда было")
    parent.press("Другая дата")
    await parent.wait_for("ДД.ММ.ГГГГ")
    parent.press("← Назад")
    await parent.wait_for("Когда было")


async def test_a_second_album_at_a_button_step_gets_one_answer(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_photo(photo())
    await parent.wait_for("Выберите категорию")
    parent.send_album([(photo(2), "photo"), (photo(3), "photo"), (photo(4), "photo")])
    await parent.wait_for("Сейчас вы добавляете достижение")
    await bot.server.idle()
    assert sum("Сейчас вы добавляете" in (m.text or "") for m in parent.messages) == 1


GARBAGE_IDS = ["abc", "", "-1", "0", "1.5", "²", "١٢", str(2**63), str(2**70)]  # none is a row's id


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_garbled_child_and_class_buttons_are_out_of_date_audited_and_the_wizard_goes_on(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    own = await add_student(bot, "5А", "Иванов", "Пётр")
    sister = await add_student(bot, "7Б", "Иванова", "Ольга")
    parent = await guardian_of(bot, own, sister)
    parent.send_text("➕ Добавить достижение")
    question = await parent.wait_for("Чьё это достижение?")
    for value in GARBAGE_IDS:
        for step in ("child", "class", "pick"):
            data = SubmitCb(step=step, value=value).pack()
            answer = await parent.press_callback(question.message_id, data).wait_answer()
            assert answer == {"text": "Эта кнопка устарела.", "show_alert": True, "url": None}, data
    await bot.server.idle()
    assert errors_logged(caplog) == []
    assert parent.read_all() == []  # nothing edited or sent: the question stands
    async with bot.session_factory() as session:
        denied = (await session.exec(select(AuditEvent).where(AuditEvent.action == "submit_denied"))).all()
    assert len(denied) == 2 * len(GARBAGE_IDS)  # the child and pick presses: nobody's child, but attempts
    assert {(e.allowed, e.student_id, e.channel) for e in denied} == {(False, None, "bot")}

    parent.press("Иванова Ольга")  # the dialogue goes on from the same question
    await parent.wait_for("Пришлите фото")
    parent.send_photo(photo())
    await parent.wait_for("Выберите категорию")
    parent.press(OLYMPIAD)
    await parent.wait_for("Какого уровня")
    parent.press("региональный")
    await parent.wait_for("Какой результат")
    parent.press("призёр")
    await parent.wait_for("Напишите название")
    parent.send_text("Олимпиада")
    question = await parent.wait_for("Когда было мероприятие")
    for value in ("yesterday", "", "abc"):
        data = SubmitCb(step="date", value=value).pack()
        answer = await parent.press_callback(question.message_id, data).wait_answer()
        assert answer["text"] == "Эта кнопка устарела.", data
    parent.press("Сегодня")
    await parent.wait_for("Где получено")
    parent.press("в нашей школе")
    await parent.wait_for("Проверьте, всё ли верно")
    parent.press("✅ Подтвердить")
    await parent.wait_for("отправлено на проверку")
    assert errors_logged(caplog) == []
    async with bot.session_factory() as session:
        assert [a.student_id for a in (await session.exec(select(Achievement))).all()] == [sister]


async def test_a_teachers_garbled_class_or_student_press_is_out_of_date_and_the_picker_stays(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    pupil = await add_student(bot, "5А", "Иванов", "Пётр")
    stranger = await add_student(bot, "9В", "Чужой", "Ученик")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    teacher.send_text("➕ Добавить достижение")
    question = await teacher.wait_for("Выберите класс")
    for value in [*GARBAGE_IDS, "999999"]:  # and a class that doesn't exist
        data = SubmitCb(step="class", value=value).pack()
        assert (await teacher.press_callback(question.message_id, data).wait_answer())["text"] == (
            "Эта кнопка устарела."
        ), data
        pressed = teacher.press_callback(question.message_id, SubmitCb(step="pick", value=value).pack())
        assert (await pressed.wait_answer())["text"] == "Эта кнопка устарела.", data  # no class chosen yet
    teacher.press("5А")
    picker = await teacher.wait_for("Отметьте ученика")
    for value in GARBAGE_IDS:
        data = SubmitCb(step="pick", value=value).pack()
        assert (await teacher.press_callback(picker.message_id, data).wait_answer())["text"] == (
            "Эта кнопка устарела."
        ), data
    forged = SubmitCb(step="pick", value=str(stranger)).pack()  # another class's: not on this picker
    assert (await teacher.press_callback(picker.message_id, forged).wait_answer())["text"] == (
        "Эта кнопка устарела."
    )
    await bot.server.idle()
    assert "выбрано: 0" in str(teacher.buttons()) and errors_logged(caplog) == []
    teacher.press("Иванов Пётр")
    teacher.press("Готово")
    await teacher.wait_for("Пришлите фото")
    teacher.send_photo(photo())
    await answer_wizard(teacher)
    await teacher.wait_for("сразу одобрено")
    async with bot.session_factory() as session:
        assert [a.student_id for a in (await session.exec(select(Achievement))).all()] == [pupil]
        denied = (await session.exec(select(AuditEvent).where(AuditEvent.action == "submit_denied"))).all()
    # Every press meant to pick a child, before and after the class: refused attempts on the register.
    assert sorted((e.student_id or 0) for e in denied) == [0] * (2 * len(GARBAGE_IDS) + 1) + [stranger]
    assert errors_logged(caplog) == []
