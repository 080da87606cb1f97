"""One-time invite codes: issuing them, classifying a code someone sent, and spending it once.

A code is 32 random bytes in URL-safe base64 (43 characters, 256 bits): guessing one is infeasible.
Only its SHA-256 is stored; the plain code exists in the link or on the sheet it was printed on.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _
from bot.services import audit
from models import Invite, SchoolClass, StaffAssignment, Student
from models.base import utcnow
from models.enums import AuditChannel, InvitePurpose, SchoolLevel, StaffRole, StudentStatus

CODE_BYTES = 32
CODE_LENGTH = 43  # len(secrets.token_urlsafe(32))
_CODE_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{{CODE_LENGTH}}}")
# Guardian codes per child on one class sheet: two parents are common, more is a mistake in the form.
MAX_GUARDIAN_CODES_PER_STUDENT = 4


class InviteError(ValueError):
    """The invite can't be issued as asked; the message is for the person who asked."""


class InviteStatus(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"


@dataclass(frozen=True)
class InviteCheck:
    status: InviteStatus
    invite: Invite | None = None

    @property
    def problem(self) -> InviteStatus | None:
        """None when the code may be redeemed, else why not."""
        return None if self.status == InviteStatus.OK else self.status


@dataclass(frozen=True)
class IssuedInvite:
    code: str  # the plain code: show it once, it is not stored
    invite: Invite


@dataclass(frozen=True)
class SheetEntry:
    """One student's slip on a class invite sheet."""

    student_id: int
    full_name: str
    class_label: str
    guardian_codes: tuple[str, ...]
    student_code: str | None  # None when the student's own account is already linked
    expires_at: datetime


def generate_code() -> str:
    # A code must not start with «-» or «_»: a spreadsheet takes «-…» for a formula, and on paper a
    # leading dash is easy to miss. Redrawing those costs under 0.05 bits of the 256.
    while (code := secrets.token_urlsafe(CODE_BYTES))[0] in "-_":
        pass
    return code


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def normalize_code(text: str) -> str:
    """The code as typed from a sheet, where it is printed in groups: whitespace removed."""
    return "".join(text.split())


def is_well_formed(code: str) -> bool:
    return _CODE_PATTERN.fullmatch(code) is not None


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username.removeprefix('@')}?start={code}"


def last_valid_day(expires_at: datetime, tz: ZoneInfo) -> date:
    """The last whole day the invite works, in the school's zone: what a printed «valid until» may say."""
    return expires_at.astimezone(tz).date() - timedelta(days=1)


async def find_invite(session: AsyncSession, code: str) -> Invite | None:
    code = normalize_code(code)
    if not is_well_formed(code):
        return None
    return (await session.exec(select(Invite).where(Invite.code_hash == hash_code(code)))).first()


async def check_invite(session: AsyncSession, code: str, now: datetime) -> InviteCheck:
    """Whether `code` may be redeemed now. A malformed code is unknown without a database query."""
    invite = await find_invite(session, code)
    if invite is None:
        return InviteCheck(InviteStatus.UNKNOWN)
    return InviteCheck(status_of(invite, now), invite)


def status_of(invite: Invite, now: datetime) -> InviteStatus:
    """Whether a known invite may be redeemed now."""
    if invite.used_at is not None:
        return InviteStatus.USED
    if invite.revoked_at is not None:
        return InviteStatus.REVOKED
    if invite.expires_at <= now:
        return InviteStatus.EXPIRED
    return InviteStatus.OK


async def mark_used(session: AsyncSession, invite: Invite, account_id: int, now: datetime) -> bool:
    """Spend the invite; False when it was used, revoked or expired meanwhile.

    A conditional UPDATE, so of two simultaneous redemptions exactly one wins. Does not commit: the
    caller commits it together with what the invite grants.
    """
    result = await session.exec(
        update(Invite)
        .where(
            col(Invite.id) == invite.id,
            col(Invite.used_at).is_(None),
            col(Invite.revoked_at).is_(None),
            col(Invite.expires_at) > now,
        )
        .values(used_at=now, used_by_account_id=account_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    set_committed_value(invite, "used_at", now)
    set_committed_value(invite, "used_by_account_id", account_id)
    return True


async def has_active_admin(session: AsyncSession) -> bool:
    query = select(StaffAssignment.id).where(
        StaffAssignment.role == StaffRole.ADMIN, col(StaffAssignment.active).is_(True)
    )
    return (await session.exec(query.limit(1))).first() is not None


def _new_invite(
    session: AsyncSession,
    purpose: InvitePurpose,
    expires_at: datetime,
    created_by: int | None,
    **target: object,
) -> IssuedInvite:
    code = generate_code()
    invite = Invite(
        code_hash=hash_code(code),
        purpose=purpose,
        expires_at=expires_at,
        created_by_account_id=created_by,
        **target,
    )
    session.add(invite)
    return IssuedInvite(code, invite)


async def _require_active_student(session: AsyncSession, student_id: int) -> None:
    student = await session.get(Student, student_id)
    if student is None or student.status != StudentStatus.ACTIVE:
        raise InviteError(_("Учащийся не найден или уже не учится в школе."))


async def _issue_one(
    session: AsyncSession,
    purpose: InvitePurpose,
    ttl: timedelta,
    created_by: int | None,
    channel: AuditChannel,
    now: datetime | None,
    **target: object,
) -> IssuedInvite:
    issued = _new_invite(session, purpose, (now or utcnow()) + ttl, created_by, **target)
    await session.flush()
    await audit.record(
        session,
        action="invite_created",
        channel=channel,
        actor_account_id=created_by,
        student_id=issued.invite.student_id,
        object_type="invite",
        object_id=issued.invite.id,
        details=" ".join(
            f"{key}={value}" for key, value in (("purpose", purpose), *target.items()) if value is not None
        ),
    )
    await session.commit()
    return issued


async def create_student_invite(
    session: AsyncSession,
    student_id: int,
    ttl: timedelta,
    created_by: int | None = None,
    *,
    channel: AuditChannel = AuditChannel.BOT,
    now: datetime | None = None,
) -> IssuedInvite:
    """A code for the student's own account. Commits."""
    await _require_active_student(session, student_id)
    return await _issue_one(
        session, InvitePurpose.STUDENT, ttl, created_by, channel, now, student_id=student_id
    )


async def create_guardian_invite(
    session: AsyncSession,
    student_id: int,
    ttl: timedelta,
    created_by: int | None = None,
    *,
    channel: AuditChannel = AuditChannel.BOT,
    now: datetime | None = None,
) -> IssuedInvite:
    """A code for one legal representative of the student. Commits."""
    await _require_active_student(session, student_id)
    return await _issue_one(
        session, InvitePurpose.GUARDIAN, ttl, created_by, channel, now, student_id=student_id
    )


async def create_staff_invite(
    session: AsyncSession,
    role: StaffRole,
    level: SchoolLevel | None,
    class_id: int | None,
    ttl: timedelta,
    created_by: int | None = None,
    *,
    channel: AuditChannel = AuditChannel.BOT,
    now: datetime | None = None,
) -> IssuedInvite:
    """A code granting a staff role: a deputy needs a level, a class teacher a class, others neither.

    Commits. Raises InviteError when the role and its scope don't fit.
    """
    if role == StaffRole.DEPUTY:
        if level is None or class_id is not None:
            raise InviteError(_("Для заместителя директора укажите уровень образования (НОО, ООО или СОО)."))
    elif role == StaffRole.CLASS_TEACHER:
        if class_id is None or level is not None:
            raise InviteError(_("Для классного руководителя укажите класс."))
        if await session.get(SchoolClass, class_id) is None:
            raise InviteError(_("Такого класса нет."))
    elif level is not None or class_id is not None:
        raise InviteError(_("Для этой роли не указывают ни класс, ни уровень."))
    return await _issue_one(
        session,
        InvitePurpose.STAFF,
        ttl,
        created_by,
        channel,
        now,
        role=role,
        level=level,
        class_id=class_id,
    )


async def issue_class_sheet_invites(
    session: AsyncSession,
    class_id: int,
    ttl: timedelta,
    created_by: int | None = None,
    *,
    guardian_codes_per_student: int = 1,
    channel: AuditChannel = AuditChannel.BOT,
    now: datetime | None = None,
) -> list[SheetEntry]:
    """Codes for a printed class sheet: per active student, guardian codes and a student code.

    Each code is single-use, so a child with two parents needs `guardian_codes_per_student=2`. No
    student code is issued for a student whose own account is already linked. Commits.
    """
    if not 1 <= guardian_codes_per_student <= MAX_GUARDIAN_CODES_PER_STUDENT:
        raise InviteError(
            _("Кодов для родителей на ученика: от 1 до {limit}.").format(limit=MAX_GUARDIAN_CODES_PER_STUDENT)
        )
    school_class = await session.get(SchoolClass, class_id)
    if school_class is None:
        raise InviteError(_("Такого класса нет."))
    students = (
        await session.exec(
            select(Student).where(Student.class_id == class_id, Student.status == StudentStatus.ACTIVE)
        )
    ).all()
    expires_at = (now or utcnow()) + ttl
    planned = []
    for student in sorted(students, key=_alphabetical):
        guardian_invites = [
            _new_invite(session, InvitePurpose.GUARDIAN, expires_at, created_by, student_id=student.id)
            for _slip in range(guardian_codes_per_student)
        ]
        student_invite = (
            None
            if student.account_id is not None
            else _new_invite(session, InvitePurpose.STUDENT, expires_at, created_by, student_id=student.id)
        )
        planned.append((student, guardian_invites, student_invite))
    await audit.record(
        session,
        action="class_invites_issued",
        channel=channel,
        actor_account_id=created_by,
        object_type="school_class",
        object_id=class_id,
        details=(
            f"students={len(planned)} guardian_codes={len(planned) * guardian_codes_per_student} "
            f"student_codes={sum(1 for *_codes, invite in planned if invite is not None)}"
        ),
    )
    for student, guardian_invites, student_invite in planned:
        await audit.record(  # in each child's register: codes that give access to their data
            session,
            action="sheet_invites_issued",
            channel=channel,
            actor_account_id=created_by,
            student_id=student.id,
            object_type="school_class",
            object_id=class_id,
            details=f"guardian_codes={len(guardian_invites)} student_code={int(student_invite is not None)}",
        )
    await session.commit()
    entries = []
    for student, guardian_invites, student_invite in planned:
        assert student.id is not None
        entries.append(
            SheetEntry(
                student_id=student.id,
                full_name=student.full_name,
                class_label=school_class.label,
                guardian_codes=tuple(issued.code for issued in guardian_invites),
                student_code=student_invite.code if student_invite else None,
                expires_at=expires_at,
            )
        )
    return entries


def _alphabetical(student: Student) -> tuple[str, ...]:
    return tuple(
        part.casefold().replace("ё", "е") for part in (student.surname, student.name, student.patronymic)
    )
