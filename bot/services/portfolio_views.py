"""Opening a portfolio, one of its achievements, or its PDF for someone: asked of the access policy and
audited on every call, allowed or not (regulation 6.2). Knows nothing of Telegram; commits the audit row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import access, audit
from bot.services.evidence import StoredFile
from bot.services.principal import Principal
from models import Achievement, EvidenceFile, SchoolClass, Student
from models.enums import AuditChannel

PORTFOLIO_VIEWED = "portfolio_viewed"
SUBMISSIONS_VIEWED = "portfolio_submissions_viewed"
EVIDENCE_VIEWED = "evidence_viewed"
PORTFOLIO_EXPORTED = "portfolio_exported"

_DB_INTEGER = 2**63  # larger ids can't be bound to a query; no such row anyway
# Russian letters in Latin for file names (the passport-style ГОСТ Р 52535.1 spelling, simplified).
# fmt: off
_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "iu", "я": "ia",
}
# fmt: on


@dataclass(frozen=True)
class Subject:
    """A student with their class as they are now."""

    student: Student
    school_class: SchoolClass

    @property
    def student_id(self) -> int:
        assert self.student.id is not None
        return self.student.id


@dataclass(frozen=True)
class OpenedItem:
    achievement: Achievement
    subject: Subject
    files: list[StoredFile]


async def load_subject(session: AsyncSession, student_id: int) -> Subject | None:
    if not 0 < student_id < _DB_INTEGER:
        return None
    row = (
        await session.exec(
            select(Student, SchoolClass)
            .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
            .where(col(Student.id) == student_id)
        )
    ).first()
    return None if row is None else Subject(*row)


async def _record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    telegram_id: int | None,
    student_id: int | None,
    *,
    allowed: bool,
    object_type: str | None = None,
    object_id: int | None = None,
    details: str | None = None,
) -> None:
    await audit.record(
        session,
        action=action,
        channel=AuditChannel.BOT,
        actor_account_id=principal.account_id,
        actor_telegram_id=telegram_id,
        student_id=student_id,
        object_type=object_type,
        object_id=object_id,
        allowed=allowed,
        details=details,
    )
    await session.commit()


async def open_portfolio(
    session: AsyncSession,
    principal: Principal,
    student_id: int,
    *,
    action: str,
    telegram_id: int | None,
    details: str | None = None,
) -> Subject | None:
    """The student if this person may see their portfolio now, else None; `action` (a page view, the
    submissions list or the PDF export) is audited either way."""
    subject = await load_subject(session, student_id)
    allowed = subject is not None and access.may_view_portfolio(
        principal, subject.student, subject.school_class
    )
    known_id = subject.student_id if subject is not None else None
    await _record(
        session,
        principal,
        action,
        telegram_id,
        known_id,
        allowed=allowed,
        object_type="student",
        object_id=known_id,
        details=details,
    )
    return subject if allowed else None


async def open_achievement(
    session: AsyncSession,
    principal: Principal,
    achievement_id: int,
    student_id: int,
    *,
    telegram_id: int | None,
) -> OpenedItem | None:
    """One achievement of the student with its evidence files, if this person may see it now; audited
    either way. An achievement of another student than `student_id` is refused."""
    achievement = await session.get(Achievement, achievement_id) if 0 < achievement_id < _DB_INTEGER else None
    subject = await load_subject(session, achievement.student_id) if achievement is not None else None
    allowed = (
        achievement is not None
        and subject is not None
        and achievement.student_id == student_id
        and access.may_view_achievement(principal, achievement, subject.student, subject.school_class)
    )
    await _record(
        session,
        principal,
        EVIDENCE_VIEWED,
        telegram_id,
        achievement.student_id if achievement is not None else None,
        allowed=allowed,
        object_type="achievement",
        object_id=achievement_id if achievement is not None else None,
    )
    if not allowed:
        return None
    assert achievement is not None and subject is not None
    files = (
        await session.exec(
            select(EvidenceFile)
            .where(EvidenceFile.achievement_id == achievement_id)
            .order_by(col(EvidenceFile.position), col(EvidenceFile.id))
        )
    ).all()
    stored = [StoredFile(f.path, f.sha256, f.original_sha256, f.mime_type, f.size) for f in files]
    return OpenedItem(achievement, subject, stored)


def pdf_file_name(student: Student) -> str:
    """«portfolio-ivanov-petr.pdf»: the name in Latin letters (some phones mangle Cyrillic file names), or
    the student's id when nothing of the name survives."""
    latin = "".join(_LATIN.get(char, char) for char in f"{student.surname} {student.name}".lower())
    slug = re.sub(r"[^a-z0-9]+", "-", latin.replace("-", " ")).strip("-")
    return f"portfolio-{slug or student.id}.pdf"
