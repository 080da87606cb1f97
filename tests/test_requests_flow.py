"""Results requests (regulation 6.4) through the local Bot API server: the extract, the class teacher's
notice, /verify by staff, and refusals."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import sqlite3
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlmodel import select

from bot.reports import extract as extract_report
from bot.services import results_requests
from bot.services.numbering import next_number
from bot.services.portfolio import academic_year, academic_year_label
from bot.services.results_requests import register_request
from models import Achievement, AuditEvent, Counter, Notification, ResultsRequest, Student
from models.db import SessionFactory
from models.enums import AchievementStatus, RequestScope, Source, StaffRole
from tests.factories import make_school
from tests.harness import BotHarness
from tests.people import add_student, guardian_code, guardian_of, join, staff_member, student_code


async def approve(bot: BotHarness, student_id: int, title: str, number: str, event_date: date) -> None:
    async with bot.session_factory() as session:
        session.add(
            Achievement(
                number=number,
                student_id=student_id,
                category="olympiad",
                level="regional",
                result="prize_winner",
                title=title,
                event_date=event_date,
                source=Source.OUR_SCHOOL,
                status=AchievementStatus.APPROVED,
            )
        )
        await session.commit()


def pdf_text(bot: BotHarness, file_id: str) -> str:
    reader = PdfReader(io.BytesIO(bot.server.file_bytes(file_id)))
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_a_parent_requests_an_extract_and_staff_verify_it(bot: BotHarness) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    sibling = await add_student(bot, "3Б", "Иванова", "Анна")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А", first_name="Елена")
    deputy = await staff_member(bot, StaffRole.TEACHER, first_name="Олег")
    parent = await guardian_of(bot, child, sibling, first_name="Ольга")
    today = date.today()
    await approve(bot, child, "Олимпиада по математике", "2026-0001", today)
    await approve(bot, child, "Старый конкурс чтецов", "2026-0002", today - timedelta(days=800))
    await approve(bot, sibling, "Турнир сестры по шахматам", "2026-0003", today)

    assert ["📄 Запросить результаты"] in parent.reply_keyboard()
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("По какому ребёнку")
    parent.press("Иванов Пётр")
    await parent.wait_for("За какой период")
    parent.press("Текущий учебный год")
    document = await parent.wait_for("по запросу от", timeout=10)
    assert document.kind == "document"
    async with bot.session_factory() as session:
        request = (await session.exec(select(ResultsRequest))).one()
    assert request.student_id == child and request.scope == RequestScope.CURRENT_YEAR
    assert request.verification_code and request.extract_sha256
    assert request.achievements_count == 1
    assert document.content["document"]["file_name"] == f"vypiska-{request.number}.pdf"
    assert f"Выписка № {request.number}" in (document.caption or "")

    text = pdf_text(bot, document.file_id or "")
    assert "Иванов Пётр" in text and request.number in text
    assert "Олимпиада по математике" in text
    assert "Старый конкурс" not in text and "Турнир сестры" not in text and "Иванова" not in text

    notice = await teacher.wait_for("Запрос результатов", timeout=10)
    assert request.number in (notice.text or "") and "выписка выдана" in (notice.text or "")

    deputy.send_text(f"/verify {request.verification_code}")
    confirmed = await deputy.wait_for("✅ Выписка")
    assert request.number in (confirmed.text or "") and "Иванов Пётр" in (confirmed.text or "")
    assert "достижений 1" in (confirmed.text or "")

    code = request.verification_code
    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")
    deputy.send_text(f"/verify {tampered}")
    await deputy.wait_for("❌ Код не найден или изменён")

    deputy.send_text("/verify")
    await deputy.wait_for("Пришлите код")
    deputy.send_text(f"verify:{code}")
    await deputy.wait_for("✅ Выписка")

    parent.send_text(f"/verify {code}")
    await parent.wait_for("только работники школы")
    async with bot.session_factory() as session:
        verified = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "extract_verified"))
        ).all()
        issued = (await session.exec(select(AuditEvent).where(AuditEvent.action == "extract_issued"))).all()
    assert [event.allowed for event in verified] == [True, True, True, False]
    assert len(issued) == 1 and issued[0].object_id == str(request.id)


async def test_a_forged_scope_button_for_another_family_is_refused(bot: BotHarness) -> None:
    mine = await add_student(bot, "3Б", "Смирнова", "Алиса")
    other = await add_student(bot, "3Б", "Смирнов", "Борис")
    stranger_child = await add_student(bot, "9А", "Чужой", "Ребёнок")
    parent = await guardian_of(bot, mine, other)
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("По какому ребёнку")
    parent.press("Смирнова Алиса")
    question = await parent.wait_for("За какой период")

    pressed = parent.press_callback(question.message_id, f"rq:scope:current_year:{stranger_child}")
    assert "Нет доступа" in (await pressed.wait_answer())["text"]
    forged_child = parent.press_callback(question.message_id, f"rq:child:{stranger_child}")
    assert (await forged_child.wait_answer())["text"]
    async with bot.session_factory() as session:
        assert (await session.exec(select(ResultsRequest))).all() == []


async def test_a_student_requests_their_own_extract_without_choosing(bot: BotHarness) -> None:
    student_id = await add_student(bot, "10А", "Петрова", "Мария")
    pupil = await join(bot.server.user(first_name="Мария"), await student_code(bot, student_id))
    pupil.send_text("📄 Запросить результаты")
    await pupil.wait_for("За какой период")
    pupil.press("Все годы")
    document = await pupil.wait_for("по запросу от", timeout=10)
    assert document.kind == "document"
    async with bot.session_factory() as session:
        request = (await session.exec(select(ResultsRequest))).one()
    assert request.scope == RequestScope.ALL_YEARS and request.requester_account_id is not None


async def test_a_menu_button_at_the_code_prompt_leaves_the_prompt(bot: BotHarness) -> None:
    teacher = await staff_member(bot, StaffRole.TEACHER)
    teacher.send_text("/verify")
    await teacher.wait_for("Пришлите код")
    teacher.send_text("❓ Помощь")
    assert "Проверка кода отменена" in (await teacher.next_message()).text


async def test_the_menu_button_pressed_again_mid_request_starts_it_over(bot: BotHarness) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    sibling = await add_student(bot, "3Б", "Иванова", "Анна")
    parent = await guardian_of(bot, child, sibling)
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("По какому ребёнку")
    parent.send_text("📄 Запросить результаты")  # a clumsy second tap: the question again, not «не понимаю»
    assert "По какому ребёнку" in ((await parent.next_message()).text or "")
    parent.press("Иванова Анна")
    await parent.wait_for("За какой период")
    parent.send_text("📄 Запросить результаты")
    again = await parent.next_message()
    assert "По какому ребёнку" in (again.text or "")
    parent.press("Иванов Пётр")
    await parent.wait_for("Выписка о достижениях: Иванов Пётр")
    parent.press("Все годы")
    document = await parent.wait_for("по запросу от", timeout=10)
    assert "Иванов Пётр" in (document.caption or "")
    async with bot.session_factory() as session:
        assert [r.student_id for r in (await session.exec(select(ResultsRequest))).all()] == [child]


async def test_a_request_left_half_way_does_not_block_a_photo_or_another_menu_button(bot: BotHarness) -> None:
    from tests.test_submission_flow import photo

    child = await add_student(bot, "5А", "Иванов", "Пётр")
    sibling = await add_student(bot, "3Б", "Иванова", "Анна")
    parent = await guardian_of(bot, child, sibling)
    teacher_parent = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    await join(teacher_parent, await guardian_code(bot, sibling))

    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("По какому ребёнку")
    parent.send_photo(photo())  # changed their mind: a diploma instead
    assert "Не понимаю" not in ((await parent.next_message()).text or "")
    parent.send_text("/cancel")
    await parent.wait_for("отменено")
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("По какому ребёнку")
    parent.send_text("➕ Добавить достижение")
    assert "Не понимаю" not in ((await parent.next_message()).text or "")

    teacher_parent.send_text("📄 Запросить результаты")
    await teacher_parent.wait_for("За какой период")
    teacher_parent.send_text("🏅 Поощрить")
    await teacher_parent.wait_for("Класс 5А. Кого поощрить?")


async def test_a_current_year_extract_names_its_academic_year_when_issued_and_when_verified_later(
    bot: BotHarness,
) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, child, first_name="Ольга")
    teacher = await staff_member(bot, StaffRole.TEACHER, first_name="Олег")
    this_year = academic_year_label(academic_year(date.today()))
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("За какой период")
    parent.press("Текущий учебный год")
    document = await parent.wait_for("по запросу от", timeout=10)
    assert f"Иванов Пётр, {this_year} учебный год." in (document.caption or "")

    # An extract issued in the spring of the previous academic year, checked now.
    issued_at = datetime(academic_year(date.today()), 4, 15, 10, 30, tzinfo=bot.settings.tz)
    async with bot.session_factory() as session:
        requester = (await session.exec(select(ResultsRequest))).one().requester_account_id
        assert requester is not None
        old = await register_request(
            session, requester, child, RequestScope.CURRENT_YEAR, issued_at, bot.settings.secret_key, "Школа"
        )
    last_year = academic_year_label(academic_year(issued_at.date()))
    teacher.send_text(f"/verify {old.request.verification_code}")
    confirmed = await teacher.wait_for("✅ Выписка")
    assert f"период: {last_year} учебный год," in (confirmed.text or "")
    assert "текущий" not in (confirmed.text or "")


async def test_scanning_the_extracts_qr_code_opens_the_bot_and_a_staff_member_sees_the_check(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    printed: list[str] = []
    draw = extract_report.qr_image
    monkeypatch.setattr(extract_report, "qr_image", lambda data: printed.append(data) or draw(data))
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, child, first_name="Ольга")
    teacher = await staff_member(bot, StaffRole.TEACHER, first_name="Олег")
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("За какой период")
    parent.press("Все годы")
    await parent.wait_for("по запросу от", timeout=10)
    async with bot.session_factory() as session:
        request = (await session.exec(select(ResultsRequest))).one()
    assert request.verification_code is not None
    raw = request.verification_code.replace("-", "")
    # A phone's camera opens the link in Telegram, which sends «/start PAYLOAD» to the bot.
    assert printed == [f"https://t.me/{bot.server.bot_username}?start=verify_{raw}"]
    payload = printed[0].split("?start=")[1]
    assert len(payload) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", payload)

    teacher.send_text(f"/start {payload}")
    confirmed = await teacher.wait_for("✅ Выписка")
    assert request.number in (confirmed.text or "") and "Иванов Пётр" in (confirmed.text or "")
    teacher.send_text(f"/start {payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}")
    await teacher.wait_for("❌ Код не найден или изменён")
    parent.send_text(f"/start {payload}")  # the family scans their own extract
    await parent.wait_for("только работники школы")
    async with bot.session_factory() as session:
        verified = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "extract_verified"))
        ).all()
    assert [(event.allowed, event.student_id) for event in verified] == [
        (True, child),
        (True, None),
        (False, None),
    ]


async def test_help_tells_families_how_to_request_results_and_staff_how_to_check_an_extract(
    bot: BotHarness,
) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, child)
    pupil = await join(bot.server.user(), await student_code(bot, child))
    coach = await staff_member(bot, StaffRole.TEACHER)
    for person in (parent, pupil):
        person.send_text("/help")
        text = (await person.wait_for("Команды:")).text or ""
        assert "«📄 Запросить результаты»" in text and "/verify" not in text
    assert "отозвать согласие на обработку данных ребёнка" in (parent.last_message.text or "")
    coach.send_text("/help")
    text = (await coach.wait_for("Команды:")).text or ""
    assert "/verify" in text and "QR-код" in text and "Запросить результаты" not in text


async def test_verifying_after_the_student_moved_up_a_class_names_the_class_on_the_extract_and_now(
    bot: BotHarness,
) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, child)
    teacher = await staff_member(bot, StaffRole.TEACHER)
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("За какой период")
    parent.press("Все годы")
    document = await parent.wait_for("по запросу от", timeout=10)
    assert "Класс: 5А" in pdf_text(bot, document.file_id or "")
    async with bot.session_factory() as session:
        request = (await session.exec(select(ResultsRequest))).one()
    assert request.class_label == "5А"  # registered with the class printed on the extract
    teacher.send_text(f"/verify {request.verification_code}")
    text = (await teacher.wait_for("✅ Выписка")).text or ""
    assert "ученик Иванов Пётр, класс 5А, период:" in text and "сейчас" not in text

    moved = await add_student(bot, "6А", "Другой", "Ученик")  # creates 6А
    async with bot.session_factory() as session:
        student, other = await session.get(Student, child), await session.get(Student, moved)
        assert student is not None and other is not None
        student.class_id = other.class_id  # September: the roster moves the class up
        await session.commit()
    teacher.send_text(f"/verify {request.verification_code}")
    text = (await teacher.wait_for("(сейчас в классе 6А)")).text or ""
    assert "ученик Иванов Пётр, класс 5А (сейчас в классе 6А), период:" in text


async def test_verifying_an_extract_registered_before_its_class_was_kept_names_only_the_class_now(
    bot: BotHarness,
) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, child)
    teacher = await staff_member(bot, StaffRole.TEACHER)
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("За какой период")
    parent.press("Все годы")
    await parent.wait_for("по запросу от", timeout=10)
    async with bot.session_factory() as session:
        request = (await session.exec(select(ResultsRequest))).one()
        request.class_label = None  # as migration 0005 leaves the requests registered before it
        await session.commit()
    teacher.send_text(f"/verify {request.verification_code}")
    text = (await teacher.wait_for("✅ Выписка")).text or ""
    assert "ученик Иванов Пётр (сейчас в классе 5А), период:" in text and "класс 5А" not in text


async def test_the_extract_is_drawn_in_a_thread_while_nobody_holds_the_write_lock(
    session_factory: SessionFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = await make_school(session_factory)
    child = school.students_5a[0]
    async with session_factory() as session:
        for number in range(3):
            session.add(
                Achievement(number=f"2026-{number + 1:04d}", student_id=child.id, category="olympiad",
                            level="regional", result="winner", title=f"Олимпиада {number}",
                            event_date=date(2026, 10, 1), source=Source.OUR_SCHOOL,
                            status=AchievementStatus.APPROVED)
            )  # fmt: skip
        await session.commit()
    drawing, drawn = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    draw = results_requests.build_extract

    def slow_build(*args: object, **kwargs: object) -> bytes:
        threads.append(threading.current_thread())
        drawing.set()
        assert drawn.wait(10), "the event loop was blocked while the PDF was drawn"
        return draw(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(results_requests, "build_extract", slow_build)
    now = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))

    async def request() -> results_requests.IssuedExtract:
        async with session_factory() as session:
            return await register_request(
                session,
                school.guardian.id,
                child.id,
                RequestScope.ALL_YEARS,
                now,
                "secret",
                "Школа",  # type: ignore[arg-type]
            )

    task = asyncio.create_task(request())
    assert await asyncio.to_thread(drawing.wait, 10)

    def write_elsewhere() -> None:  # another connection, which gives up on a held lock within 0.2 s
        with sqlite3.connect(tmp_path / "portfolio.sqlite3", timeout=0.2) as other:
            other.execute("INSERT INTO counter (name, value) VALUES ('probe', 1)")

    await asyncio.to_thread(write_elsewhere)  # raises «database is locked» while the request holds it
    async with session_factory() as session:  # and the loop goes on serving others meanwhile
        await next_number(session, "submission", 2026)
        await session.commit()
    drawn.set()
    issued = await task

    assert threads and threads[0] is not threading.main_thread()
    assert issued.request.number == "2026-0001" and issued.request.achievements_count == 3
    assert issued.request.extract_sha256 == hashlib.sha256(issued.pdf).hexdigest()
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(issued.pdf)).pages)
    assert "№ 2026-0001" in text and (issued.request.verification_code or "?") in text
    async with session_factory() as session:
        found = await results_requests.verify(session, "secret", issued.request.verification_code or "")
        assert found is not None and found.number == "2026-0001" and found.achievements_count == 3
        counters = {c.name: c.value for c in (await session.exec(select(Counter))).all()}
        notices = (await session.exec(select(Notification))).all()
        issued_rows = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "extract_issued"))
        ).all()
    assert counters == {"probe": 1, "submission:2026": 1, "results_request:2026": 1}
    assert [n.account_id for n in notices] == [school.teacher_5a.id]
    assert [(e.student_id, e.object_id) for e in issued_rows] == [(child.id, str(issued.request.id))]


async def test_an_extract_that_failed_to_build_is_issued_for_the_same_request_on_the_next_press(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А", first_name="Елена")
    parent = await guardian_of(bot, child, first_name="Ольга")
    await approve(bot, child, "Олимпиада по математике", "2026-0001", date.today())
    draw, failures = results_requests.build_extract, [RuntimeError("fpdf2 gave up")]

    def failing_once(*args: object, **kwargs: object) -> bytes:
        if failures:
            raise failures.pop()
        return draw(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(results_requests, "build_extract", failing_once)
    parent.send_text("📄 Запросить результаты")
    await parent.wait_for("За какой период")
    parent.press("Все годы")
    failed = await parent.wait_for("зарегистрирован, но выписку сейчас подготовить не удалось")
    async with bot.session_factory() as session:
        registered = (await session.exec(select(ResultsRequest))).one()
        assert (
            await results_requests.verify(
                session, bot.settings.secret_key, registered.verification_code or ""
            )
            is None
        )
    assert f"№ {registered.number}" in (failed.text or "") and registered.extract_sha256 is None
    assert "что-то пошло не так" not in " ".join(m.text or "" for m in parent.messages)

    parent.press("Все годы")  # the same button again: the same request, now answered
    document = await parent.wait_for("по запросу от", timeout=10)
    assert f"Выписка № {registered.number}" in (document.caption or "")
    async with bot.session_factory() as session:
        request = (await session.exec(select(ResultsRequest))).one()
        counter = (
            await session.exec(select(Counter).where(Counter.name.startswith("results_request")))
        ).one()  # type: ignore[attr-defined]
        issued = (await session.exec(select(AuditEvent).where(AuditEvent.action == "extract_issued"))).all()
    assert (request.id, request.number, counter.value) == (registered.id, registered.number, 1)
    assert request.extract_sha256 and request.verification_code
    assert request.number in pdf_text(bot, document.file_id or "")
    assert request.verification_code in pdf_text(bot, document.file_id or "")
    assert len(issued) == 1
    notice = await teacher.wait_for("Запрос результатов", timeout=10)
    assert request.number in (notice.text or "")
    teacher.send_text(f"/verify {request.verification_code}")
    assert request.number in ((await teacher.wait_for("✅ Выписка")).text or "")


async def test_a_garbled_child_button_is_refused_and_audited_and_the_request_goes_on(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.test_submission_flow import GARBAGE_IDS

    caplog.set_level(logging.ERROR)
    child = await add_student(bot, "5А", "Иванов", "Пётр")
    sibling = await add_student(bot, "3Б", "Иванова", "Анна")
    parent = await guardian_of(bot, child, sibling)
    parent.send_text("📄 Запросить результаты")
    question = await parent.wait_for("По какому ребёнку")
    for value in GARBAGE_IDS:
        pressed = parent.press_callback(question.message_id, f"rq:child:{value}:0")
        assert "Нет доступа" in (await pressed.wait_answer())["text"], value
    await bot.server.idle()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    async with bot.session_factory() as session:
        denied = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "extract_request_denied"))
        ).all()
    assert len(denied) == len(GARBAGE_IDS) and {e.student_id for e in denied} == {None}
    parent.press("Иванов Пётр")
    await parent.wait_for("За какой период")
