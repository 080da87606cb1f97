"""Fixed vocabularies of the domain. Stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class SchoolLevel(StrEnum):
    """Level of general education, derived from the grade (НОО 1–4, ООО 5–9, СОО 10–11)."""

    NOO = "noo"
    OOO = "ooo"
    SOO = "soo"

    @classmethod
    def for_grade(cls, grade: int) -> SchoolLevel:
        if 1 <= grade <= 4:
            return cls.NOO
        if 5 <= grade <= 9:
            return cls.OOO
        if 10 <= grade <= 11:
            return cls.SOO
        raise ValueError(f"grade out of range: {grade}")


class StudentStatus(StrEnum):
    ACTIVE = "active"
    LEFT = "left"
    GRADUATED = "graduated"


class GuardianLinkStatus(StrEnum):
    PENDING = "pending"  # code redeemed, consent not yet given
    CONFIRMED = "confirmed"
    REVOKED = "revoked"


class StaffRole(StrEnum):
    ADMIN = "admin"
    DEPUTY = "deputy"  # of one school level
    CLASS_TEACHER = "class_teacher"  # of one class
    TEACHER = "teacher"


class InvitePurpose(StrEnum):
    STUDENT = "student"  # the student's own account
    GUARDIAN = "guardian"  # a legal representative of the student
    STAFF = "staff"


class ConsentDecision(StrEnum):
    GIVEN = "given"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class AchievementStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Source(StrEnum):
    """Where the achievement was earned (regulation, section 5)."""

    OUR_SCHOOL = "our_school"
    OTHER_ORG = "other_org"


class RequestScope(StrEnum):
    CURRENT_YEAR = "current_year"
    ALL_YEARS = "all_years"


class AuditChannel(StrEnum):
    BOT = "bot"
    WEB = "web"
    CLI = "cli"
    SYSTEM = "system"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up: the recipient blocked the bot or Telegram refused the message
    CANCELLED = "cancelled"  # not to be sent any more: the guardian withdrew consent for that child
