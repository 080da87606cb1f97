"""Evidence intake: files recognised by content, images stored upright without metadata, PDFs as sent."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from bot.services.evidence import (
    MAX_IMAGE_SIDE,
    MAX_TELEGRAM_DOWNLOAD,
    EvidenceError,
    EvidenceKind,
    EvidenceProblem,
    detect_kind,
    find_duplicates,
    normalise,
    store,
)
from bot.services.submissions import SubmissionDraft, create_submission
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category
from models.base import utcnow
from models.db import SessionFactory
from models.enums import Source
from tests.factories import make_school

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
ORIENTATION = 0x0112
GPS_IFD = 0x8825


def image_bytes(
    fmt: str, size: tuple[int, int] = (60, 40), mode: str = "RGB", color: object = "white"
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt)
    return out.getvalue()


def heic_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    pillow_heif.register_heif_opener()
    return image_bytes("HEIF", size)


def photo_turned_on_its_side_with_gps() -> bytes:
    """A 60×40 JPEG as a phone stores a portrait shot: pixels sideways, EXIF orientation 6 (rotate 90° CW
    to view), GPS coordinates and XMP. The red marker is at the top-left of the stored pixels."""
    image = Image.new("RGB", (60, 40), "white")
    image.paste((255, 0, 0), (0, 0, 10, 10))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[GPS_IFD] = {1: "N", 2: (55.0, 45.0, 21.0), 3: "E", 4: (37.0, 37.0, 4.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, xmp=b"<x:xmpmeta>camera owner</x:xmpmeta>", quality=95)
    return out.getvalue()


def files_in(directory: Path) -> list[str]:
    """Every file under `directory` (temporary ones included), relative, with forward slashes."""
    return [p.relative_to(directory).as_posix() for p in sorted(directory.rglob("*")) if p.is_file()]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (image_bytes("JPEG"), EvidenceKind.JPEG),
        (image_bytes("PNG"), EvidenceKind.PNG),
        (image_bytes("WEBP"), EvidenceKind.WEBP),
        (heic_bytes(), EvidenceKind.HEIF),
        (PDF, EvidenceKind.PDF),
        (b"GIF89a" + b"\0" * 20, None),
        (b"\x1aE\xdf\xa3 a video", None),
        (b"just some text", None),
        (b"", None),
    ],
    ids=["jpeg", "png", "webp", "heic", "pdf", "gif", "webm", "text", "empty"],
)
def test_files_are_recognised_by_their_content(data: bytes, kind: EvidenceKind | None) -> None:
    assert detect_kind(data) == kind


def test_a_jpg_that_is_really_a_pdf_is_kept_as_a_pdf() -> None:
    # The name «diploma.jpg» never reaches the service: only the bytes do.
    result = normalise(PDF)
    assert (result.mime_type, result.extension, result.data) == ("application/pdf", ".pdf", PDF)


def test_a_png_sent_as_octet_stream_is_just_a_png() -> None:
    result = normalise(image_bytes("PNG"))
    assert (result.mime_type, result.extension) == ("image/png", ".png")
    assert Image.open(io.BytesIO(result.data)).format == "PNG"


def test_a_sideways_photo_is_stored_upright_without_any_metadata() -> None:
    result = normalise(photo_turned_on_its_side_with_gps())

    stored = Image.open(io.BytesIO(result.data))
    assert stored.format == "JPEG" and result.mime_type == "image/jpeg"
    assert stored.size == (40, 60)  # width and height swapped
    # Rotated 90° clockwise, the top-left marker is now at the top-right.
    assert stored.getpixel((35, 4))[0] > 200 and stored.getpixel((35, 4))[1] < 60
    assert stored.getpixel((4, 4)) > (200, 200, 200)
    assert not stored.getexif()
    assert "exif" not in stored.info and "xmp" not in stored.info
    assert b"Exif" not in result.data and b"xmpmeta" not in result.data


def test_a_photo_as_telegram_sends_it_is_kept_byte_for_byte() -> None:
    """A JPEG with nothing but its JFIF header (and a colour profile) is what re-encoding would make."""
    for original in (image_bytes("JPEG", (800, 600)), jpeg_with(icc_profile=b"\0" * 128)):
        result = normalise(original)
        assert (result.data, result.mime_type, result.extension) == (original, "image/jpeg", ".jpg")


def jpeg_with(**save_options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), "white").save(out, "JPEG", **save_options)
    return out.getvalue()


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Phone maker"  # no orientation: only the metadata makes it not plain
    return exif


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def with_segment_after_jfif(payload_segment: bytes) -> bytes:
    """A plain JPEG with one more segment right after its JFIF header."""
    plain = jpeg_with()
    jfif_end = 4 + int.from_bytes(plain[4:6], "big")
    return plain[:jfif_end] + payload_segment + plain[jfif_end:]


def jfif_with_thumbnail() -> bytes:
    """The JFIF header's own 2×2 thumbnail (the uncropped original, in a real one) holds the secret."""
    plain = jpeg_with()
    jfif_end = 4 + int.from_bytes(plain[4:6], "big")
    header = plain[6:jfif_end][:12] + b"\x02\x02" + b"thumbnail!!!"
    return plain[:4] + segment(0xE0, header)[2:] + plain[jfif_end:]


def frame_type(marker: int) -> bytes:
    """The plain JPEG, its baseline frame marker (SOF0) changed to another kind of frame."""
    plain = jpeg_with()
    at = plain.find(b"\xff\xc0")
    return plain[: at + 1] + bytes([marker]) + plain[at + 2 :]


@pytest.mark.parametrize(
    ("original", "secret"),
    [
        (jfif_with_thumbnail(), b"thumbnail!!!"),
        (with_segment_after_jfif(segment(0xE0, b"JFIF\x00second header")), b"second header"),
        (with_segment_after_jfif(segment(0xDC, b"in a DNL")), b"in a DNL"),
        (jpeg_with() + b"trailer" + b"\xff\xd9", b"trailer"),
        (jpeg_with(comment=b"owner: Ivanov"), b"Ivanov"),
        (jpeg_with(exif=camera_exif()), b"Phone maker"),
        (jpeg_with(xmp=b"<x:xmpmeta>owner</x:xmpmeta>"), b"xmpmeta"),
        (jpeg_with() + b"appended secret", b"appended secret"),
        (jpeg_with()[:-2] + b"\xff\xfe\x00\x0ahidden!!\xff\xd9", b"hidden!!"),  # a comment after the scan
        (jpeg_with(progressive=True, comment=b"in a progressive"), b"in a progressive"),
    ],
    ids=[
        "jfif-thumbnail",
        "second-jfif",
        "dnl-segment",
        "after-the-end-then-eoi",
        "comment",
        "exif",
        "xmp",
        "after-the-end",
        "after-the-scan",
        "progressive",
    ],
)
def test_a_jpeg_with_anything_besides_pixels_is_re_encoded_without_it(original: bytes, secret: bytes) -> None:
    assert secret in original
    result = normalise(original)
    assert result.data != original and secret not in result.data
    assert Image.open(io.BytesIO(result.data)).size == (60, 40)


@pytest.mark.parametrize("marker", [0xC1, 0xC9], ids=["extended", "arithmetic"])
def test_only_a_baseline_jpeg_is_kept_as_it_came(marker: int) -> None:
    """Browsers and Telegram may not show other kinds (arithmetic coding), so they are re-encoded."""
    original = frame_type(marker)
    assert normalise(original).data != original


def test_a_heic_photo_becomes_a_jpeg() -> None:
    result = normalise(heic_bytes((64, 48)))
    stored = Image.open(io.BytesIO(result.data))
    assert (stored.format, stored.size, result.extension) == ("JPEG", (64, 48), ".jpg")


def test_webp_becomes_jpeg_unless_it_has_transparency() -> None:
    assert normalise(image_bytes("WEBP")).mime_type == "image/jpeg"
    assert normalise(image_bytes("WEBP", mode="RGBA", color=(0, 0, 0, 0))).mime_type == "image/png"


def test_a_huge_photo_is_scaled_down() -> None:
    result = normalise(image_bytes("JPEG", (MAX_IMAGE_SIDE * 2 + 10, 300)))
    assert max(Image.open(io.BytesIO(result.data)).size) <= MAX_IMAGE_SIDE


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (image_bytes("JPEG")[:200], EvidenceProblem.CORRUPT),
        (image_bytes("PNG")[:60], EvidenceProblem.CORRUPT),
        (heic_bytes()[:100], EvidenceProblem.CORRUPT),
        (PDF[:-8], EvidenceProblem.CORRUPT),  # cut short: no %%EOF
        (b"", EvidenceProblem.EMPTY),
        (b"MZ\x90\x00 a program", EvidenceProblem.UNSUPPORTED),
        (b"\xff\xd8\xff" + b"\0" * MAX_TELEGRAM_DOWNLOAD, EvidenceProblem.TOO_BIG),
    ],
    ids=["truncated-jpeg", "truncated-png", "truncated-heic", "truncated-pdf", "empty", "exe", "too-big"],
)
def test_bad_files_are_refused_with_a_reason(data: bytes, problem: EvidenceProblem) -> None:
    with pytest.raises(EvidenceError) as caught:
        normalise(data)
    assert caught.value.reason == problem


async def test_a_stored_file_has_a_random_name_in_two_levels_and_both_hashes(tmp_path: Path) -> None:
    original = photo_turned_on_its_side_with_gps()
    first = await store(tmp_path, original)
    second = await store(tmp_path, original)

    assert first.path != second.path
    assert first.path.endswith(".jpg") and first.path.count("/") == 2
    assert first.path.startswith(f"{first.path.split('/')[2][:2]}/{first.path.split('/')[2][2:4]}/")
    written = (tmp_path / first.path).read_bytes()
    assert hashlib.sha256(written).hexdigest() == first.sha256
    assert first.original_sha256 == hashlib.sha256(original).hexdigest() == second.original_sha256
    assert (first.size, first.mime_type) == (len(written), "image/jpeg")
    assert sorted(files_in(tmp_path)) == sorted([first.path, second.path])  # no temporary files left


async def test_a_refused_file_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError):
        await store(tmp_path, b"not evidence")
    assert files_in(tmp_path) == []


async def test_duplicates_are_the_same_received_bytes_for_the_same_student(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    school = await make_school(session_factory)
    peter, anna = school.students_5a
    stored = await store(tmp_path, PDF)
    draft = SubmissionDraft(
        student_id=peter.id,
        category=Category.OLYMPIAD,
        level=AchievementLevel.SCHOOL,
        result=AchievementResult.WINNER,
        title="Олимпиада по математике",
        event_date=utcnow().date(),
        source=Source.OUR_SCHOOL,
        files=[stored],
    )
    async with session_factory() as session:
        await create_submission(session, draft, school.guardian.id, utcnow())

    other = hashlib.sha256(b"other").hexdigest()
    async with session_factory() as session:
        assert await find_duplicates(session, peter.id, [stored.original_sha256, other]) == {
            stored.original_sha256
        }
        assert await find_duplicates(session, anna.id, [stored.original_sha256]) == set()
        assert await find_duplicates(session, peter.id, []) == set()
