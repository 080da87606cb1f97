"""Evidence as phones really send it: HEIC files, mislabelled files, sideways photos, forwards."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlmodel import select

from models import Achievement, EvidenceFile
from models.enums import StaffRole
from tests.harness import BotHarness
from tests.people import add_student, guardian_of, staff_member
from tests.test_evidence import PDF, heic_bytes, image_bytes, photo_turned_on_its_side_with_gps
from tests.test_submission_flow import answer_wizard


async def submit_document(bot: BotHarness, data: bytes, filename: str, mime_type: str) -> EvidenceFile:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    parent = await guardian_of(bot, student_id)
    parent.send_text("➕ Добавить достижение")
    await parent.wait_for("Пришлите фото")
    parent.send_document(data, filename, mime_type)
    await answer_wizard(parent)
    await parent.wait_for("отправлено на проверку")
    async with bot.session_factory() as session:
        return (await session.exec(select(EvidenceFile))).one()


@pytest.mark.parametrize(
    ("data", "filename", "mime_type", "stored_type"),
    [
        (heic_bytes(), "IMG_0042.HEIC", "image/heic", "image/jpeg"),
        (image_bytes("JPEG"), "photo", "application/octet-stream", "image/jpeg"),
        (PDF, "diploma.jpg", "image/jpeg", "application/pdf"),
        (image_bytes("PNG"), "scan.pdf", "application/pdf", "image/png"),
    ],
    ids=["heic", "jpeg-as-octet-stream", "jpg-that-is-a-pdf", "png-named-pdf"],
)
async def test_documents_are_recognised_by_content(
    bot: BotHarness, data: bytes, filename: str, mime_type: str, stored_type: str
) -> None:
    evidence = await submit_document(bot, data, filename, mime_type)
    assert evidence.mime_type == stored_type
    assert (bot.settings.media_dir / evidence.path).is_file()


async def test_a_sideways_photo_with_gps_is_stored_upright_without_metadata(bot: BotHarness) -> None:
    evidence = await submit_document(bot, photo_turned_on_its_side_with_gps(), "IMG.jpg", "image/jpeg")
    stored = Image.open(io.BytesIO((bot.settings.media_dir / evidence.path).read_bytes()))
    assert stored.size == (40, 60)
    assert not stored.getexif()


async def test_a_forwarded_photo_is_accepted_and_flagged(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    parent = await guardian_of(bot, student_id)
    parent.send_photo(image_bytes("JPEG"), forward=True)
    await parent.wait_for("Выберите категорию")
    parent.press("Предметная олимпиада")
    await parent.wait_for("Какого уровня")
    parent.press("школьный")
    await parent.wait_for("Какой результат")
    parent.press("участник")
    await parent.wait_for("Напишите название")
    parent.send_text("Олимпиада")
    await parent.wait_for("Когда было")
    parent.press("Сегодня")
    await parent.wait_for("Где получено")
    parent.press("в нашей школе")
    summary = await parent.wait_for("Проверьте")
    assert "Переслано" in summary.text
    parent.press("✅ Подтвердить")
    card = await teacher.wait_for("на проверку", timeout=10)
    assert "Переслано" in card.caption
    async with bot.session_factory() as session:
        assert (await session.exec(select(Achievement))).one().forwarded


async def test_a_mixed_album_reaches_the_reviewer_page_by_page(bot: BotHarness) -> None:
    student_id = await add_student(bot, "5А", "Иванов", "Пётр")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А")
    parent = await guardian_of(bot, student_id)
    parent.send_text("➕ Добавить достижение")
    await parent.wait_for("Пришлите фото")
    parent.send_album(
        [
            (image_bytes("PNG"), "document", "page1.png"),
            (PDF, "document", "page2.pdf"),
            (image_bytes("JPEG"), "document", "page3.jpg"),
        ]
    )
    await answer_wizard(parent)
    await parent.wait_for("отправлено на проверку")
    await teacher.wait_for("одобрить, отклонить или исправить", timeout=10)
    documents = [m for m in teacher.messages if m.kind == "document"]
    assert len(documents) == 3
    assert "Иванов Пётр, 5А" in (documents[0].caption or "")
    teacher.press("✅ Одобрить")
    await parent.wait_for("одобрено", timeout=10)
