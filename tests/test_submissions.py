"""Submission and review rules: numbers, routing, decisions exactly once, corrections, withdrawal."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData
from sqlmodel import col, select

from bot.services import submissions
from bot.services.evidence import StoredFile
from bot.services.outbox import NotificationPayload, visible_length
from bot.services.submissions import (
    Decision,
    InputProblem,
    InvalidInput,
    SubmissionDraft,
    correct,
    create_submission,
    decide,
    parse_event_date,
    reviewers_for,
    validate_title,
    withdraw,
)
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category, RejectReason
from models import (
    Account,
    Achievement,
    AchievementStatusChange,
    AuditEvent,
    EvidenceFile,
    Notification,
    StaffAssignment,
)
from models.db import SessionFactory
from models.enums import AchievementStatus, Source, StaffRole
from tests.factories import School, make_account, make_school, make_student

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
_file_numbers = itertools.count(1)


def stored_file(mime_type: str = "image/jpeg", content: bytes | None = None) -> StoredFile:
    """A file as `evidence.store` describes it (the services never read it from disk)."""
    number = next(_file_numbers)
    received = content if content is not None else f"file {number}".encode()
    extension = ".pdf" if mime_type == "application/pdf" else ".jpg"
    return StoredFile(
        path=f"{number:02d}/00/file{number}{extension}",
        sha256=hashlib.sha256(b"normalised " + received).hexdigest(),
        original_sha256=hashlib.sha256(received).hexdigest(),
        mime_type=mime_type,
        size=len(received),
    )


def make_draft(student_id: int, **changes: Any) -> SubmissionDraft:
    fields: dict[str, Any] = {
        "student_id": student_id,
        "category": Category.OLYMPIAD,
        "level": AchievementLevel.REGIONAL,
        "result": AchievementResult.PRIZE_WINNER,
        "title": "Региональный этап ВсОШ по математике",
        "event_date": date(2026, 2, 1),
        "source": Source.OUR_SCHOOL,
        "files": [stored_file()],
    }
    fields.update(changes)
    return SubmissionDraft(**fields)


@pytest.fixture
async def school(session_factory: SessionFactory) -> School:
    return await make_school(session_factory)


async def submit(session_factory: SessionFactory, draft: SubmissionDraft, submitter: int) -> Achievement:
    async with session_factory() as session:
        return await create_submission(session, draft, submitter, NOW)


async def all_rows(session_factory: SessionFactory, model: type, *where: Any) -> list[Any]:
    async with session_factory() as session:
        return list((await session.exec(select(model).where(*where).order_by(col(model.id)))).all())


async def notifications(session_factory: SessionFactory) -> list[Notification]:
    return await all_rows(session_factory, Notification)


# -- input rules ------------------------------------------------------------------------------------------


def test_a_title_is_trimmed_and_its_whitespace_collapsed() -> None:
    assert validate_title("  Олимпиада \n «Кенгуру»\t2026 ") == "Олимпиада «Кенгуру» 2026"
    assert validate_title("x" * 200) == "x" * 200


@pytest.mark.parametrize(
    ("text", "problem"),
    [("   \n ", InputProblem.TITLE_EMPTY), ("x" * 1500, InputProblem.TITLE_TOO_LONG)],
)
def test_an_empty_or_overlong_title_is_refused(text: str, problem: InputProblem) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_title(text)
    assert caught.value.problem == problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05.03.2026", date(2026, 3, 5)),
        ("5.3.2026", date(2026, 3, 5)),
        (" 05.03.26 ", date(2026, 3, 5)),
        ("05/03/2026", date(2026, 3, 5)),
        ("10,03,2026", date(2026, 3, 10)),  # today
        ("01.01.2000", date(2000, 1, 1)),
    ],
)
def test_typed_dates_are_day_month_year(text: str, expected: date) -> None:
    assert parse_event_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("вчера", InputProblem.DATE_FORMAT),
        ("2026-03-05", InputProblem.DATE_FORMAT),
        ("5.3", InputProblem.DATE_FORMAT),
        ("31.02.2026", InputProblem.DATE_INVALID),
        ("11.03.2026", InputProblem.DATE_FUTURE),
        ("31.12.1999", InputProblem.DATE_TOO_OLD),
    ],
)
def test_bad_dates_are_refused_with_a_reason(text: str, problem: InputProblem) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_event_date(text, TODAY)
    assert caught.value.problem == problem


# -- creating a submission --------------------------------------------------------------------------------


async def test_a_guardians_submission_is_pending_with_a_number_files_history_and_audit(
    session_factory: SessionFactory, school: School
) -> None:
    peter = school.students_5a[0]
    files = [stored_file(), stored_file()]
    achievement = await submit(session_factory, make_draft(peter.id, files=files), school.guardian.id)

    assert achievement.number == "2026-0001"
    assert achievement.status == AchievementStatus.PENDING
    assert achievement.submitted_by_account_id == school.guardian.id
    assert not achievement.duplicate and not achievement.forwarded
    evidence = await all_rows(session_factory, EvidenceFile, EvidenceFile.achievement_id == achievement.id)
    assert [(f.position, f.path, f.original_sha256) for f in evidence] == [
        (0, files[0].path, files[0].original_sha256),
        (1, files[1].path, files[1].original_sha256),
    ]
    history = await all_rows(session_factory, AchievementStatusChange)
    assert [(h.from_status, h.to_status, h.actor_account_id) for h in history] == [
        (None, AchievementStatus.PENDING, school.guardian.id)
    ]
    audit = await all_rows(session_factory, AuditEvent)
    assert [(a.action, a.student_id, a.object_id) for a in audit] == [
        ("achievement_submitted", peter.id, str(achievement.id))
    ]


async def test_numbers_run_per_year(session_factory: SessionFactory, school: School) -> None:
    peter = school.students_5a[0]
    numbers = [
        (await submit(session_factory, make_draft(peter.id), school.guardian.id)).number for _ in range(2)
    ]
    async with session_factory() as session:
        next_year = await create_submission(
            session, make_draft(peter.id), school.guardian.id, datetime(2027, 1, 2, tzinfo=UTC)
        )
    assert [*numbers, next_year.number] == ["2026-0001", "2026-0002", "2027-0001"]


async def test_ten_simultaneous_submissions_get_ten_consecutive_numbers(
    session_factory: SessionFactory, school: School
) -> None:
    students = school.students_5a + school.students_5b

    async def one(index: int) -> str:
        draft = make_draft(students[index % len(students)].id)
        return (await submit(session_factory, draft, school.coach.id)).number

    numbers = await asyncio.gather(*(one(i) for i in range(10)))
    assert sorted(numbers) == [f"2026-{n:04d}" for n in range(1, 11)]


async def test_the_same_file_again_for_the_same_student_is_flagged_as_a_duplicate(
    session_factory: SessionFactory, school: School
) -> None:
    peter, anna = school.students_5a
    diploma = stored_file(content=b"the same diploma")
    first = await submit(session_factory, make_draft(peter.id, files=[diploma]), school.guardian.id)
    again = await submit(
        session_factory,
        make_draft(peter.id, files=[stored_file(content=b"the same diploma")]),
        school.guardian.id,
    )
    other_child = await submit(session_factory, make_draft(anna.id, files=[diploma]), school.coach.id)

    assert (first.duplicate, again.duplicate, other_child.duplicate) == (False, True, False)
    cards = {
        n.dedup_key: NotificationPayload.model_validate_json(n.payload)
        for n in await notifications(session_factory)
    }
    assert "уже загружен" in cards[f"review:{again.id}:{school.teacher_5a.id}"].text
    assert "уже загружен" not in cards[f"review:{first.id}:{school.teacher_5a.id}"].text


async def test_a_withdrawn_submissions_files_are_not_duplicates(
    session_factory: SessionFactory, school: School
) -> None:
    peter = school.students_5a[0]
    first = await submit(
        session_factory, make_draft(peter.id, files=[stored_file(content=b"d")]), school.guardian.id
    )
    async with session_factory() as session:
        await withdraw(session, first.id, school.guardian.id, NOW)
    again = await submit(
        session_factory, make_draft(peter.id, files=[stored_file(content=b"d")]), school.guardian.id
    )
    assert not again.duplicate


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"files": []}, InputProblem.NO_EVIDENCE),
        ({"files": [stored_file() for _ in range(11)]}, InputProblem.TOO_MANY_FILES),
        ({"category": Category.GTO}, InputProblem.RESULT_NOT_ALLOWED),  # «призёр» is no ГТО badge
        ({"title": " "}, InputProblem.TITLE_EMPTY),
        ({"event_date": date(2026, 3, 11)}, InputProblem.DATE_FUTURE),
    ],
)
async def test_a_draft_breaking_a_rule_is_not_saved(
    session_factory: SessionFactory, school: School, changes: dict[str, Any], problem: InputProblem
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await submit(session_factory, make_draft(school.students_5a[0].id, **changes), school.guardian.id)
    assert caught.value.problem == problem
    assert await all_rows(session_factory, Achievement) == []


# -- who reviews ------------------------------------------------------------------------------------------


async def test_the_class_teacher_gets_one_review_card_with_the_evidence_and_three_buttons(
    session_factory: SessionFactory, school: School
) -> None:
    peter = school.students_5a[0]
    title = "Конкурс «Умники & умницы» <b>2026</b> 🏆"
    album = [stored_file(), stored_file(), stored_file()]
    achievement = await submit(
        session_factory, make_draft(peter.id, title=title, files=album, forwarded=True), school.guardian.id
    )

    [notification] = await notifications(session_factory)
    assert (notification.account_id, notification.kind) == (school.teacher_5a.id, "review")
    assert notification.dedup_key == f"review:{achievement.id}:{school.teacher_5a.id}"
    card = NotificationPayload.model_validate_json(notification.payload)
    assert card.photo_paths == [f.path for f in album] and card.document_paths == []
    assert "Иванов Пётр, 5А" in card.text
    assert "Умники &amp; умницы» &lt;b&gt;2026&lt;/b&gt; 🏆" in card.text
    assert "2026-0001" in card.text and "Переслано" in card.text and "01.02.2026" in card.text
    assert "региональный" in card.text and "призёр" in card.text and "Ольга Иванова" in card.text
    assert [[data for _text, data in row] for row in card.buttons] == [
        [f"rv:approve:{achievement.id}", f"rv:reject:{achievement.id}"],
        [f"rv:correct:{achievement.id}"],
    ]


async def test_the_longest_names_and_title_still_fit_in_a_caption(
    session_factory: SessionFactory, school: School
) -> None:
    async with session_factory() as session:
        student = await make_student(session, school.class_5a, "Щ" * 100, "Ё" * 100)
        student.patronymic = "Ж" * 100
        submitter = await make_account(session, "Я" * 200)
        await session.commit()
    files = [stored_file("application/pdf"), stored_file()]
    draft = make_draft(
        student.id, title="&" * 200, category=Category.ELITE_SPORT, files=files, forwarded=True
    )
    await submit(session_factory, draft, submitter.id)
    again = await submit(session_factory, draft, submitter.id)  # flagged as a duplicate too

    card = NotificationPayload.model_validate_json((await notifications(session_factory))[-1].payload)
    assert again.duplicate and "уже загружен" in card.text
    assert visible_length(card.text) <= 1024
    assert "&amp;" * 200 in card.text and "…" in card.text


async def test_a_pdf_goes_on_the_card_as_a_document(session_factory: SessionFactory, school: School) -> None:
    files = [stored_file("application/pdf")]
    await submit(session_factory, make_draft(school.students_5a[0].id, files=files), school.guardian.id)
    [notification] = await notifications(session_factory)
    card = NotificationPayload.model_validate_json(notification.payload)
    assert (card.document_paths, card.photo_paths) == ([files[0].path], [])


async def test_a_coachs_submission_goes_to_the_students_class_teacher(
    session_factory: SessionFactory, school: School
) -> None:
    maria = school.students_5b[1]
    achievement = await submit(session_factory, make_draft(maria.id), school.coach.id)
    assert achievement.status == AchievementStatus.PENDING
    assert [n.account_id for n in await notifications(session_factory)] == [school.teacher_5b.id]


async def test_another_class_teacher_submitting_still_needs_the_students_class_teacher(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await submit(session_factory, make_draft(school.students_5a[0].id), school.teacher_5b.id)
    assert achievement.status == AchievementStatus.PENDING
    assert [n.account_id for n in await notifications(session_factory)] == [school.teacher_5a.id]


async def test_the_class_teachers_own_submission_is_approved_at_once_and_audited(
    session_factory: SessionFactory, school: School
) -> None:
    peter = school.students_5a[0]
    achievement = await submit(session_factory, make_draft(peter.id), school.teacher_5a.id)

    assert achievement.status == AchievementStatus.APPROVED
    assert (achievement.decided_by_account_id, achievement.decided_at) == (school.teacher_5a.id, NOW)
    history = await all_rows(session_factory, AchievementStatusChange)
    assert [(h.from_status, h.to_status, h.note) for h in history] == [
        (None, AchievementStatus.APPROVED, "approved on submission")
    ]
    audit = await all_rows(session_factory, AuditEvent)
    assert [a.action for a in audit] == ["achievement_submitted", "achievement_approved"]
    assert "on submission" in (audit[1].details or "")
    assert await notifications(session_factory) == []


async def deactivate(session_factory: SessionFactory, role: StaffRole) -> None:
    async with session_factory() as session:
        for assignment in (
            await session.exec(select(StaffAssignment).where(StaffAssignment.role == role))
        ).all():
            assignment.active = False
            session.add(assignment)
        await session.commit()


async def test_without_a_class_teacher_the_deputy_reviews_and_without_a_deputy_the_admins(
    session_factory: SessionFactory, school: School
) -> None:
    peter = school.students_5a[0]
    async with session_factory() as session:
        assert await reviewers_for(session, peter.id) == [school.teacher_5a.id]
    await deactivate(session_factory, StaffRole.CLASS_TEACHER)
    async with session_factory() as session:
        assert await reviewers_for(session, peter.id) == [school.deputy.id]
    await deactivate(session_factory, StaffRole.DEPUTY)
    async with session_factory() as session:
        assert await reviewers_for(session, peter.id) == [school.admin.id]


async def test_a_moved_class_teacher_no_longer_reviews_nor_self_approves(
    session_factory: SessionFactory, school: School
) -> None:
    peter = school.students_5a[0]
    await deactivate(session_factory, StaffRole.CLASS_TEACHER)
    achievement = await submit(session_factory, make_draft(peter.id), school.teacher_5a.id)
    assert achievement.status == AchievementStatus.PENDING
    assert [n.account_id for n in await notifications(session_factory)] == [school.deputy.id]


# -- decisions --------------------------------------------------------------------------------------------


async def pending(session_factory: SessionFactory, school: School) -> Achievement:
    return await submit(session_factory, make_draft(school.students_5a[0].id), school.guardian.id)


async def test_approval_tells_the_submitter_and_is_recorded(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    later = NOW + timedelta(hours=2)
    async with session_factory() as session:
        outcome = await decide(
            session, achievement.id, school.teacher_5a.id, Decision.APPROVE, "ignored", later
        )

    assert outcome.applied
    assert outcome.achievement.status == AchievementStatus.APPROVED
    assert (outcome.achievement.decided_by_account_id, outcome.achievement.decided_at) == (
        school.teacher_5a.id,
        later,
    )
    assert outcome.achievement.reject_reason is None
    history = await all_rows(session_factory, AchievementStatusChange)
    assert [(h.from_status, h.to_status, h.actor_account_id) for h in history][1:] == [
        (AchievementStatus.PENDING, AchievementStatus.APPROVED, school.teacher_5a.id)
    ]
    told = [n for n in await notifications(session_factory) if n.kind == "decision"]
    assert [(n.account_id, n.dedup_key) for n in told] == [(school.guardian.id, f"decision:{achievement.id}")]
    assert "одобрено" in NotificationPayload.model_validate_json(told[0].payload).text


async def test_rejection_needs_a_reason_and_the_submitter_reads_it(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    async with session_factory() as session:
        with pytest.raises(InvalidInput):
            await decide(session, achievement.id, school.teacher_5a.id, Decision.REJECT, "  ", NOW)
        outcome = await decide(
            session, achievement.id, school.teacher_5a.id, Decision.REJECT, RejectReason.UNREADABLE, NOW
        )
    assert outcome.applied and outcome.achievement.reject_reason == "unreadable"
    [told] = [n for n in await notifications(session_factory) if n.kind == "decision"]
    text = NotificationPayload.model_validate_json(told.payload).text
    assert "отклонено" in text and "нечитаемое фото" in text
    audit = await all_rows(session_factory, AuditEvent, AuditEvent.action == "achievement_rejected")
    assert [a.details for a in audit] == ["reason: unreadable"]


async def test_a_typed_reject_reason_is_kept_as_typed(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    async with session_factory() as session:
        await decide(session, achievement.id, school.teacher_5a.id, Decision.REJECT, "Диплом <чужой>", NOW)
    [told] = [n for n in await notifications(session_factory) if n.kind == "decision"]
    assert "Диплом &lt;чужой&gt;" in NotificationPayload.model_validate_json(told.payload).text


async def race(
    session_factory: SessionFactory, achievement_id: int, *presses: tuple[int, Decision]
) -> list[Any]:
    """Presses at the same moment, each through its own session (as two updates would)."""

    async def press(actor: int, decision: Decision) -> Any:
        async with session_factory() as session:
            return await decide(session, achievement_id, actor, decision, "дубликат", NOW)

    return await asyncio.gather(*(press(actor, decision) for actor, decision in presses))


async def assert_decided_once(session_factory: SessionFactory, achievement_id: int) -> None:
    decisions = await all_rows(
        session_factory, AchievementStatusChange, col(AchievementStatusChange.from_status).is_not(None)
    )
    assert len(decisions) == 1
    audit = await all_rows(
        session_factory,
        AuditEvent,
        col(AuditEvent.action).in_(["achievement_approved", "achievement_rejected"]),
    )
    assert len(audit) == 1
    assert len([n for n in await notifications(session_factory) if n.kind == "decision"]) == 1


async def test_a_double_tap_approves_once(session_factory: SessionFactory, school: School) -> None:
    achievement = await pending(session_factory, school)
    outcomes = await race(
        session_factory,
        achievement.id,
        (school.teacher_5a.id, Decision.APPROVE),
        (school.teacher_5a.id, Decision.APPROVE),
    )
    assert sorted(o.applied for o in outcomes) == [False, True]
    [late] = [o for o in outcomes if not o.applied]
    assert late.achievement.status == AchievementStatus.APPROVED
    assert (late.achievement.decided_by_account_id, late.achievement.decided_at) == (
        school.teacher_5a.id,
        NOW,
    )
    await assert_decided_once(session_factory, achievement.id)


async def test_approve_against_reject_gives_one_decision_and_the_loser_sees_it(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    outcomes = await race(
        session_factory,
        achievement.id,
        (school.teacher_5a.id, Decision.APPROVE),
        (school.deputy.id, Decision.REJECT),
    )
    [winner] = [o for o in outcomes if o.applied]
    [loser] = [o for o in outcomes if not o.applied]
    assert loser.achievement.status == winner.achievement.status
    assert loser.achievement.decided_by_account_id == winner.achievement.decided_by_account_id
    await assert_decided_once(session_factory, achievement.id)


async def test_a_decided_achievement_cannot_be_decided_again(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    async with session_factory() as session:
        await decide(session, achievement.id, school.teacher_5a.id, Decision.REJECT, "дубликат", NOW)
    async with session_factory() as session:
        outcome = await decide(session, achievement.id, school.admin.id, Decision.APPROVE, None, NOW)
    assert not outcome.applied and outcome.achievement.status == AchievementStatus.REJECTED
    await assert_decided_once(session_factory, achievement.id)


async def test_the_reviewer_deciding_on_their_own_submission_is_not_told_about_it(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await submit(session_factory, make_draft(school.students_5a[0].id), school.deputy.id)
    async with session_factory() as session:
        await decide(session, achievement.id, school.deputy.id, Decision.APPROVE, None, NOW)
    assert [n.kind for n in await notifications(session_factory)] == ["review"]


# -- corrections and withdrawal ---------------------------------------------------------------------------


async def test_the_reviewer_corrects_fields_while_pending_and_the_audit_names_them(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    changes = {
        "category": Category.GTO,
        "result": AchievementResult.GTO_GOLD,
        "title": "  Нормы ГТО,   III ступень ",
        "level": AchievementLevel.REGIONAL,  # unchanged
    }
    async with session_factory() as session:
        outcome = await correct(session, achievement.id, school.teacher_5a.id, changes, NOW)

    assert outcome.applied
    fixed = outcome.achievement
    assert (fixed.category, fixed.result, fixed.title, fixed.status) == (
        Category.GTO,
        AchievementResult.GTO_GOLD,
        "Нормы ГТО, III ступень",
        AchievementStatus.PENDING,
    )
    [audit] = await all_rows(session_factory, AuditEvent, AuditEvent.action == "achievement_corrected")
    assert (audit.actor_account_id, audit.details) == (
        school.teacher_5a.id,
        "changed: category, result, title",
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"category": Category.GTO}, InputProblem.RESULT_NOT_ALLOWED),
        ({"title": ""}, InputProblem.TITLE_EMPTY),
        ({"event_date": date(1999, 5, 1)}, InputProblem.DATE_TOO_OLD),
        ({"status": AchievementStatus.APPROVED}, InputProblem.UNKNOWN_FIELD),
    ],
)
async def test_a_correction_breaking_a_rule_changes_nothing(
    session_factory: SessionFactory, school: School, changes: dict[str, Any], problem: InputProblem
) -> None:
    achievement = await pending(session_factory, school)
    async with session_factory() as session:
        with pytest.raises(InvalidInput) as caught:
            await correct(session, achievement.id, school.teacher_5a.id, changes, NOW)
    assert caught.value.problem == problem
    [unchanged] = await all_rows(session_factory, Achievement)
    assert (unchanged.category, unchanged.title) == (achievement.category, achievement.title)


async def test_a_decided_achievement_cannot_be_corrected(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    async with session_factory() as session:
        await decide(session, achievement.id, school.teacher_5a.id, Decision.APPROVE, None, NOW)
    async with session_factory() as session:
        outcome = await correct(session, achievement.id, school.teacher_5a.id, {"title": "Другое"}, NOW)
    assert not outcome.applied and outcome.achievement.title == achievement.title
    assert await all_rows(session_factory, AuditEvent, AuditEvent.action == "achievement_corrected") == []


async def test_the_submitter_withdraws_while_pending_and_nobody_can_decide_after(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    async with session_factory() as session:
        outcome = await withdraw(session, achievement.id, school.guardian.id, NOW)
    assert outcome.applied and outcome.achievement.status == AchievementStatus.WITHDRAWN
    async with session_factory() as session:
        late = await decide(session, achievement.id, school.teacher_5a.id, Decision.APPROVE, None, NOW)
    assert not late.applied
    assert (late.achievement.status, late.achievement.decided_by_account_id) == (
        AchievementStatus.WITHDRAWN,
        school.guardian.id,
    )
    history = await all_rows(session_factory, AchievementStatusChange)
    assert [h.to_status for h in history] == [AchievementStatus.PENDING, AchievementStatus.WITHDRAWN]
    audit = await all_rows(session_factory, AuditEvent)
    assert [a.action for a in audit] == ["achievement_submitted", "achievement_withdrawn"]


async def test_only_the_submitter_may_withdraw_and_only_while_pending(
    session_factory: SessionFactory, school: School
) -> None:
    achievement = await pending(session_factory, school)
    async with session_factory() as session:
        with pytest.raises(PermissionError):
            await withdraw(session, achievement.id, school.teacher_5a.id, NOW)
    async with session_factory() as session:
        await decide(session, achievement.id, school.teacher_5a.id, Decision.APPROVE, None, NOW)
    async with session_factory() as session:
        outcome = await withdraw(session, achievement.id, school.guardian.id, NOW)
    assert not outcome.applied and outcome.achievement.status == AchievementStatus.APPROVED


async def test_an_unknown_achievement_is_a_lookup_error(
    session_factory: SessionFactory, school: School
) -> None:
    async with session_factory() as session:
        with pytest.raises(LookupError):
            await decide(session, 999, school.teacher_5a.id, Decision.APPROVE, None, NOW)


class ReviewCb(CallbackData, prefix="rv"):
    """What the handlers' factory for the review buttons must look like."""

    action: str
    achievement_id: int


def test_review_buttons_unpack_with_a_callback_data_factory_and_fit_in_64_bytes() -> None:
    data = submissions.review_callback(submissions.ReviewAction.CORRECT, 2**31)
    assert ReviewCb.unpack(data) == ReviewCb(action="correct", achievement_id=2**31)
    assert len(data.encode()) <= 64


async def test_a_class_teacher_who_cannot_be_reached_is_passed_over_for_the_deputy(
    session_factory: SessionFactory, school: School
) -> None:
    peter = school.students_5a[0]
    async with session_factory() as session:
        teacher = await session.get(Account, school.teacher_5a.id)
        assert teacher is not None
        teacher.reachable = False  # blocked the bot, or never started it
        session.add(teacher)
        await session.commit()
        assert await reviewers_for(session, peter.id) == [school.deputy.id]
