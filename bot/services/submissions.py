"""Submitting an achievement and reviewing it: numbering, routing to the reviewer, decisions.

Who may submit, decide, correct or withdraw is decided by the access policy (`bot/services/access.py`)
before these functions are called: they take already-authorised account ids. They do keep the rules of
the record itself: a decision, correction or withdrawal happens only while the achievement is pending,
as a conditional UPDATE, so a double tap or two reviewers at once act exactly once.

Every `now` is an aware datetime; pass it in the school's zone, since its year picks the number series
and its date is «today» for date checks (the database stores it as UTC).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n_text import _, in_language
from bot.services import audit, outbox
from bot.services.evidence import StoredFile, find_duplicates
from bot.services.numbering import next_number
from bot.services.outbox import NotificationPayload
from bot.services.taxonomy import (
    AchievementLevel,
    AchievementResult,
    Category,
    label,
    reject_reason_text,
    results_for,
)
from models import (
    Account,
    Achievement,
    AchievementStatusChange,
    EvidenceFile,
    SchoolClass,
    StaffAssignment,
    Student,
)
from models.enums import AchievementStatus, AuditChannel, Source, StaffRole

MAX_TITLE_LENGTH = 200
MAX_REASON_LENGTH = 500
MAX_FILES = 10  # a Telegram album
# Names on the review card are clipped so that the caption always fits Telegram's 1024 characters.
MAX_NAME_ON_CARD = 120
EARLIEST_EVENT_DATE = date(2000, 1, 1)
# «d.m.yyyy», «dd.mm.yy» and the like; separators typed on a phone vary.
_DATE_PATTERN = re.compile(r"(\d{1,2})[.,/\- ](\d{1,2})[.,/\- ](\d{4}|\d{2})")
# Callback data of the review card's buttons: «rv:<action>:<achievement id>», what
# `class ReviewCb(CallbackData, prefix="rv"): action: str; achievement_id: int` packs.
REVIEW_CALLBACK_PREFIX = "rv"


class InputProblem(StrEnum):
    TITLE_EMPTY = "title_empty"
    TITLE_TOO_LONG = "title_too_long"
    DATE_FORMAT = "date_format"
    DATE_INVALID = "date_invalid"  # e.g. 31.02
    DATE_FUTURE = "date_future"
    DATE_TOO_OLD = "date_too_old"
    RESULT_NOT_ALLOWED = "result_not_allowed"  # e.g. «призёр» for ГТО
    NO_EVIDENCE = "no_evidence"
    TOO_MANY_FILES = "too_many_files"
    REASON_MISSING = "reason_missing"
    UNKNOWN_FIELD = "unknown_field"


class InvalidInput(ValueError):
    """Input that breaks a rule of the record; `problem` tells the handler which re-prompt to show."""

    def __init__(self, problem: InputProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewAction(StrEnum):
    """The buttons of the review card."""

    APPROVE = "approve"
    REJECT = "reject"
    CORRECT = "correct"


@dataclass
class SubmissionDraft:
    """Everything the wizard collected; validated again by `create_submission`."""

    student_id: int
    category: Category
    level: AchievementLevel
    result: AchievementResult
    title: str
    event_date: date
    source: Source
    forwarded: bool = False
    files: list[StoredFile] = field(default_factory=list)


@dataclass(frozen=True)
class DecisionOutcome:
    """What a decision, correction or withdrawal did.

    `applied` is False when the achievement was no longer pending: nothing was written, and
    `achievement` shows its current status, who decided (`decided_by_account_id`) and when.
    """

    applied: bool
    achievement: Achievement


def validate_title(text: str) -> str:
    """The event title as stored: whitespace collapsed, 1..200 characters. Raises InvalidInput."""
    title = " ".join(text.split())
    if not title:
        raise InvalidInput(InputProblem.TITLE_EMPTY)
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(InputProblem.TITLE_TOO_LONG)
    return title


def check_event_date(value: date, today: date) -> date:
    """An event date is not in the future and not before 2000. Raises InvalidInput."""
    if value > today:
        raise InvalidInput(InputProblem.DATE_FUTURE)
    if value < EARLIEST_EVENT_DATE:
        raise InvalidInput(InputProblem.DATE_TOO_OLD)
    return value


def parse_event_date(text: str, today: date) -> date:
    """A typed date: day, month, year separated by «.», «,», «/», «-» or a space.

    Day and month take one or two digits; the year four, or two meaning 20yy (dates before 2000 are
    refused anyway, so «24» can only be 2024). Raises InvalidInput.
    """
    match = _DATE_PATTERN.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(InputProblem.DATE_FORMAT)
    day, month, year = (int(part) for part in match.groups())
    if year < 100:
        year += 2000
    try:
        value = date(year, month, day)
    except ValueError as error:
        raise InvalidInput(InputProblem.DATE_INVALID) from error
    return check_event_date(value, today)


def check_result(category: Category, result: AchievementResult) -> None:
    if result not in results_for(category):
        raise InvalidInput(InputProblem.RESULT_NOT_ALLOWED)


def review_callback(action: ReviewAction, achievement_id: int) -> str:
    return f"{REVIEW_CALLBACK_PREFIX}:{action}:{achievement_id}"


async def _staff_ids(session: AsyncSession, role: StaffRole, *conditions: Any) -> list[int]:
    """Accounts with an active assignment of `role` matching `conditions`, in id order."""
    query = select(StaffAssignment.account_id).where(
        StaffAssignment.role == role, col(StaffAssignment.active).is_(True), *conditions
    )
    return sorted(set((await session.exec(query)).all()))


async def _load_student(session: AsyncSession, student_id: int) -> tuple[Student, SchoolClass]:
    row = (
        await session.exec(
            select(Student, SchoolClass)
            .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
            .where(Student.id == student_id)
        )
    ).first()
    if row is None:
        raise LookupError(f"no student {student_id}")
    return row


async def reviewers_for(session: AsyncSession, student_id: int) -> list[int]:
    """Who reviews this student's submissions: the class teacher(s) of the student's current class;
    if none can be reached (none assigned, or they blocked or never started the bot), the deputy of its
    level; if none either, the administrators."""
    _student, school_class = await _load_student(session, student_id)
    return (
        await _reachable(session, StaffRole.CLASS_TEACHER, StaffAssignment.class_id == school_class.id)
        or await _reachable(session, StaffRole.DEPUTY, StaffAssignment.level == school_class.level)
        or await _reachable(session, StaffRole.ADMIN)
    )


async def _reachable(session: AsyncSession, role: StaffRole, *conditions: Any) -> list[int]:
    ids = await _staff_ids(session, role, *conditions)
    if not ids:
        return []
    query = select(Account.id).where(col(Account.id).in_(ids), col(Account.reachable).is_(True))
    return sorted((await session.exec(query)).all())


def _clipped(text: str, limit: int = MAX_NAME_ON_CARD) -> str:
    """`text` HTML-escaped, cut to `limit` characters with «…»."""
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


async def _accounts(session: AsyncSession, account_ids: list[int]) -> list[Account]:
    if not account_ids:
        return []
    query = select(Account).where(col(Account.id).in_(account_ids)).order_by(col(Account.id))
    return list((await session.exec(query)).all())


def evidence_media(files: Sequence[StoredFile]) -> dict[str, list[str]]:
    """The files as a NotificationPayload's media: photos, or, with any PDF among them, every file as a
    document (Telegram can't mix photos and documents in one album)."""
    if all(f.mime_type.startswith("image/") for f in files):
        return {"photo_paths": [f.path for f in files]}
    return {"document_paths": [f.path for f in files]}


def review_card(
    achievement: Achievement,
    student: Student,
    school_class: SchoolClass,
    submitter: Account | None,
    files: list[StoredFile],
) -> NotificationPayload:
    """The card the reviewer gets: the evidence, its details in the caption, and the three buttons."""
    lines = [
        _("📝 <b>Достижение № {number}</b> — на проверку").format(number=achievement.number),
        _("Ученик: {name}, {class_label}").format(
            name=_clipped(student.full_name), class_label=html.escape(school_class.label)
        ),
        _("Категория: {category}").format(category=label(Category(achievement.category))),
        _("Уровень: {level}").format(level=label(AchievementLevel(achievement.level))),
        _("Результат: {result}").format(result=label(AchievementResult(achievement.result))),
        _("Название: {title}").format(title=html.escape(achievement.title)),
        _("Дата: {date}").format(date=achievement.event_date.strftime("%d.%m.%Y")),
        _("Получено: {source}").format(source=label(Source(achievement.source))),
    ]
    if submitter is not None:
        lines.append(_("Прислал(а): {name}").format(name=_clipped(submitter.name)))
    if achievement.duplicate:
        lines.append(_("⚠️ Похоже, этот документ уже загружен"))
    if achievement.forwarded:
        lines.append(_("↪️ Переслано"))
    media = evidence_media(files)
    assert achievement.id is not None, "flushed before the card is made"
    buttons = [
        [
            (_("✅ Одобрить"), review_callback(ReviewAction.APPROVE, achievement.id)),
            (_("❌ Отклонить"), review_callback(ReviewAction.REJECT, achievement.id)),
        ],
        [(_("✏️ Исправить"), review_callback(ReviewAction.CORRECT, achievement.id))],
    ]
    buttons_text = _("Достижение № {number}: одобрить, отклонить или исправить?").format(
        number=achievement.number
    )
    return NotificationPayload(text="\n".join(lines), buttons=buttons, buttons_text=buttons_text, **media)


async def create_submission(
    session: AsyncSession,
    draft: SubmissionDraft,
    submitter_account_id: int,
    now: datetime,
    *,
    channel: AuditChannel = AuditChannel.BOT,
) -> Achievement:
    """Save a submission as pending, with its files, history, audit and the reviewers' cards; commits.

    When the submitter is a class teacher of the student's current class, it is approved at once and
    nobody else is notified. Raises InvalidInput, or LookupError for an unknown student.
    """
    if not draft.files:
        raise InvalidInput(InputProblem.NO_EVIDENCE)
    if len(draft.files) > MAX_FILES:
        raise InvalidInput(InputProblem.TOO_MANY_FILES)
    check_result(draft.category, draft.result)
    title = validate_title(draft.title)
    check_event_date(draft.event_date, now.date())

    # Reads first: the number below is the transaction's first write (see numbering.next_number).
    student, school_class = await _load_student(session, draft.student_id)
    class_teachers = await _staff_ids(
        session, StaffRole.CLASS_TEACHER, StaffAssignment.class_id == school_class.id
    )
    approve_now = submitter_account_id in class_teachers
    reviewers = [] if approve_now else await reviewers_for(session, draft.student_id)
    duplicates = await find_duplicates(session, draft.student_id, [f.original_sha256 for f in draft.files])
    submitter = await session.get(Account, submitter_account_id)
    reviewer_accounts = await _accounts(session, reviewers)

    achievement = Achievement(
        number=await next_number(session, "achievement", now.year),
        student_id=draft.student_id,
        submitted_by_account_id=submitter_account_id,
        category=draft.category,
        level=draft.level,
        result=draft.result,
        title=title,
        event_date=draft.event_date,
        source=draft.source,
        forwarded=draft.forwarded,
        duplicate=bool(duplicates),
        created_at=now,
        updated_at=now,
    )
    if approve_now:
        achievement.status = AchievementStatus.APPROVED
        achievement.decided_by_account_id = submitter_account_id
        achievement.decided_at = now
    session.add(achievement)
    await session.flush()

    for position, stored in enumerate(draft.files):
        session.add(
            EvidenceFile(
                achievement_id=achievement.id,
                position=position,
                path=stored.path,
                sha256=stored.sha256,
                original_sha256=stored.original_sha256,
                mime_type=stored.mime_type,
                size=stored.size,
                created_at=now,
            )
        )
    session.add(
        AchievementStatusChange(
            achievement_id=achievement.id,
            from_status=None,
            to_status=achievement.status,
            actor_account_id=submitter_account_id,
            note="approved on submission" if approve_now else None,
            at=now,
        )
    )
    await audit.record(
        session,
        action="achievement_submitted",
        channel=channel,
        actor_account_id=submitter_account_id,
        student_id=draft.student_id,
        object_type="achievement",
        object_id=achievement.id,
        details=f"number={achievement.number} files={len(draft.files)} duplicate={achievement.duplicate}",
    )
    if approve_now:
        await audit.record(
            session,
            action="achievement_approved",
            channel=channel,
            actor_account_id=submitter_account_id,
            student_id=draft.student_id,
            object_type="achievement",
            object_id=achievement.id,
            details="approved on submission by the class teacher",
        )
    for reviewer in reviewer_accounts:
        with in_language(reviewer.language):
            card = review_card(achievement, student, school_class, submitter, draft.files)
        await outbox.enqueue(
            session,
            reviewer.id,
            "review",
            card,
            dedup_key=f"review:{achievement.id}:{reviewer.id}",
            student_id=achievement.student_id,
        )
    await session.commit()
    return achievement


async def _reload(session: AsyncSession, achievement_id: int) -> Achievement:
    achievement = await session.get(Achievement, achievement_id, populate_existing=True)
    if achievement is None:
        raise LookupError(f"no achievement {achievement_id}")
    return achievement


async def _set_if_pending(
    session: AsyncSession, achievement_id: int, now: datetime, *conditions: Any, **values: Any
) -> bool:
    """Change a pending achievement; False (and nothing written) when it is no longer pending."""
    result = await session.exec(
        update(Achievement)
        .where(
            col(Achievement.id) == achievement_id,
            Achievement.status == AchievementStatus.PENDING,
            *conditions,
        )
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        return True
    await session.rollback()
    return False


def _outcome_message(achievement: Achievement, student: Student) -> NotificationPayload:
    what = {
        "number": achievement.number,
        "title": html.escape(achievement.title),
        "name": html.escape(student.short_name),
    }
    if achievement.status == AchievementStatus.APPROVED:
        text = _("✅ Достижение № {number} «{title}» ({name}) одобрено и добавлено в портфолио.").format(
            **what
        )
    else:
        text = (
            _("❌ Достижение № {number} «{title}» ({name}) отклонено.\nПричина: {reason}").format(
                reason=html.escape(reject_reason_text(achievement.reject_reason or "")), **what
            )
            + "\n"
            + _(
                "Если нужно, пришлите его заново через «➕ Добавить достижение» — например, с более чётким фото."
            )
        )
    return NotificationPayload(text=text)


async def decide(
    session: AsyncSession,
    achievement_id: int,
    actor_account_id: int,
    decision: Decision,
    reason: str | None,
    now: datetime,
    *,
    channel: AuditChannel = AuditChannel.BOT,
) -> DecisionOutcome:
    """Approve or reject a pending achievement, exactly once; commits.

    Roles are not checked here: the access policy decides who may decide before this is called.
    `reason` (a RejectReason value, or the reviewer's own text) is required to reject. When another
    decision came first, nothing is written and the outcome shows it. Otherwise the status history,
    the audit log and the submitter's notification are written with the decision.
    """
    if decision == Decision.REJECT:
        reason = " ".join((reason or "").split())[:MAX_REASON_LENGTH]
        if not reason:
            raise InvalidInput(InputProblem.REASON_MISSING)
    else:
        reason = None
    status = AchievementStatus.APPROVED if decision == Decision.APPROVE else AchievementStatus.REJECTED
    applied = await _set_if_pending(
        session,
        achievement_id,
        now,
        status=status,
        decided_by_account_id=actor_account_id,
        decided_at=now,
        reject_reason=reason,
    )
    achievement = await _reload(session, achievement_id)
    if not applied:
        return DecisionOutcome(applied=False, achievement=achievement)

    session.add(
        AchievementStatusChange(
            achievement_id=achievement_id,
            from_status=AchievementStatus.PENDING,
            to_status=status,
            actor_account_id=actor_account_id,
            note=reason,
            at=now,
        )
    )
    await audit.record(
        session,
        action=f"achievement_{status}",
        channel=channel,
        actor_account_id=actor_account_id,
        student_id=achievement.student_id,
        object_type="achievement",
        object_id=achievement_id,
        details=None if reason is None else f"reason: {reason}",
    )
    submitter_id = achievement.submitted_by_account_id
    if submitter_id is not None and submitter_id != actor_account_id:
        student, _class = await _load_student(session, achievement.student_id)
        submitter = await session.get(Account, submitter_id)
        with in_language(submitter.language if submitter else ""):
            message = _outcome_message(achievement, student)
        await outbox.enqueue(
            session,
            submitter_id,
            "decision",
            message,
            dedup_key=f"decision:{achievement_id}",
            student_id=achievement.student_id,
        )
    await session.commit()
    return DecisionOutcome(applied=True, achievement=achievement)


def _cleaned_changes(changes: dict[str, Any], today: date) -> dict[str, Any]:
    parsers = {
        "category": Category,
        "level": AchievementLevel,
        "result": AchievementResult,
        "title": validate_title,
        "event_date": lambda value: check_event_date(value, today),
    }
    if not changes.keys() <= parsers.keys():
        raise InvalidInput(InputProblem.UNKNOWN_FIELD)
    return {name: parsers[name](value) for name, value in changes.items()}


async def correct(
    session: AsyncSession,
    achievement_id: int,
    actor_account_id: int,
    changes: dict[str, Any],
    now: datetime,
    *,
    channel: AuditChannel = AuditChannel.BOT,
) -> DecisionOutcome:
    """Let the reviewer fix category, level, result, title or event date while pending; commits.

    Raises InvalidInput for a bad value, an unknown field, or a result the category doesn't allow.
    """
    cleaned = _cleaned_changes(changes, now.date())
    achievement = await _reload(session, achievement_id)
    check_result(
        Category(cleaned.get("category", achievement.category)),
        AchievementResult(cleaned.get("result", achievement.result)),
    )
    changed = {name: value for name, value in cleaned.items() if getattr(achievement, name) != value}
    if achievement.status != AchievementStatus.PENDING:
        return DecisionOutcome(applied=False, achievement=achievement)
    if not changed:
        return DecisionOutcome(applied=True, achievement=achievement)
    if not await _set_if_pending(session, achievement_id, now, **changed):
        return DecisionOutcome(applied=False, achievement=await _reload(session, achievement_id))
    await audit.record(
        session,
        action="achievement_corrected",
        channel=channel,
        actor_account_id=actor_account_id,
        student_id=achievement.student_id,
        object_type="achievement",
        object_id=achievement_id,
        details="changed: " + ", ".join(sorted(changed)),
    )
    await session.commit()
    return DecisionOutcome(applied=True, achievement=await _reload(session, achievement_id))


async def withdraw(
    session: AsyncSession,
    achievement_id: int,
    submitter_account_id: int,
    now: datetime,
    *,
    channel: AuditChannel = AuditChannel.BOT,
) -> DecisionOutcome:
    """The submitter takes back their own pending submission; commits.

    Raises PermissionError when `submitter_account_id` did not submit it.
    """
    applied = await _set_if_pending(
        session,
        achievement_id,
        now,
        Achievement.submitted_by_account_id == submitter_account_id,
        status=AchievementStatus.WITHDRAWN,
        decided_by_account_id=submitter_account_id,
        decided_at=now,
    )
    achievement = await _reload(session, achievement_id)
    if not applied:
        if achievement.submitted_by_account_id != submitter_account_id:
            raise PermissionError("only the submitter may withdraw a submission")
        return DecisionOutcome(applied=False, achievement=achievement)
    session.add(
        AchievementStatusChange(
            achievement_id=achievement_id,
            from_status=AchievementStatus.PENDING,
            to_status=AchievementStatus.WITHDRAWN,
            actor_account_id=submitter_account_id,
            at=now,
        )
    )
    await audit.record(
        session,
        action="achievement_withdrawn",
        channel=channel,
        actor_account_id=submitter_account_id,
        student_id=achievement.student_id,
        object_type="achievement",
        object_id=achievement_id,
    )
    await session.commit()
    return DecisionOutcome(applied=True, achievement=achievement)
