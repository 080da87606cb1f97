"""The access policy: the one place that decides who may see or change which student's data.

Deny by default. Every handler, admin route and command asks here at the moment of acting; nothing is
inferred from which buttons someone was shown. `is_allowed` answers for any `Action` (the matrix test and
the web admin use it); handlers call the specific `may_*` function of what they do.
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.principal import Principal
from models import Achievement, DigestDelivery, SchoolClass, Student
from models.enums import AchievementStatus, SchoolLevel, StudentStatus


class Action(StrEnum):
    VIEW_CLASS = "view_class"
    VIEW_PORTFOLIO = "view_portfolio"
    VIEW_EVIDENCE = "view_evidence"
    SUBMIT = "submit"
    REVIEW = "review"
    WITHDRAW = "withdraw"
    REWARD = "reward"
    REQUEST_EXTRACT = "request_extract"
    WITHDRAW_CONSENT = "withdraw_consent"
    VERIFY = "verify"
    EXPORT = "export"
    MANAGE_ROSTER = "manage_roster"
    VIEW_AUDIT_LOG = "view_audit_log"
    USE_ADMIN = "use_admin"


def _staff_scope(principal: Principal, school_class: SchoolClass) -> bool:
    """The staff who act on a class: its class teacher, the deputy of its level, administrators."""
    return principal.account_id is not None and (
        principal.is_admin
        or school_class.level in principal.deputy_levels
        or (school_class.id is not None and school_class.id in principal.class_teacher_of)
    )


def _family(principal: Principal, student: Student) -> bool:
    """The student themself or a confirmed guardian, only while the student is active (checked here too,
    not only when the principal was loaded: the student's status may have changed since)."""
    return (
        principal.account_id is not None
        and student.id is not None
        and student.status == StudentStatus.ACTIVE
        and (principal.own_student_id == student.id or student.id in principal.children)
    )


def _enrolled(student: Student, school_class: SchoolClass) -> bool:
    """An active student of this class as loaded now: a left or graduated student's data is kept only
    until it is destroyed (retention) and nobody browses, reviews or rewards it in the meantime."""
    return (
        school_class.id is not None
        and student.class_id == school_class.id
        and student.status == StudentStatus.ACTIVE
    )


def may_view_class(principal: Principal, school_class: SchoolClass) -> bool:
    """Roster and onboarding coverage of a class: its class teacher, the deputy of its level, admins."""
    return _staff_scope(principal, school_class)


async def classes_in_scope(session: AsyncSession, principal: Principal) -> list[SchoolClass]:
    """The classes a staff member may view, in school order."""
    if not principal.is_staff:
        return []
    return visible_classes(principal, await all_classes(session))


async def all_classes(session: AsyncSession) -> list[SchoolClass]:
    """Every class, in school order."""
    return list(
        (await session.exec(select(SchoolClass).order_by(SchoolClass.grade, SchoolClass.letter))).all()
    )


def visible_classes(principal: Principal, classes: list[SchoolClass]) -> list[SchoolClass]:
    """Those of `classes` the person may view (for many people at once: the classes are read once)."""
    return [c for c in classes if may_view_class(principal, c)]


async def class_ids_in_scope(session: AsyncSession, principal: Principal) -> frozenset[int] | None:
    """The ids of the classes whose data a staff member may be shown in lists (the web admin's rows):
    None means every class, also one added later (administrators)."""
    if principal.account_id is not None and principal.is_admin:
        return None
    return frozenset(c.id for c in await classes_in_scope(session, principal) if c.id is not None)


def levels_in_scope(principal: Principal) -> frozenset[SchoolLevel] | None:
    """The school levels whose data a deputy or administrator may export: None means the whole school."""
    if principal.is_admin:
        return None
    return principal.deputy_levels


def may_view_portfolio(principal: Principal, student: Student, school_class: SchoolClass) -> bool:
    """A student's approved achievements and rewards: the student, their guardians, and the staff of the
    student's current class (a subject teacher or coach does not browse portfolios)."""
    if not _enrolled(student, school_class):
        return False
    return _family(principal, student) or _staff_scope(principal, school_class)


def may_view_achievement(
    principal: Principal, achievement: Achievement, student: Student, school_class: SchoolClass
) -> bool:
    """One achievement with its evidence files: staff of the class always; the family once it is
    approved; whoever submitted it in any status, while they are still the child's family or staff (a
    guardian whose link was revoked no longer sees what they once sent)."""
    if achievement.student_id != student.id or not _enrolled(student, school_class):
        return False
    if _staff_scope(principal, school_class):
        return True
    family = _family(principal, student)
    if _submitted_by(principal, achievement) and (family or principal.is_staff):
        return True
    return achievement.status == AchievementStatus.APPROVED and family


def _submitted_by(principal: Principal, achievement: Achievement) -> bool:
    return principal.account_id is not None and achievement.submitted_by_account_id == principal.account_id


def may_submit_for(principal: Principal, student: Student) -> bool:
    """Achievements of an active student: the student, their guardians, and any staff member (a coach
    sends the team's diplomas; the class teacher still reviews them)."""
    if student.status != StudentStatus.ACTIVE:
        return False
    return _family(principal, student) or (principal.account_id is not None and principal.is_staff)


def may_review(principal: Principal, student: Student, school_class: SchoolClass) -> bool:
    """Decide or correct a student's submission: the class teacher of the student's current class, the
    deputy of its level, an administrator. `school_class` must be the student's class as loaded now."""
    return _enrolled(student, school_class) and _staff_scope(principal, school_class)


def reviews_submissions(principal: Principal) -> bool:
    """Has a review queue (/pending) at all: class teachers, deputies, administrators. Which achievements
    are in it is `may_review`'s to say, one by one."""
    return principal.account_id is not None and (
        principal.is_admin or bool(principal.deputy_levels) or bool(principal.class_teacher_of)
    )


def may_withdraw(principal: Principal, achievement: Achievement, student: Student) -> bool:
    """Take back a submission about an active student: only the person who submitted it, while they are
    still the child's family or staff (that it is still pending is the record's rule, kept by
    `submissions.withdraw`)."""
    return (
        achievement.student_id == student.id
        and student.status == StudentStatus.ACTIVE
        and _submitted_by(principal, achievement)
        and (_family(principal, student) or principal.is_staff)
    )


def may_reward(principal: Principal, student: Student, school_class: SchoolClass) -> bool:
    """Record a reward (поощрение) for an active student: the staff of the student's current class."""
    return student.status == StudentStatus.ACTIVE and may_review(principal, student, school_class)


def grants_rewards(principal: Principal) -> bool:
    """Has the rewards menu at all; which students is `may_reward`'s to say."""
    return reviews_submissions(principal)


def may_request_extract(principal: Principal, student: Student) -> bool:
    """A results request (regulation 6.4) for an active student: the student themself or a confirmed
    guardian. Staff do not request extracts on a family's behalf."""
    return student.status == StudentStatus.ACTIVE and _family(principal, student)


def may_withdraw_consent(principal: Principal, student: Student) -> bool:
    """Withdraw consent to processing a child's data: a confirmed guardian of that child, or the student
    themself for their own record (each only the consent they gave)."""
    return _family(principal, student)


def may_verify_extract(principal: Principal) -> bool:
    """Check an extract's verification code: any staff member."""
    return principal.account_id is not None and principal.is_staff


def may_export(principal: Principal) -> bool:
    """Registers and exports (XLSX/CSV): administrators for the school, deputies for their level
    (`levels_in_scope` says which)."""
    return principal.account_id is not None and (principal.is_admin or bool(principal.deputy_levels))


def may_export_class(principal: Principal, school_class: SchoolClass) -> bool:
    """A class's (or one of its students') data in an export: within the exporter's levels."""
    scope = levels_in_scope(principal)
    return may_export(principal) and (scope is None or school_class.level in scope)


def may_export_levels(principal: Principal, levels: frozenset[SchoolLevel] | None) -> bool:
    """An export of these school levels (None: the whole school): only within `levels_in_scope`."""
    if not may_export(principal):
        return False
    allowed = levels_in_scope(principal)
    return allowed is None or (levels is not None and levels <= allowed)


def may_manage_roster(principal: Principal) -> bool:
    """Roster import, students' records (edit form) and status, staff and invites: administrators."""
    return principal.account_id is not None and principal.is_admin


def may_view_audit_log(principal: Principal) -> bool:
    """The access log (who saw or changed which child's data): administrators."""
    return principal.account_id is not None and principal.is_admin


def may_view_digest(principal: Principal, delivery: DigestDelivery) -> bool:
    """A weekly digest as it was sent (its message and PDF): administrators any recipient's; anyone else
    only the ones sent to them (a deputy's digest is theirs, not every deputy's)."""
    scope = digest_recipients_in_scope(principal)
    return principal.account_id is not None and (scope is None or delivery.account_id in scope)


def digest_recipients_in_scope(principal: Principal) -> frozenset[int] | None:
    """Whose digests a person may open (`may_view_digest`, for a query): None means everyone's."""
    if principal.account_id is None:
        return frozenset()
    if principal.is_admin:
        return None
    return frozenset({principal.account_id})


def may_use_admin(principal: Principal) -> bool:
    """Sign in to the web admin: administrators and deputies."""
    return may_export(principal)


def may_do_in_admin(principal: Principal, action: Action) -> bool:
    """A page or form of the web admin that does `action`, before any object is named: only for those
    who may use the admin, and then as `is_allowed` answers without an object (so administrators only for
    MANAGE_ROSTER and VIEW_AUDIT_LOG). Which rows a page then shows is `class_ids_in_scope`'s and
    `digest_recipients_in_scope`'s to say, and each object is checked again when acted on."""
    return may_use_admin(principal) and is_allowed(principal, action)


def is_allowed(
    principal: Principal,
    action: Action,
    *,
    student: Student | None = None,
    school_class: SchoolClass | None = None,
    achievement: Achievement | None = None,
) -> bool:
    """Any action on any object, by name. A missing object means no."""
    match action:
        case Action.VIEW_CLASS:
            return school_class is not None and may_view_class(principal, school_class)
        case Action.VIEW_PORTFOLIO:
            return (
                student is not None
                and school_class is not None
                and may_view_portfolio(principal, student, school_class)
            )
        case Action.VIEW_EVIDENCE:
            return (
                achievement is not None
                and student is not None
                and school_class is not None
                and may_view_achievement(principal, achievement, student, school_class)
            )
        case Action.SUBMIT:
            return student is not None and may_submit_for(principal, student)
        case Action.REVIEW:
            return (
                student is not None
                and school_class is not None
                and may_review(principal, student, school_class)
            )
        case Action.WITHDRAW:
            return (
                achievement is not None
                and student is not None
                and may_withdraw(principal, achievement, student)
            )
        case Action.REWARD:
            return (
                student is not None
                and school_class is not None
                and may_reward(principal, student, school_class)
            )
        case Action.REQUEST_EXTRACT:
            return student is not None and may_request_extract(principal, student)
        case Action.WITHDRAW_CONSENT:
            return student is not None and may_withdraw_consent(principal, student)
        case Action.VERIFY:
            return may_verify_extract(principal)
        case Action.EXPORT:
            # Without an object: may export at all; with one: within the exporter's levels.
            if school_class is not None:
                return may_export_class(principal, school_class)
            return student is None and may_export(principal)
        case Action.MANAGE_ROSTER:
            return may_manage_roster(principal)
        case Action.VIEW_AUDIT_LOG:
            return may_view_audit_log(principal)
        case Action.USE_ADMIN:
            return may_use_admin(principal)
    return False
