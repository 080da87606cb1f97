"""The portfolio in the chat through the local Bot API server: paging in one edited message, an item with its
evidence, the PDF, a guardian's choice of child, the submitter's own submissions, forged buttons for
someone else's child, long titles full of HTML and emoji, and an empty portfolio."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlmodel import col, select

from bot.services import evidence
from bot.services.portfolio import academic_year
from bot.services.submissions import InputProblem, InvalidInput, validate_title
from models import (
    Account,
    Achievement,
    AuditEvent,
    EvidenceFile,
    GuardianLink,
    ResultsRequest,
    Reward,
    Student,
)
from models.enums import AchievementStatus, GuardianLinkStatus, Source, StaffRole, StudentStatus
from tests.harness import BotHarness
from tests.people import add_student, guardian_of, join, staff_member, student_code
from tests.tg_users import FakeUser

MENU = "📚 Портфолио"
_numbers = iter(range(1, 100_000))


def photo(seed: int) -> bytes:
    image = Image.new("RGB", (64, 48), (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


async def add_achievement(
    bot: BotHarness,
    student_id: int,
    title: str,
    event_date: date,
    *,
    status: AchievementStatus = AchievementStatus.APPROVED,
    category: str = "olympiad",
    submitted_by: int | None = None,
    reject_reason: str | None = None,
    photos: int = 0,
) -> Achievement:
    async with bot.session_factory() as session:
        achievement = Achievement(
            number=f"2026-{next(_numbers):04d}",
            student_id=student_id,
            submitted_by_account_id=submitted_by,
            category=category,
            level="regional",
            result="prize_winner",
            title=title,
            event_date=event_date,
            source=Source.OUR_SCHOOL,
            status=status,
            reject_reason=reject_reason,
        )
        session.add(achievement)
        await session.flush()
        for position in range(photos):
            stored = await evidence.store(bot.settings.media_dir, photo(achievement.id * 10 + position))
            session.add(
                EvidenceFile(
                    achievement_id=achievement.id,
                    position=position,
                    path=stored.path,
                    sha256=stored.sha256,
                    original_sha256=stored.original_sha256,
                    mime_type=stored.mime_type,
                    size=stored.size,
                )
            )
        await session.commit()
        return achievement


async def student_user(bot: BotHarness, student_id: int, first_name: str) -> FakeUser:
    return await join(bot.server.user(first_name=first_name), await student_code(bot, student_id))


async def account_of(bot: BotHarness, user: FakeUser) -> Account:
    async with bot.session_factory() as session:
        return (await session.exec(select(Account).where(Account.telegram_id == user.id))).one()


async def audits(bot: BotHarness, action: str) -> list[AuditEvent]:
    async with bot.session_factory() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
        return list((await session.exec(query)).all())


def pdf_text(bot: BotHarness, file_id: str) -> str:
    reader = PdfReader(io.BytesIO(bot.server.file_bytes(file_id)))
    return "\n".join(page.extract_text() for page in reader.pages)


def text_of(message: Any) -> str:
    return message.text or message.caption or ""


async def test_a_student_pages_opens_an_item_with_its_photo_and_downloads_the_pdf(bot: BotHarness) -> None:
    me = await add_student(bot, "7А", "Петрова", "Мария", "Ивановна")
    today = date.today()
    this_year, last_year = today, today - timedelta(days=400)
    titles = [f"Олимпиада № {i}" for i in range(7)] + [f"Конкурс прошлого года № {i}" for i in range(3)]
    achievements = [
        await add_achievement(bot, me, title, this_year if i < 7 else last_year, photos=1 if i == 0 else 0)
        for i, title in enumerate(titles)
    ]
    await add_achievement(bot, me, "Спартакиада", this_year, category="sport")
    async with bot.session_factory() as session:
        session.add(Reward(student_id=me, kind="gratitude", reason="За активное участие", granted_on=today))
        await session.commit()
    pupil = await student_user(bot, me, "Мария")
    assert [MENU] in pupil.reply_keyboard()

    messages_before = len(pupil.messages)
    pupil.send_text(MENU)
    first = await pupil.wait_for("Портфолио: Петрова Мария Ивановна")
    assert "7А класс" in text_of(first)
    assert "Подтверждённых достижений: 11 · поощрений: 1" in text_of(first)
    year_label = f"{academic_year(this_year)}/{(academic_year(this_year) + 1) % 100:02d}"
    assert f"{year_label} учебный год — 8" in text_of(first)
    assert "Предметная олимпиада — 7" in text_of(first) and "Спортивное соревнование — 1" in text_of(first)
    assert "Конкурс прошлого года" not in text_of(first)  # on page 2
    item_buttons = [row[0] for row in first.buttons if row[0][0].isdigit()]
    assert len(item_buttons) == 8 and item_buttons[0].startswith("1. ")
    assert ["стр. 1 из 2", "▶️"] in first.buttons
    assert ["📥 Скачать PDF"] in first.buttons
    assert not any("Мои заявки" in text for row in first.buttons for text in row)
    assert "Поощрения" not in text_of(first)  # the rewards close the last page

    pupil.press("▶️")
    second = await pupil.wait_for("стр. 2 из 2")
    assert second.edited and second.message_id == first.message_id
    assert "Конкурс прошлого года № 0" in text_of(second) and "Олимпиада № 0" not in text_of(second)
    assert "9. " in text_of(second)
    assert "🏅 Поощрения: 1" in text_of(second) and "За активное участие" in text_of(second)
    assert ["◀️", "стр. 2 из 2"] in second.buttons

    pressed = pupil.press("стр. 2 из 2")  # the same page again: Telegram says «not modified»
    await pressed.wait_answer()
    pupil.press("◀️")
    back = await pupil.wait_for("стр. 1 из 2")
    assert back.message_id == first.message_id
    assert len(pupil.messages) == messages_before + 1  # paging edits the one portfolio message

    pupil.press(f"7. {titles[0]}")
    details = await pupil.wait_for("Достижение № ")
    assert details.message_id == first.message_id and details.edited
    for expected in (
        achievements[0].number,
        "Название: Олимпиада № 0",
        "Категория: Предметная олимпиада",
        "Уровень: региональный",
        "Результат: призёр",
        f"Дата: {this_year:%d.%m.%Y}",
        "Получено: в нашей школе",
        "Статус: одобрено",
    ):
        assert expected in text_of(details)
    picture = await pupil.wait_for(f"📎 Достижение № {achievements[0].number}")
    assert picture.kind == "photo"
    pupil.press("◀️ К списку")
    listed = await pupil.wait_for("стр. 1 из 2")
    assert listed.message_id == first.message_id

    pupil.press("📥 Скачать PDF")
    document = await pupil.wait_for("[document:", timeout=15)
    assert document.file_name == "portfolio-petrova-mariia.pdf"
    text = pdf_text(bot, document.file_id or "")
    assert "Петрова Мария Ивановна" in text
    for title in [*titles, "Спартакиада"]:
        assert title in text
    assert "За активное участие" in text

    views = await audits(bot, "portfolio_viewed")
    assert len(views) == 5 and all(event.allowed and event.student_id == me for event in views)
    assert [event.details for event in views] == ["page=1", "page=2", "page=2", "page=1", "page=1"]
    [viewed] = await audits(bot, "evidence_viewed")
    assert viewed.allowed and viewed.object_id == str(achievements[0].id) and viewed.channel == "bot"
    [exported] = await audits(bot, "portfolio_exported")
    assert exported.allowed and exported.student_id == me


async def test_a_guardian_of_two_children_picks_one_and_the_child_is_named(bot: BotHarness) -> None:
    son = await add_student(bot, "5А", "Иванов", "Пётр")
    daughter = await add_student(bot, "3Б", "Иванова", "Анна")
    await add_achievement(bot, son, "Шахматный турнир сына", date.today())
    await add_achievement(bot, daughter, "Конкурс рисунков дочери", date.today())
    parent = await guardian_of(bot, son, daughter, first_name="Ольга")

    parent.send_text("/portfolio")
    picker = await parent.wait_for("Чьё портфолио открыть?")
    assert picker.buttons == [["Иванов Пётр"], ["Иванова Анна"]]
    parent.press("Иванов Пётр")
    page = await parent.wait_for("Портфолио: Иванов Пётр")
    assert page.message_id == picker.message_id
    assert "Шахматный турнир сына" in text_of(page) and "дочери" not in text_of(page)
    parent.press("👥 Другой ребёнок")
    await parent.wait_for("Чьё портфолио открыть?")
    parent.press("Иванова Анна")
    other = await parent.wait_for("Портфолио: Иванова Анна")
    assert "Конкурс рисунков дочери" in text_of(other) and "сына" not in text_of(other)
    assert other.message_id == picker.message_id

    await bot.restart()  # the buttons outlive the process: they carry ids, not state
    parent.press("👥 Другой ребёнок")
    await parent.wait_for("Чьё портфолио открыть?")
    parent.press("Иванов Пётр")
    assert (await parent.wait_for("Портфолио: Иванов Пётр")).message_id == picker.message_id
    stale = parent.press_callback(picker.message_id, "pf:gone:1:0:0")
    assert "Эта кнопка устарела" in (await stale.wait_answer())["text"]


async def test_the_submitter_sees_their_pending_and_rejected_with_the_reason(bot: BotHarness) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А", first_name="Елена")
    parent = await guardian_of(bot, child, first_name="Ольга")
    mine, theirs = (await account_of(bot, parent)).id, (await account_of(bot, teacher)).id
    today = date.today()
    await add_achievement(bot, child, "Одобренная олимпиада", today, submitted_by=mine)
    await add_achievement(
        bot, child, "Ждёт проверки", today, status=AchievementStatus.PENDING, submitted_by=mine
    )
    await add_achievement(
        bot,
        child,
        "Размытое фото",
        today,
        status=AchievementStatus.REJECTED,
        submitted_by=mine,
        reject_reason="unreadable",
    )
    await add_achievement(
        bot,
        child,
        "Не тот диплом",
        today,
        status=AchievementStatus.REJECTED,
        submitted_by=mine,
        reject_reason="Это диплом <брата> & сестры",
    )
    await add_achievement(
        bot, child, "Прислал учитель", today, status=AchievementStatus.PENDING, submitted_by=theirs
    )

    parent.send_text(MENU)
    page = await parent.wait_for("Портфолио: Иванов Пётр")
    assert "Одобренная олимпиада" in text_of(page)
    assert "Ждёт проверки" not in text_of(page) and "Прислал учитель" not in text_of(page)
    parent.press("📝 Мои заявки (3)")
    listing = await parent.wait_for("Мои заявки: Иванов Пётр")
    assert listing.message_id == page.message_id
    text = text_of(listing)
    assert "Ждёт проверки" in text and "на проверке" in text
    assert "Размытое фото" in text and "Причина: нечитаемое фото" in text
    assert "Причина: Это диплом <брата> & сестры" in text
    assert "Одобренная олимпиада" not in text and "Прислал учитель" not in text
    parent.press("◀️ К портфолио")
    assert (await parent.wait_for("Портфолио: Иванов Пётр")).message_id == page.message_id
    [viewed] = await audits(bot, "portfolio_submissions_viewed")
    assert viewed.allowed and viewed.student_id == child

    teacher.send_text("/portfolio")  # staff open a class's portfolios from «Мой класс»
    await teacher.wait_for("Мой класс")


@pytest.fixture
async def family(bot: BotHarness) -> dict[str, Any]:
    """Student A (5А) who joined; A's sibling in 3Б with the same guardian; a student of 5Б."""
    a = await add_student(bot, "5А", "Иванов", "Пётр")
    sibling = await add_student(bot, "3Б", "Иванова", "Анна")
    other = await add_student(bot, "5Б", "Кузнецов", "Илья")
    parent = await guardian_of(bot, a, sibling, first_name="Ольга")
    today = date.today()
    return {
        "a": a,
        "sibling": sibling,
        "other": other,
        "parent": parent,
        "pupil": await student_user(bot, a, "Пётр"),
        "own": await add_achievement(bot, a, "Моя олимпиада", today, photos=1),
        "own_pending": await add_achievement(bot, a, "Чужая заявка", today, status=AchievementStatus.PENDING),
        "sibling_item": await add_achievement(bot, sibling, "Секрет сестры", today, photos=1),
        "other_item": await add_achievement(bot, other, "Секрет соседа", today, photos=1),
    }


async def test_forged_buttons_for_a_sibling_or_another_class_are_refused_and_audited(
    bot: BotHarness, family: dict[str, Any]
) -> None:
    pupil: FakeUser = family["pupil"]
    pupil.send_text(MENU)
    page = await pupil.wait_for("Портфолио: Иванов Пётр")
    a, own = family["a"], family["own"].id
    forged: list[str] = []
    for student, item in (
        (family["sibling"], family["sibling_item"].id),
        (family["other"], family["other_item"].id),
    ):
        forged += [
            f"pf:page:{student}:0:0",
            f"pf:page:{student}:3:0",
            f"pf:mine:{student}:0:0",
            f"pf:pdf:{student}:0:0",
            f"pf:item:{student}:0:{item}",
            f"pf:item:{a}:0:{item}",  # another child's achievement under one's own id
            f"pf:item:{student}:0:{own}",  # one's own achievement under another child's id
        ]
    forged += ["pf:page:999999:0:0", f"pf:item:{a}:0:999999", f"pf:page:{2**70}:0:0"]
    for data in forged:
        pressed = pupil.press_callback(page.message_id, data)
        assert "Нет доступа" in (await pressed.wait_answer())["text"], data
    await bot.server.idle()
    assert pupil.read_all() == []  # nothing edited, nothing sent: no photo, no PDF
    denied = [
        event
        for action in (
            "portfolio_viewed",
            "portfolio_submissions_viewed",
            "portfolio_exported",
            "evidence_viewed",
        )
        for event in await audits(bot, action)
        if not event.allowed
    ]
    assert len(denied) == len(forged)
    assert {event.student_id for event in denied} >= {family["sibling"], family["other"]}
    actor = (await account_of(bot, pupil)).id
    assert all(event.actor_account_id == actor and event.channel == "bot" for event in denied)

    # The guardian sees A's approved items but not a pending one someone else sent.
    parent: FakeUser = family["parent"]
    parent.send_text(MENU)
    picker = await parent.wait_for("Чьё портфолио открыть?")
    pressed = parent.press_callback(picker.message_id, f"pf:item:{a}:0:{family['own_pending'].id}")
    assert "Нет доступа" in (await pressed.wait_answer())["text"]
    parent.press_callback(picker.message_id, f"pf:item:{a}:0:{own}")
    assert (await parent.wait_for("Моя олимпиада")).message_id == picker.message_id
    assert (await parent.wait_for(f"📎 Достижение № {family['own'].number}")).kind == "photo"


async def test_a_class_teacher_may_open_a_student_of_their_class_only(
    bot: BotHarness, family: dict[str, Any]
) -> None:
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А", first_name="Елена")
    teacher.send_text("🏫 Мой класс")
    chooser = await teacher.wait_for("Портфолио ученика 5А класса")
    assert chooser.buttons == [["Иванов Пётр"]]
    teacher.press("Иванов Пётр")
    page = await teacher.wait_for("Портфолио: Иванов Пётр")
    assert page.message_id != chooser.message_id and "Моя олимпиада" in text_of(page)
    teacher.press("1. Моя олимпиада")
    assert (await teacher.wait_for(f"📎 Достижение № {family['own'].number}")).kind == "photo"
    for data in (f"pf:open:{family['other']}:0:0", f"pf:item:{family['other']}:0:{family['other_item'].id}"):
        pressed = teacher.press_callback(chooser.message_id, data)
        assert "Нет доступа" in (await pressed.wait_answer())["text"]


async def test_long_titles_with_html_and_emoji_fit_the_page_and_are_shown_literally(bot: BotHarness) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_title("🏆<b>" * 60)  # 300 characters: the wizard refuses it
    assert error.value.problem == InputProblem.TITLE_TOO_LONG
    title = validate_title(("🏆 <b>Победа</b> & «ура» " * 10)[:200])
    assert len(title) == 200
    me = await add_student(bot, "9А", "Длинный<b>", "Заголовок&amp;" * 5)
    for _index in range(9):
        await add_achievement(bot, me, title, date.today())
    pupil = await student_user(bot, me, "Ученик")
    pupil.send_text(MENU)
    page = await pupil.wait_for("стр. 1 из 2")
    text = text_of(page)
    assert len(text) <= 4096
    assert "🏆 <b>Победа</b> & «ура»" in text  # literal, not bold: every value is escaped
    assert "Длинный<b>" in text
    pupil.press("1. 🏆")
    details = await pupil.wait_for("Достижение № ")
    assert f"Название: {title}" in text_of(details)  # the full title on the item
    pupil.press("◀️ К списку")
    await pupil.wait_for("стр. 1 из 2")
    pupil.press("📥 Скачать PDF")
    document = await pupil.wait_for("[document:", timeout=15)
    assert "Победа" in pdf_text(bot, document.file_id or "")


async def test_an_empty_portfolio_points_to_adding_an_achievement(bot: BotHarness) -> None:
    me = await add_student(bot, "2В", "Новикова", "Ева")
    pupil = await student_user(bot, me, "Ева")
    pupil.send_text("/portfolio")
    page = await pupil.wait_for("Портфолио: Новикова Ева")
    text = text_of(page)
    assert "Подтверждённых достижений пока нет" in text and "«➕ Добавить достижение»" in text
    assert "Поощрений пока нет" in text
    assert page.buttons == []
    [viewed] = await audits(bot, "portfolio_viewed")
    assert viewed.allowed and viewed.student_id == me


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: an emoji outside the BMP takes two units."""
    return len(text.encode("utf-16-le")) // 2


async def test_the_fullest_pages_stay_within_telegram_limits(bot: BotHarness) -> None:
    me = await add_student(bot, "11А", "😀" * 100, "😀" * 100)
    pupil = await student_user(bot, me, "Ученик")
    mine = (await account_of(bot, pupil)).id
    categories = [
        "elite_sport",
        "project",
        "contest",
        "conference",
        "additional_education",
        "self_government",
    ]
    for index in range(8):  # a year and a category header before every item
        event_date = date.today() - timedelta(days=366 * index)
        await add_achievement(bot, me, "🏆" * 200, event_date, category=categories[index % len(categories)])
        await add_achievement(
            bot,
            me,
            "🏆" * 200,
            event_date,
            status=AchievementStatus.REJECTED,
            submitted_by=mine,
            reject_reason="😡" * 500,
        )
    async with bot.session_factory() as session:
        for _index in range(5):
            session.add(
                Reward(
                    student_id=me,
                    kind="valuable_gift",
                    reason="🎉" * 500,
                    granted_on=date.today(),
                    order_number="😀" * 64,
                )
            )
        await session.commit()

    pupil.send_text(MENU)
    page = await pupil.wait_for("Портфолио:")
    assert "Поощрения: 5" in text_of(page) and "… и ещё 2 — в PDF." in text_of(page)
    assert "— 1" in text_of(page) and text_of(page).count("учебный год") == 8
    assert utf16_length(text_of(page)) <= 4096
    pupil.press("📝 Мои заявки (8)")
    listing = await pupil.wait_for("Мои заявки:")
    assert text_of(listing).count("Причина: 😡") == 8
    assert utf16_length(text_of(listing)) <= 4096
    pupil.press("◀️ К портфолио")
    await pupil.wait_for("Портфолио:")
    pupil.press("1. 🏆")
    details = await pupil.wait_for("Достижение № ")
    assert utf16_length(text_of(details)) <= 4096 and "🏆" * 200 in text_of(details)


async def test_a_student_tries_a_siblings_data_by_every_other_path(
    bot: BotHarness, family: dict[str, Any]
) -> None:
    """Besides the portfolio (above): the results request, the consent card, the reward wizard, /verify."""
    pupil: FakeUser = family["pupil"]
    sibling = family["sibling"]
    pupil.send_text("📄 Запросить результаты")
    question = await pupil.wait_for("Выписка о достижениях: Иванов Пётр")  # only themself to choose
    for data in (
        f"rq:scope:all_years:{sibling}",
        f"rq:scope:current_year:{sibling}",
        f"gc:open:{sibling}",
        f"gc:withdraw:{sibling}",
        f"gc:confirm:{sibling}",
        f"rw:student:{sibling}",
        f"pf:page:{sibling}:0:0",
    ):
        answer = (await pupil.press_callback(question.message_id, data).wait_answer())["text"]
        assert "Нет доступа" in answer or "не связан" in answer or "устарела" in answer, data
    pupil.send_text("/reward")
    await pupil.wait_for("Записывать поощрения могут")
    pupil.send_text("/verify AAAA-AAAB-ELZU-ITMU-ZELR-3YBE")
    await pupil.wait_for("только работники школы")
    await bot.server.idle()
    assert not any(name in text_of(m) for m in pupil.messages for name in ("Иванова", "Анна"))
    async with bot.session_factory() as session:
        assert (await session.exec(select(ResultsRequest))).all() == []
        assert (await session.exec(select(Reward))).all() == []
        link = (await session.exec(select(GuardianLink).where(GuardianLink.student_id == sibling))).one()
        denied = (await session.exec(select(AuditEvent).where(col(AuditEvent.allowed).is_(False)))).all()
    assert link.status == GuardianLinkStatus.CONFIRMED  # the pupil cannot withdraw their parent's consent
    assert {e.action for e in denied} >= {"extract_request_denied", "consent_withdrawn", "portfolio_viewed"}
    assert all(e.student_id in (sibling, None) for e in denied)


async def test_forged_ids_too_big_for_the_database_are_refused_politely_and_audited(
    bot: BotHarness, family: dict[str, Any]
) -> None:
    huge = 2**70  # fits a callback, not an SQLite integer
    parent: FakeUser = family["parent"]
    parent.send_text("📄 Запросить результаты")
    question = await parent.wait_for("По какому ребёнку")
    for data in (f"gc:open:{huge}", f"gc:withdraw:{huge}", f"gc:confirm:{huge}"):
        answer = (await parent.press_callback(question.message_id, data).wait_answer())["text"]
        assert "больше не действует" in answer, data  # never their child: not «этот ребёнок»
    parent.press("Иванов Пётр")
    question = await parent.wait_for("За какой период")
    answer = (await parent.press_callback(question.message_id, f"rq:scope:all_years:{huge}").wait_answer())[
        "text"
    ]
    assert "Нет доступа" in answer
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    teacher.send_text("/reward")
    question = await teacher.wait_for("Кого поощрить")
    answer = (await teacher.press_callback(question.message_id, f"rw:student:{huge}").wait_answer())["text"]
    assert "Нет доступа" in answer
    async with bot.session_factory() as session:
        denied = (await session.exec(select(AuditEvent).where(col(AuditEvent.allowed).is_(False)))).all()
    assert {e.action for e in denied} >= {"extract_request_denied", "reward_denied"}


async def test_the_family_of_a_student_who_left_is_told_so_and_gets_a_menu_without_the_child(
    bot: BotHarness,
) -> None:
    child = await add_student(bot, "9А", "Иванов", "Пётр")
    parent = await guardian_of(bot, child, first_name="Ольга")
    pupil = await student_user(bot, child, "Пётр")
    async with bot.session_factory() as session:
        student = await session.get(Student, child)
        assert student is not None
        student.status = StudentStatus.GRADUATED
        await session.commit()
    for person in (parent, pupil):
        for button in (MENU, "📄 Запросить результаты"):
            person.send_text(button)
            answer = await person.next_message()
            assert "больше не числится в школе" in text_of(answer), (person.label, button)
            assert person.reply_keyboard() == [["🌐 Язык", "❓ Помощь"]]
