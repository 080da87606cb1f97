"""Evidence intake: recognising a file by its content, normalising it and storing it under a random name.

Images are re-encoded from their pixels: EXIF orientation applied, every metadata block dropped (EXIF with
GPS, XMP, comments) except the ICC colour profile, which holds no personal data and keeps colours right.
HEIC/HEIF becomes JPEG, WebP becomes JPEG (PNG when it has transparency), PNG stays PNG. PDFs are kept
byte for byte. So is a JPEG that already is what re-encoding would make — nothing but a JFIF header
without a thumbnail, an optional colour profile, its tables and one baseline scan of a size we keep, as
Telegram sends every photo: its re-encoding cost 7–10 ms of a photo step's CPU and a little quality.
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


# What a plain JPEG's segments before its scan may be, besides one JFIF header and ICC profile parts:
# quantisation and Huffman tables, the restart interval, and one baseline frame (SOF0).
_TABLE_MARKERS = frozenset({0xDB, 0xC4, 0xDD})
_APP0, _APP2, _SOF0, _SOS = 0xE0, 0xE2, 0xC0, 0xDA
_JFIF_HEADER_LENGTH = 14  # «JFIF\0», version, units, densities, and a thumbnail of 0×0
# In a scan's data an FF byte is followed by 00 (a stuffed FF) or a restart marker (D0–D7), nothing else.
_MARKER_IN_SCAN = re.compile(rb"\xff(?![\x00\xd0-\xd7])")


def _scan_data_start(data: bytes) -> int | None:
    """Where the scan's data begins, when every segment before it is a plain one; else None."""
    if not data.startswith(b"\xff\xd8"):
        return None
    position, seen_jfif, seen_frame = 2, False, False
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        payload = data[position + 4 : position + 2 + length]
        if length < 2 or len(payload) != length - 2:
            return None
        if marker == _SOS:
            return position + 2 + length if seen_frame else None
        if marker == _APP0:  # the JFIF header, once, without a thumbnail
            if seen_jfif or len(payload) != _JFIF_HEADER_LENGTH or not payload.startswith(b"JFIF\x00"):
                return None
            if payload[12:14] != b"\x00\x00":
                return None
            seen_jfif = True
        elif marker == _SOF0:
            if seen_frame:
                return None
            seen_frame = True
        elif not (marker in _TABLE_MARKERS or (marker == _APP2 and payload.startswith(b"ICC_PROFILE\x00"))):
            return None  # EXIF, XMP, comments, other APPn, another frame type, …
        position += 2 + length
    return None


def _is_plain_jpeg(data: bytes) -> bool:
    """A baseline JPEG of nothing but the image: SOI, a JFIF header without a thumbnail, ICC profile parts,
    its tables and frame, one scan with its restart markers, and EOI as the file's last bytes. That is what
    re-encoding would make: it is kept as it came, when it is not too big and it decodes."""
    scan_data = _scan_data_start(data)
    if scan_data is None or not data.endswith(b"\xff\xd9"):
        return False
    if _MARKER_IN_SCAN.search(data, scan_data, len(data) - 2) is not None:
        return False  # another scan, a segment after this one, or bytes after the image's end
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.mode not in ("RGB", "L") or max(image.size) > MAX_IMAGE_SIDE:
                return False
            image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()  # the scan decoded (at 1/8 scale: fast): a broken file fails here
            return True
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
