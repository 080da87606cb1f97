"""Retention (152-ФЗ, art. 5 p. 7 and art. 21 p. 4): the records of a student who left or graduated are
destroyed once the retention period after that change has passed.

Destroyed with the student: achievements, their status history, evidence rows and the files on disk,
rewards, results requests, guardian links, invites, the consent history, notifications about them,
dialogues in progress about them (FSM drafts in the database), and the student row itself (every table
with a foreign key to `student` is in `DESTROYED_WITH_STUDENT`; a test fails when a new one appears). The student's own Telegram account stays (the audit log refers to it) with
its names blanked. The audit log keeps its rows (its `student_id` has no foreign key) and gets one
«destroyed» event per student, without names. Each student goes in a transaction of its own; evidence
files are removed after the commit, so a crash can leave only an orphan file, which the orphan sweep takes
later.

Weekly digest PDFs that name the student go too (`digest_files_naming`): the audit log has a row per child
named in each digest, `digest_sent` (the recipient as actor, the week as object) whose delivery row holds
the PDF's path, and `digest_exported` for a dry run's previews under `digests/<week>/preview/` (its details
name the preview's scope; an older row without them stands for every preview of that week). A PDF names
the other children of its scope as well: it goes all the same. These files are removed before the
student's transaction commits (no sweep would find them once the student is gone), and the delivery rows
that pointed at them keep their week and recipient, without the path.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit
from bot.services.digest import DIGESTS_DIR, PREVIEW_DETAILS
from models import (
    Account,
    Achievement,
    AchievementStatusChange,
    AuditEvent,
    Consent,
    DigestDelivery,
    EvidenceFile,
    FsmRecord,
    GuardianLink,
    Invite,
    Notification,
    ResultsRequest,
    Reward,
    SchoolClass,
    Student,
)
from models.enums import AuditChannel, StudentStatus

DESTROYED_WITH_STUDENT = frozenset(
    {"achievement", "consent", "guardian_link", "invite", "notification", "results_request", "reward"}
)
# Files younger than this may belong to a draft still being entered in the wizard.
ORPHAN_MIN_AGE = timedelta(days=1)
# Where `evidence.store` puts files under MEDIA_DIR: ab/cd/abcd<28 more hex>.<ext>. Nothing else matches,
# so the sweep never touches other files kept in MEDIA_DIR.
_EVIDENCE_PATH = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{2})/\1\2[0-9a-f]{28}\.[a-z0-9]{1,5}$")
# The week an audit row of a digest names (`Period.key`), before it goes into a path.
_WEEK_KEY = re.compile(r"^\d{4}-W\d{2}$")


@dataclass(frozen=True)
class StudentToDestroy:
    student_id: int
    full_name: str
    class_label: str
    status: StudentStatus
    status_since: datetime
    achievements: int
    files: int
    rewards: int
    requests: int
    digests: tuple[str, ...] = ()  # digest PDFs on disk that name the student, relative to MEDIA_DIR


@dataclass(frozen=True)
class RetentionReport:
    now: datetime
    retention_days: int
    students: list[StudentToDestroy]
    orphan_files: list[str]  # relative to MEDIA_DIR
    applied: bool


async def _count(session: AsyncSession, query: object) -> int:
    return int((await session.exec(query)).one())  # type: ignore[call-overload]


async def students_due(
    session: AsyncSession, now: datetime, retention_days: int, media_dir: Path
) -> list[StudentToDestroy]:
    """Students who left or graduated more than `retention_days` ago, with what would be destroyed
    (the digest PDFs naming them are looked for under `media_dir`)."""
    cutoff = now - timedelta(days=retention_days)
    rows = (
        await session.exec(
            select(Student, SchoolClass)
            .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
            .where(
                col(Student.status).in_([StudentStatus.LEFT, StudentStatus.GRADUATED]),
                col(Student.status_changed_at).is_not(None),
                col(Student.status_changed_at) <= cutoff,
            )
            .order_by(col(Student.id))
        )
    ).all()
    due = []
    for student, school_class in rows:
        achievements = select(Achievement.id).where(Achievement.student_id == student.id)
        due.append(
            StudentToDestroy(
                student_id=student.id,  # type: ignore[arg-type]
                full_name=student.full_name,
                class_label=school_class.label,
                status=StudentStatus(student.status),
                status_since=student.status_changed_at,  # type: ignore[arg-type]
                achievements=await _count(
                    session, select(func.count()).where(Achievement.student_id == student.id)
                ),
                files=await _count(
                    session,
                    select(func.count()).where(col(EvidenceFile.achievement_id).in_(achievements)),
                ),
                rewards=await _count(session, select(func.count()).where(Reward.student_id == student.id)),
                requests=await _count(
                    session, select(func.count()).where(ResultsRequest.student_id == student.id)
                ),
                digests=await digest_files_naming(session, media_dir, student.id),  # type: ignore[arg-type]
            )
        )
    return due


async def digest_files_naming(session: AsyncSession, media_dir: Path, student_id: int) -> tuple[str, ...]:
    """The digest PDFs on disk (relative to MEDIA_DIR, sorted) that named the student: the files sent to
    each recipient the audit log says saw them in a week's digest, and a dry run's previews of that week."""
    named = (AuditEvent.student_id == student_id, col(AuditEvent.object_type) == "digest")
    # The files sent: the delivery row of each (week, recipient) the audit log saw the student shown to.
    sent = set(
        (
            await session.exec(
                select(DigestDelivery.pdf_path)
                .join(
                    AuditEvent,
                    (col(AuditEvent.object_id) == col(DigestDelivery.period))
                    & (col(AuditEvent.actor_account_id) == col(DigestDelivery.account_id)),
                )
                .where(*named, AuditEvent.action == "digest_sent", col(DigestDelivery.pdf_path).is_not(None))
                .distinct()
            )
        ).all()
    )
    previews: set[tuple[str, str | None]] = set()  # (week, the preview's scope slug, or None: every one)
    for week, details in (
        await session.exec(
            select(AuditEvent.object_id, AuditEvent.details)
            .where(*named, AuditEvent.action == "digest_exported")
            .distinct()
        )
    ).all():
        if week is None or not _WEEK_KEY.match(week):
            continue
        has_slug = details is not None and details.startswith(PREVIEW_DETAILS)
        previews.add((week, details.removeprefix(PREVIEW_DETAILS) if has_slug else None))  # type: ignore[union-attr]
    candidates = {path for path in sent if path}
    found = await asyncio.to_thread(_digest_files_on_disk, media_dir, candidates, previews)
    return tuple(found)


def _digest_files_on_disk(
    media_dir: Path, candidates: set[str], previews: set[tuple[str, str | None]]
) -> list[str]:
    root = (media_dir / DIGESTS_DIR).resolve()
    found = set()
    for relative in candidates:
        path = (media_dir / relative).resolve()
        if path.is_relative_to(root) and path.is_file():  # never anything outside MEDIA_DIR/digests
            found.add(path.relative_to(media_dir.resolve()).as_posix())
    for week, slug in previews:
        folder = root / week / "preview"
        if not folder.is_dir():
            continue
        for path in folder.glob("*/*.pdf"):
            if path.is_file() and (slug is None or path.name == f"digest-{week}-{slug}.pdf"):
                found.add(path.relative_to(media_dir.resolve()).as_posix())
    return sorted(found)


async def destroy_student(
    session: AsyncSession,
    item: StudentToDestroy,
    retention_days: int,
    channel: AuditChannel,
    media_dir: Path,
) -> list[str]:
    """Delete one student's records and write the audit event; commits. The digest PDFs naming the
    student (`item.digests`, under `media_dir`) are removed before the commit. Returns the evidence files
    (relative paths) that no longer belong to any record, for the caller to remove."""
    student_id = item.student_id
    if item.digests:
        await asyncio.to_thread(remove_files, media_dir, list(item.digests))
        await session.exec(
            update(DigestDelivery).where(col(DigestDelivery.pdf_path).in_(item.digests)).values(pdf_path=None)
        )
    achievement_ids = select(Achievement.id).where(Achievement.student_id == student_id)
    paths = set(
        (
            await session.exec(
                select(EvidenceFile.path).where(col(EvidenceFile.achievement_id).in_(achievement_ids))
            )
        ).all()
    )
    await session.exec(delete(EvidenceFile).where(col(EvidenceFile.achievement_id).in_(achievement_ids)))
    await session.exec(
        delete(AchievementStatusChange).where(
            col(AchievementStatusChange.achievement_id).in_(achievement_ids)
        )
    )
    # A reward of someone else citing one of these achievements keeps the reward, not the citation.
    await session.exec(
        update(Reward)
        .where(col(Reward.achievement_id).in_(achievement_ids), Reward.student_id != student_id)
        .values(achievement_id=None)
    )
    for table in (Reward, ResultsRequest, Notification, GuardianLink, Invite, Consent, Achievement):
        await session.exec(delete(table).where(table.student_id == student_id))  # type: ignore[attr-defined]
    paths |= await _drop_drafts_about(session, student_id)
    student = await session.get(Student, student_id)
    if student is not None and student.account_id is not None:
        await session.exec(
            update(Account)
            .where(col(Account.id) == student.account_id)
            .values(first_name="", last_name="", username=None, display_name="")
        )
    await session.exec(delete(Student).where(col(Student.id) == student_id))
    await audit.record(
        session,
        action="student_records_destroyed",
        channel=channel,
        student_id=student_id,
        object_type="student",
        object_id=student_id,
        details=(
            f"status={item.status} since={item.status_since.date().isoformat()} "
            f"retention_days={retention_days} achievements={item.achievements} files={item.files} "
            f"rewards={item.rewards} requests={item.requests} digests={len(item.digests)}"
        ),
    )
    await session.commit()
    # A file still named by another record (never expected: each record owns its files) is kept.
    still_used = set(
        (await session.exec(select(EvidenceFile.path).where(col(EvidenceFile.path).in_(paths)))).all()
    )
    return sorted(paths - still_used)


async def _drop_drafts_about(session: AsyncSession, student_id: int) -> set[str]:
    """Dialogues in progress about the student (a half-entered diploma, a reward, a request) are their data
    too, and can't be finished now: deleted. Returns the evidence files those drafts held."""
    paths: set[str] = set()
    for record in (await session.exec(select(FsmRecord))).all():
        try:
            data = json.loads(record.data or "{}")
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        named = [data.get("student_id"), *(data.get("student_ids") or [])]
        if student_id not in {int(value) for value in named if str(value).isdigit()}:
            continue
        paths |= {f["path"] for f in data.get("files") or [] if isinstance(f, dict) and f.get("path")}
        await session.delete(record)
    return paths


async def orphan_files(session: AsyncSession, media_dir: Path, now: datetime) -> list[str]:
    """Evidence files older than a day that no record owns and no dialogue in progress holds (a draft
    abandoned with «Назад» or /cancel after its photo was stored, or a file left by a crash)."""
    candidates = await asyncio.to_thread(_old_evidence_files, media_dir, now - ORPHAN_MIN_AGE)
    if not candidates:
        return []
    owned = set((await session.exec(select(EvidenceFile.path))).all())
    drafts = "\n".join((await session.exec(select(FsmRecord.data))).all())
    return [path for path in candidates if path not in owned and path not in drafts]


def _old_evidence_files(media_dir: Path, older_than: datetime) -> list[str]:
    if not media_dir.is_dir():
        return []
    found = []
    for path in media_dir.glob("*/*/*"):
        relative = path.relative_to(media_dir).as_posix()
        if (
            _EVIDENCE_PATH.match(relative)
            and path.is_file()
            and path.stat().st_mtime < older_than.timestamp()
        ):
            found.append(relative)
    return sorted(found)


def remove_files(media_dir: Path, paths: list[str]) -> None:
    for relative in paths:
        (media_dir / relative).unlink(missing_ok=True)


async def run_retention(
    session: AsyncSession,
    media_dir: Path,
    now: datetime,
    retention_days: int,
    *,
    apply: bool,
    channel: AuditChannel = AuditChannel.CLI,
) -> RetentionReport:
    """Find what is due and, with `apply`, destroy it. A dry run reads only."""
    due = await students_due(session, now, retention_days, media_dir)
    orphans = await orphan_files(session, media_dir, now)
    if apply:
        for item in due:
            files = await destroy_student(session, item, retention_days, channel, media_dir)
            await asyncio.to_thread(remove_files, media_dir, files)
        await asyncio.to_thread(remove_files, media_dir, orphans)
        if orphans:
            await audit.record(
                session,
                action="orphan_files_removed",
                channel=channel,
                details=f"files={len(orphans)}",
            )
            await session.commit()
    return RetentionReport(
        now=now, retention_days=retention_days, students=due, orphan_files=orphans, applied=apply
    )
