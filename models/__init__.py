"""Every table of the application, imported here so that `SQLModel.metadata` knows them all."""

from models.accounts import Account, GuardianLink, StaffAssignment
from models.achievements import Achievement, AchievementStatusChange, EvidenceFile
from models.admin import AdminLoginToken, AdminSession
from models.audit import AuditEvent
from models.consents import Consent
from models.counters import Counter
from models.digests import DigestDelivery
from models.fsm import FsmRecord
from models.invites import CodeAttempt, Invite
from models.outbox import Notification
from models.requests import ResultsRequest
from models.rewards import Reward
from models.school import SchoolClass, Student

__all__ = [
    "Account",
    "Achievement",
    "AchievementStatusChange",
    "AdminLoginToken",
    "AdminSession",
    "AuditEvent",
    "CodeAttempt",
    "Consent",
    "Counter",
    "DigestDelivery",
    "EvidenceFile",
    "FsmRecord",
    "GuardianLink",
    "Invite",
    "Notification",
    "ResultsRequest",
    "Reward",
    "SchoolClass",
    "StaffAssignment",
    "Student",
]
