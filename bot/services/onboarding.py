"""Joining the school's bot with an invite code, and consent to the processing of a child's data.

A staff code is redeemed at once. A student or guardian code first shows the consent text: the code is
redeemed only when the person accepts, in the same transaction that links them and records the consent.
Declining stores only the decline, and the code stays valid so they can change their mind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit, invites
from models import Account, CodeAttempt, Consent, GuardianLink, Invite, SchoolClass, StaffAssignment, Student
from models.enums import (
    AuditChannel,
    ConsentDecision,
    GuardianLinkStatus,
    InvitePurpose,
    SchoolLevel,
    StaffRole,
    StudentStatus,
)

# The version of the consent text in the catalogs; a new text gets a new version.
CONSENT_VERSION = "2026-1"
ATTEMPT_WINDOW = timedelta(minutes=10)
MAX_WRONG_CODES = 5


class CodeProblem(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"
    COOLDOWN = "cooldown"
    ALREADY_LINKED = "already_linked"
    STUDENT_INACTIVE = "student_inactive"
    FOR_GUARDIAN = "for_guardian"  # a student opened the parent's code of their own slip
    FOR_STUDENT = "for_student"  # a parent opened the child's own code


@dataclass(frozen=True)
class Refused:
    problem: CodeProblem
    student_name: str = ""
    retry_in: timedelta = timedelta(0)


@dataclass(frozen=True)
class NeedsConsent:
    """A student or guardian code is valid: show the consent text for this child."""

    purpose: InvitePurpose
    invite_id: int
    student_id: int
    student_name: str
    class_label: str


@dataclass(frozen=True)
class Joined:
    """The code was redeemed: the account now has this role."""

    purpose: InvitePurpose
    role: StaffRole | None = None
    level: SchoolLevel | None = None
    class_label: str = ""
    student_name: str = ""


Outcome = Refused | NeedsConsent | Joined


async def _cooldown_left(session: AsyncSession, telegram_id: int, now: datetime) -> timedelta:
    since = now - ATTEMPT_WINDOW
    attempts = (
        await session.exec(
            select(CodeAttempt.at)
            .where(CodeAttempt.telegram_id == telegram_id, CodeAttempt.at > since)
            .order_by(CodeAttempt.at)
        )
    ).all()
    if len(attempts) < MAX_WRONG_CODES:
        return timedelta(0)
    # Locked until the oldest counted attempt leaves the window.
    return attempts[-MAX_WRONG_CODES] + ATTEMPT_WINDOW - now


async def _refuse(session: AsyncSession, account: Account, problem: CodeProblem, now: datetime) -> Refused:
    """Count a wrong code; the attempt that reaches the limit starts a cooldown and is audited."""
    session.add(CodeAttempt(telegram_id=account.telegram_id, at=now))
    await session.flush()
    retry_in = await _cooldown_left(session, account.telegram_id, now)
    if retry_in > timedelta(0):
        await audit.record(
            session,
            action="invite_code_cooldown",
            channel=AuditChannel.BOT,
            actor_account_id=account.id,
            actor_telegram_id=account.telegram_id,
            allowed=False,
            details=f"{MAX_WRONG_CODES} wrong codes in {ATTEMPT_WINDOW}",
        )
    await session.commit()
    return Refused(problem)


async def _student_with_class(session: AsyncSession, student_id: int) -> tuple[Student, SchoolClass]:
    row = (
        await session.exec(
            select(Student, SchoolClass)
            .join(SchoolClass, SchoolClass.id == Student.class_id)
            .where(Student.id == student_id)
        )
    ).one()
    return row[0], row[1]


def _already_linked(account: Account, invite: Invite, student: Student, is_guardian: bool) -> bool:
    if invite.purpose == InvitePurpose.STUDENT:
        return student.account_id == account.id
    return is_guardian


async def _valid_invite(
    session: AsyncSession, account: Account, code: str, now: datetime
) -> Invite | Refused:
    retry_in = await _cooldown_left(session, account.telegram_id, now)
    if retry_in > timedelta(0):
        return Refused(CodeProblem.COOLDOWN, retry_in=retry_in)
    if not invites.is_well_formed(invites.normalize_code(code)):
        return Refused(CodeProblem.UNKNOWN)  # chatter, not a guess: not counted
    check = await invites.check_invite(session, code, now)
    if check.invite is None:
        return await _refuse(session, account, CodeProblem.UNKNOWN, now)  # a guess: counted
    if check.problem is not None:
        return Refused(CodeProblem(check.problem))
    return check.invite


async def _person_problem(
    session: AsyncSession, account: Account, invite: Invite, student: Student
) -> Refused | None:
    """Why this account can't take this student's invite: already linked, or the other role's code."""
    if student.status != StudentStatus.ACTIVE:
        return Refused(CodeProblem.STUDENT_INACTIVE)
    is_guardian = await _is_guardian(session, account, student)
    if _already_linked(account, invite, student, is_guardian):
        return Refused(CodeProblem.ALREADY_LINKED, student_name=student.full_name)
    if invite.purpose == InvitePurpose.GUARDIAN and student.account_id == account.id:
        return Refused(CodeProblem.FOR_GUARDIAN)
    if invite.purpose == InvitePurpose.STUDENT and is_guardian:
        return Refused(CodeProblem.FOR_STUDENT)
    return None


async def _is_guardian(session: AsyncSession, account: Account, student: Student) -> bool:
    link = (
        await session.exec(
            select(GuardianLink).where(
                GuardianLink.account_id == account.id,
                GuardianLink.student_id == student.id,
                GuardianLink.status == GuardianLinkStatus.CONFIRMED,
            )
        )
    ).first()
    return link is not None


async def start_redemption(session: AsyncSession, account: Account, code: str, now: datetime) -> Outcome:
    """First step after a code arrives: refuse it, redeem a staff code, or ask for consent."""
    invite = await _valid_invite(session, account, code, now)
    if isinstance(invite, Refused):
        return invite
    if invite.purpose == InvitePurpose.STAFF:
        return await _join_staff(session, account, invite, now)
    assert invite.student_id is not None and invite.id is not None
    student, school_class = await _student_with_class(session, invite.student_id)
    problem = await _person_problem(session, account, invite, student)
    if problem is not None:
        return problem
    return NeedsConsent(
        InvitePurpose(invite.purpose), invite.id, student.id, student.full_name, school_class.label
    )


async def _lost_the_race(session: AsyncSession, account: Account) -> Refused:
    """Someone redeemed the invite a moment earlier. End our write transaction at once (SQLite has one
    writer, and the dialogue state is written next on another connection) and reload the account that
    the rollback expired, since the caller still uses it."""
    await session.rollback()
    await session.refresh(account)
    return Refused(CodeProblem.USED)


async def _join_staff(session: AsyncSession, account: Account, invite: Invite, now: datetime) -> Outcome:
    if not await invites.mark_used(session, invite, account.id, now):
        return await _lost_the_race(session, account)
    role = StaffRole(invite.role)
    already = (
        await session.exec(
            select(StaffAssignment).where(
                StaffAssignment.account_id == account.id,
                StaffAssignment.role == role,
                StaffAssignment.level == invite.level,
                StaffAssignment.class_id == invite.class_id,
                StaffAssignment.active,
            )
        )
    ).first()
    if already is None:
        session.add(
            StaffAssignment(account_id=account.id, role=role, level=invite.level, class_id=invite.class_id)
        )
    await audit.record(
        session,
        action="staff_role_granted",
        channel=AuditChannel.BOT,
        actor_account_id=account.id,
        object_type="invite",
        object_id=invite.id,
        details=f"role={role} level={invite.level or '-'} class_id={invite.class_id or '-'}",
    )
    await session.commit()
    class_label = ""
    if invite.class_id is not None:
        school_class = await session.get(SchoolClass, invite.class_id)
        class_label = school_class.label if school_class else ""
    level = SchoolLevel(invite.level) if invite.level else None
    return Joined(InvitePurpose.STAFF, role=role, level=level, class_label=class_label)


async def accept_consent(session: AsyncSession, account: Account, invite_id: int, now: datetime) -> Outcome:
    """Consent given: redeem the invite, link the account to the child and record the consent at once."""
    invite = await session.get(Invite, invite_id)
    if invite is None or invite.student_id is None:
        return Refused(CodeProblem.UNKNOWN)
    status = invites.status_of(invite, now)
    if status != invites.InviteStatus.OK:
        return Refused(CodeProblem(status))
    student, _ = await _student_with_class(session, invite.student_id)
    problem = await _person_problem(session, account, invite, student)
    if problem is not None:
        return problem
    if not await invites.mark_used(session, invite, account.id, now):
        return await _lost_the_race(session, account)
    purpose = InvitePurpose(invite.purpose)
    if purpose == InvitePurpose.STUDENT:
        # A new code for the same student means a new phone: the new account replaces the old one.
        student.account_id = account.id
        session.add(student)
    else:
        await _confirm_guardian_link(session, account, student, now)
    session.add(
        Consent(
            account_id=account.id,
            student_id=student.id,
            version=CONSENT_VERSION,
            decision=ConsentDecision.GIVEN,
        )
    )
    await audit.record(
        session,
        action="consent_given",
        channel=AuditChannel.BOT,
        actor_account_id=account.id,
        student_id=student.id,
        object_type="invite",
        object_id=invite.id,
        details=f"purpose={purpose} version={CONSENT_VERSION}",
    )
    await session.commit()
    return Joined(purpose, student_name=student.full_name)


async def _confirm_guardian_link(
    session: AsyncSession, account: Account, student: Student, now: datetime
) -> None:
    link = (
        await session.exec(
            select(GuardianLink).where(
                GuardianLink.account_id == account.id, GuardianLink.student_id == student.id
            )
        )
    ).first()
    if link is None:
        link = GuardianLink(account_id=account.id, student_id=student.id)
    link.status = GuardianLinkStatus.CONFIRMED
    link.confirmed_at = now
    link.revoked_at = None
    session.add(link)


async def decline_consent(session: AsyncSession, account: Account, invite_id: int) -> None:
    """Only the decline is stored; the code is not spent."""
    invite = await session.get(Invite, invite_id)
    if invite is None or invite.student_id is None:
        return
    student_id = invite.student_id
    session.add(
        Consent(
            account_id=account.id,
            student_id=student_id,
            version=CONSENT_VERSION,
            decision=ConsentDecision.DECLINED,
        )
    )
    await audit.record(
        session,
        action="consent_declined",
        channel=AuditChannel.BOT,
        actor_account_id=account.id,
        student_id=student_id,
    )
    await session.commit()


async def revoke_exposed_code(session: AsyncSession, code: str, now: datetime) -> bool:
    """A code posted in a group chat is no longer secret: revoke it. True when a live code was revoked."""
    invite = await invites.find_invite(session, code)
    if invite is None or invites.status_of(invite, now) != invites.InviteStatus.OK:
        return False
    invite.revoked_at = now
    session.add(invite)
    await audit.record(
        session,
        action="invite_revoked_exposed",
        channel=AuditChannel.BOT,
        student_id=invite.student_id,
        object_type="invite",
        object_id=invite.id,
        details="posted in a group chat",
    )
    await session.commit()
    return True
