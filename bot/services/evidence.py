"""Evidence intake: recognising a file by its content, normalising it and storing it under a random name.

Images are re-encoded from their pixels: EXIF orientation applied, every metadata block dropped (EXIF with
GPS, XMP, comments) except the ICC colour profile, which holds no personal data and keeps colours right.
HEIC/HEIF becomes JPEG, WebP becomes JPEG (PNG when it has transparency), PNG stays PNG. PDFs are kept
byte for byte. So is a JPEG that already is what re-encoding would make — nothing but a JFIF header, an
optional colour profile and one baseline scan of a size we keep, as Telegram sends every photo: its
re-encoding cost 7–10 ms of a photo step's CPU and a little quality, for nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import pillow_heif
from PIL import Image, ImageOps
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Achievement, EvidenceFile
from models.enums import AchievementStatus

# Lets Pillow open HEIC/HEIF (iPhone photos). Registering twice is harmless.
pillow_heif.register_heif_opener()

# A bot cannot getFile anything bigger: callers check `file_size` before downloading.
MAX_TELEGRAM_DOWNLOAD = 20 * 1024 * 1024
# Longest side of a stored image: a diploma stays readable, a 48 MP photo shrinks to a few hundred KB.
MAX_IMAGE_SIDE = 4000
# Below Pillow's decompression-bomb warning; the largest usual phone photos (50 MP) fit.
MAX_IMAGE_PIXELS = 80_000_000
JPEG_QUALITY = 90

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"})


class EvidenceKind(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    HEIF = "heif"
    PDF = "pdf"


class EvidenceProblem(StrEnum):
    UNSUPPORTED = "unsupported"
    TOO_BIG = "too_big"
    CORRUPT = "corrupt"
    EMPTY = "empty"


class EvidenceError(ValueError):
    """The file can't be accepted; `reason` tells the handler which polite message to show."""

    def __init__(self, reason: EvidenceProblem) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class NormalisedFile:
    data: bytes
    mime_type: str
    extension: str  # with the dot: ".jpg"


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to MEDIA_DIR, with forward slashes: «ab/cd/<random>.jpg»
    sha256: str  # of the stored (normalised) bytes
    original_sha256: str  # of the bytes as received: spots the same file sent twice
    mime_type: str
    size: int


def detect_kind(data: bytes) -> EvidenceKind | None:
    """What the file is, from its first bytes only; never from its name or declared MIME type."""
    if data.startswith(b"\xff\xd8\xff"):
        return EvidenceKind.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return EvidenceKind.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return EvidenceKind.WEBP
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return EvidenceKind.HEIF
    if data.startswith(b"%PDF-"):
        return EvidenceKind.PDF
    return None


def normalise(data: bytes) -> NormalisedFile:
    """The file as we keep it. Raises EvidenceError. Blocking (Pillow): run it in a thread."""
    if not data:
        raise EvidenceError(EvidenceProblem.EMPTY)
    if len(data) > MAX_TELEGRAM_DOWNLOAD:
        raise EvidenceError(EvidenceProblem.TOO_BIG)
    kind = detect_kind(data)
    if kind is None:
        raise EvidenceError(EvidenceProblem.UNSUPPORTED)
    if kind == EvidenceKind.PDF:
        return _checked_pdf(data)
    return _normalised_image(data, kind)


def _checked_pdf(data: bytes) -> NormalisedFile:
    # A PDF ends with %%EOF (readers allow trailing junk within the last 1024 bytes); a file cut short
    # by a failed upload does not.
    if b"%%EOF" not in data[-1024:]:
        raise EvidenceError(EvidenceProblem.CORRUPT)
    return NormalisedFile(data, "application/pdf", ".pdf")


def _decoded(data: bytes) -> tuple[Image.Image, bytes | None]:
    """The pixels turned upright, and the ICC profile if any. Raises EvidenceError."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise EvidenceError(EvidenceProblem.TOO_BIG)
            # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: much faster and lighter for huge photos.
            image.draft(None, (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
            image.load()
            return ImageOps.exif_transpose(image), image.info.get("icc_profile")
    except EvidenceError:
        raise
    except Image.DecompressionBombError as error:
        raise EvidenceError(EvidenceProblem.TOO_BIG) from error
    except (OSError, SyntaxError, ValueError) as error:  # what Pillow raises for broken files
        raise EvidenceError(EvidenceProblem.CORRUPT) from error


# APP segments that hold no personal data: the JFIF header and the ICC colour profile.
_PLAIN_JPEG_SEGMENTS = (("APP0", b"JFIF\x00"), ("APP2", b"ICC_PROFILE\x00"))


# After the first scan's header, a marker other than a restart (D0–D7) or the end (D9): another scan,
# and with it room for segments Pillow does not read. In the scan's data an FF byte is followed by 00.
_MARKER_AFTER_SCAN = re.compile(rb"\xff[\xc0-\xcf\xd8\xda-\xfe]")


def _one_scan_to_the_end(data: bytes) -> bool:
    start = data.find(b"\xff\xda")
    if start < 0 or not data.endswith(b"\xff\xd9"):  # bytes after the image's end could hide anything
        return False
    scan_data = start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    return _MARKER_AFTER_SCAN.search(data, scan_data, len(data) - 2) is None


def _is_plain_jpeg(data: bytes) -> bool:
    """Nothing to strip or turn, not too big, and it decodes: kept as it came."""
    if not _one_scan_to_the_end(data):
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            plain = (
                image.mode in ("RGB", "L")
                and max(image.size) <= MAX_IMAGE_SIDE
                and all(
                    any(marker == name and payload.startswith(head) for name, head in _PLAIN_JPEG_SEGMENTS)
                    for marker, payload in image.applist
                )
            )
            if plain:
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()  # every scan decoded (at 1/8 scale: fast): a broken file fails here
            return plain
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False  # the full path gives the reason


def _normalised_image(data: bytes, kind: EvidenceKind) -> NormalisedFile:
    if kind == EvidenceKind.JPEG and _is_plain_jpeg(data):
        return NormalisedFile(data, "image/jpeg", ".jpg")
    image, icc_profile = _decoded(data)
    image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
    as_png = kind == EvidenceKind.PNG or (kind == EvidenceKind.WEBP and image.has_transparency_data)
    if not as_png and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
        icc_profile = None  # it described the old colour space (e.g. CMYK)
    # Nothing of the original's metadata may reach the saved file: save() gets the pixels and the ICC only.
    image.info.clear()
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    out = io.BytesIO()
    if as_png:
        image.save(out, "PNG", **extra)
        return NormalisedFile(out.getvalue(), "image/png", ".png")
    image.save(out, "JPEG", quality=JPEG_QUALITY, **extra)
    return NormalisedFile(out.getvalue(), "image/jpeg", ".jpg")


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename: a crash never leaves a half-written evidence file.
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _store_blocking(media_dir: Path, data: bytes) -> StoredFile:
    normalised = normalise(data)
    name = secrets.token_hex(16)
    relative = f"{name[:2]}/{name[2:4]}/{name}{normalised.extension}"
    _write_atomically(media_dir / relative, normalised.data)
    return StoredFile(
        path=relative,
        sha256=hashlib.sha256(normalised.data).hexdigest(),
        original_sha256=hashlib.sha256(data).hexdigest(),
        mime_type=normalised.mime_type,
        size=len(normalised.data),
    )


async def store(media_dir: Path, data: bytes) -> StoredFile:
    """Normalise `data` and write it under a new random name in `media_dir`. Raises EvidenceError."""
    return await asyncio.to_thread(_store_blocking, media_dir, data)


async def find_duplicates(
    session: AsyncSession, student_id: int, original_sha256s: Iterable[str]
) -> set[str]:
    """Which of these received-file hashes are already evidence of this student's (not withdrawn) records."""
    hashes = set(original_sha256s)
    if not hashes:
        return set()
    query = (
        select(EvidenceFile.original_sha256)
        .join(Achievement, col(Achievement.id) == col(EvidenceFile.achievement_id))
        .where(
            Achievement.student_id == student_id,
            Achievement.status != AchievementStatus.WITHDRAWN,
            col(EvidenceFile.original_sha256).in_(hashes),
        )
    )
    return set((await session.exec(query)).all())


def _copy_blocking(media_dir: Path, stored: StoredFile) -> StoredFile:
    name = secrets.token_hex(16)
    relative = f"{name[:2]}/{name[2:4]}/{name}{Path(stored.path).suffix}"
    _write_atomically(media_dir / relative, (media_dir / stored.path).read_bytes())
    return replace(stored, path=relative)


async def copy_stored(media_dir: Path, stored: StoredFile) -> StoredFile:
    """The same evidence under a new name, for another student's record (a team's diploma): each record
    owns its files, so destroying one student's records never takes another's evidence."""
    return await asyncio.to_thread(_copy_blocking, media_dir, stored)
