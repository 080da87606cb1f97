"""Retention: the records and files of students who left or graduated long enough ago are destroyed, with an
audit event and an act; nothing of anyone else is touched; a dry run changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.utils.i18n import I18n
from pypdf import PdfReader
from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from bot.__main__ import main
from bot.config import Settings
from bot.migrate import upgrade_database
from bot.reports.destruction_act import build_act_csv, build_act_pdf
from bot.services import audit
from bot.services.digest import Period, run_digest
from bot.services.outbox import NotificationPayload, enqueue
from bot.services.retention import DESTROYED_WITH_STUDENT, run_retention
from bot.services.students import set_student_status
from models import (
    Account,
    Achievement,
    AchievementStatusChange,
    AuditEvent,
    Consent,
    DigestDelivery,
    EvidenceFile,
    GuardianLink,
    Invite,
    Notification,
    ResultsRequest,
    Reward,
    Student,
)
from models.base import utcnow
from models.db import SessionFactory, create_engine, create_session_factory
from models.enums import AuditChannel, ConsentDecision, InvitePurpose, RequestScope, Source, StudentStatus
from tests.factories import make_account, make_school

LOCALES = Path(__file__).resolve().parent.parent / "locales"
MOSCOW = ZoneInfo("Europe/Moscow")

STUDENT_TABLES = (
    Achievement,
    EvidenceFile,
    AchievementStatusChange,
    Reward,
    ResultsRequest,
    GuardianLink,
    Invite,
    Consent,
    Notification,
    Student,
)


@dataclass
class World:
    leaver: int  # left 40 days ago: due
    leaver_account: int
    recent: int  # graduated 5 days ago: kept
    active: int
    leaver_files: list[Path]
    active_file: Path
    old_orphan: Path
    young_orphan: Path
    other_file: Path  # in MEDIA_DIR but not evidence


def evidence_on_disk(media_dir: Path, *, age: timedelta = timedelta(0)) -> tuple[str, Path]:
    """A file where `evidence.store` would put it (ab/cd/abcd….jpg), `age` old."""
    name = secrets.token_hex(16)
    relative = f"{name[:2]}/{name[2:4]}/{name}.jpg"
    path = media_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 not really a jpeg")
    stamp = (utcnow() - age).timestamp()
    os.utime(path, (stamp, stamp))
    return relative, path


async def achievement_with_file(
    session, student_id: int, number: str, media_dir: Path, title: str = "Олимпиада"
) -> tuple[Achievement, Path]:
    achievement = Achievement(
        number=number,
        student_id=student_id,
        category="olympiad",
        level="regional",
        result="winner",
        title=title,
        event_date=date(2026, 3, 1),
        source=Source.OUR_SCHOOL,
        status="approved",
    )
    session.add(achievement)
    await session.flush()
    relative, path = evidence_on_disk(media_dir, age=timedelta(days=60))
    session.add(
        EvidenceFile(
            achievement_id=achievement.id,
            path=relative,
            sha256="0" * 64,
            original_sha256="0" * 64,
            mime_type="image/jpeg",
            size=20,
        )
    )
    session.add(AchievementStatusChange(achievement_id=achievement.id, to_status="approved"))
    return achievement, path


async def build_world(factory: SessionFactory, media_dir: Path) -> World:
    school = await make_school(factory)
    leaver, recent, active = school.students_5a[0], school.students_5a[1], school.students_5b[0]
    now = utcnow()
    async with factory() as session:
        leaver_account = await make_account(session, "Петя")
        student = await session.get(Student, leaver.id)
        assert student is not None
        student.account_id = leaver_account.id
        session.add(student)
        first, file_1 = await achievement_with_file(session, leaver.id, "2026-0001", media_dir)
        _second, file_2 = await achievement_with_file(session, leaver.id, "2026-0002", media_dir)
        _mine, active_file = await achievement_with_file(session, active.id, "2026-0003", media_dir)
        await achievement_with_file(session, recent.id, "2026-0004", media_dir)
        session.add(Reward(student_id=leaver.id, kind="gratitude", reason="За олимпиаду",
                           granted_on=date(2026, 3, 2), achievement_id=first.id))  # fmt: skip
        session.add(
            Reward(student_id=active.id, kind="gratitude", reason="За турнир", granted_on=date(2026, 3, 2))
        )
        session.add(ResultsRequest(number="2026-Z001", student_id=leaver.id, scope=RequestScope.ALL_YEARS))
        session.add(Invite(code_hash="a" * 64, purpose=InvitePurpose.GUARDIAN, student_id=leaver.id,
                           expires_at=now + timedelta(days=1)))  # fmt: skip
        session.add(Consent(account_id=school.guardian.id, student_id=leaver.id, version="2026-1",
                            decision=ConsentDecision.GIVEN))  # fmt: skip
        session.add(GuardianLink(account_id=school.guardian.id, student_id=active.id, status="confirmed"))
        await enqueue(session, school.guardian.id, "decision", NotificationPayload(text="Иванов Пётр"),
                      "about-leaver", student_id=leaver.id)  # fmt: skip
        await enqueue(session, school.guardian.id, "decision", NotificationPayload(text="Кузнецов Илья"),
                      "about-active", student_id=active.id)  # fmt: skip
        await audit.record(session, action="portfolio_viewed", channel=AuditChannel.BOT,
                           actor_account_id=school.guardian.id, student_id=leaver.id)  # fmt: skip
        await session.commit()
        await set_student_status(session, leaver.id, StudentStatus.LEFT, school.admin.id, AuditChannel.WEB,
                                 now - timedelta(days=40))  # fmt: skip
        await set_student_status(session, recent.id, StudentStatus.GRADUATED, None, AuditChannel.CLI,
                                 now - timedelta(days=5))  # fmt: skip
    _rel, old_orphan = evidence_on_disk(media_dir, age=timedelta(days=2))
    _rel, young_orphan = evidence_on_disk(media_dir, age=timedelta(hours=2))
    other_file = media_dir / "digests" / "2026-W49.pdf"
    other_file.parent.mkdir(parents=True)
    other_file.write_bytes(b"%PDF")
    stamp = (now - timedelta(days=9)).timestamp()
    os.utime(other_file, (stamp, stamp))
    return World(leaver.id, leaver_account.id, recent.id, active.id, [file_1, file_2], active_file,  # type: ignore[arg-type]
                 old_orphan, young_orphan, other_file)  # fmt: skip


async def row_counts(factory: SessionFactory) -> dict[str, int]:
    async with factory() as session:
        return {
            table.__tablename__: (await session.exec(select(func.count()).select_from(table))).one()  # type: ignore[attr-defined]
            for table in (*STUDENT_TABLES, AuditEvent)
        }


async def test_a_dry_run_lists_what_is_due_and_changes_nothing(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    world = await build_world(session_factory, media)
    before = await row_counts(session_factory)

    async with session_factory() as session:
        report = await run_retention(session, media, utcnow(), 30, apply=False)

    assert [(s.student_id, s.full_name, s.class_label, s.status) for s in report.students] == [
        (world.leaver, "Иванов Пётр", "5А", StudentStatus.LEFT)
    ]
    item = report.students[0]
    assert (item.achievements, item.files, item.rewards, item.requests) == (2, 2, 1, 1)
    assert report.orphan_files == [world.old_orphan.relative_to(media).as_posix()]
    assert await row_counts(session_factory) == before
    assert all(p.exists() for p in [*world.leaver_files, world.old_orphan, world.young_orphan])


async def test_apply_destroys_the_leavers_records_and_files_and_nothing_else(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    world = await build_world(session_factory, media)

    async with session_factory() as session:
        report = await run_retention(session, media, utcnow(), 30, apply=True)

    assert [s.student_id for s in report.students] == [world.leaver] and report.applied
    async with session_factory() as session:
        assert await session.get(Student, world.leaver) is None
        for table in STUDENT_TABLES:
            if table in (EvidenceFile, AchievementStatusChange, Student):
                continue
            rows = (await session.exec(select(table).where(table.student_id == world.leaver))).all()  # type: ignore[attr-defined]
            assert rows == [], table.__tablename__
        numbers = sorted((await session.exec(select(Achievement.number))).all())
        assert numbers == ["2026-0003", "2026-0004"]
        assert (await session.exec(select(func.count()).select_from(EvidenceFile))).one() == 2
        assert (await session.exec(select(func.count()).select_from(AchievementStatusChange))).one() == 2
        assert [r.reason for r in (await session.exec(select(Reward))).all()] == ["За турнир"]
        assert [n.dedup_key for n in (await session.exec(select(Notification))).all()] == ["about-active"]
        recent = await session.get(Student, world.recent)
        assert recent is not None and recent.status == StudentStatus.GRADUATED
        assert (await session.exec(select(GuardianLink).where(GuardianLink.student_id == world.active))).one()
        account = await session.get(Account, world.leaver_account)
        assert account is not None and (account.first_name, account.display_name) == ("", "")
        events = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.student_id == world.leaver).order_by(col(AuditEvent.id))
            )
        ).all()
        orphans_event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "orphan_files_removed"))
        ).one()
    assert [e.action for e in events] == [
        "portfolio_viewed",
        "student_status_changed",
        "student_records_destroyed",
    ]
    destroyed = events[-1]
    assert destroyed.channel == AuditChannel.CLI and "achievements=2 files=2 rewards=1 requests=1" in (
        destroyed.details or ""
    )
    assert "Иванов" not in (destroyed.details or "") and "Пётр" not in (destroyed.details or "")
    assert orphans_event.details == "files=1"
    assert not any(p.exists() for p in world.leaver_files)
    assert not world.old_orphan.exists()
    assert world.active_file.exists() and world.young_orphan.exists() and world.other_file.exists()

    before = await row_counts(session_factory)
    async with session_factory() as session:
        again = await run_retention(session, media, utcnow(), 30, apply=True)
    assert again.students == [] and again.orphan_files == []
    assert await row_counts(session_factory) == before


async def test_apply_goes_on_when_a_file_is_already_missing_on_disk(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    world = await build_world(session_factory, media)
    gone, kept = world.leaver_files
    gone.unlink()  # lost from the disk before the period ran out

    async with session_factory() as session:
        report = await run_retention(session, media, utcnow(), 30, apply=True)

    assert [s.student_id for s in report.students] == [world.leaver] and not kept.exists()
    async with session_factory() as session:
        assert await session.get(Student, world.leaver) is None
        destroyed = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "student_records_destroyed"))
        ).one()
    assert destroyed.student_id == world.leaver and "files=2" in (destroyed.details or "")


async def test_a_file_of_a_draft_in_progress_is_not_an_orphan(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    from models import FsmRecord

    media = tmp_path / "media"
    relative, path = evidence_on_disk(media, age=timedelta(days=3))
    async with session_factory() as session:
        session.add(
            FsmRecord(key="1:1", state="Submission:title", data=f'{{"files": [{{"path": "{relative}"}}]}}')
        )
        await session.commit()
        report = await run_retention(session, media, utcnow(), 30, apply=True)
    assert report.orphan_files == [] and path.exists()


async def test_a_draft_about_the_destroyed_student_goes_with_them_and_its_photo_too(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    from models import FsmRecord

    media = tmp_path / "media"
    world = await build_world(session_factory, media)
    relative, path = evidence_on_disk(media)  # sent minutes ago: not an orphan by age
    kept_relative, kept_path = evidence_on_disk(media)
    async with session_factory() as session:
        session.add_all(
            [
                FsmRecord(
                    key="7:7",
                    state="Submission:title",
                    data=json.dumps(
                        {"student_id": world.leaver, "files": [{"path": relative}], "title": "Диплом"}
                    ),
                ),
                FsmRecord(
                    key="8:8",
                    state="Submission:title",
                    data=json.dumps({"student_id": world.active, "files": [{"path": kept_relative}]}),
                ),
            ]
        )
        await session.commit()
        await run_retention(session, media, utcnow(), 30, apply=True)
    async with session_factory() as session:
        keys = (await session.exec(select(FsmRecord.key))).all()
    assert keys == ["8:8"]  # the leaver's half-entered diploma is personal data too
    assert not path.exists() and kept_path.exists()


@dataclass
class DigestFiles:
    week: str
    sent: dict[str, Path]  # scope slug -> the PDF sent (5А, 5Б, ooo, school)
    previews: dict[str, Path]  # scope slug -> a dry run's preview of the same week
    old_preview: Path  # a preview audited before previews named their scope: the whole week's go
    other_week: Path  # a digest sent in another week that named only the active student


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


async def digests_of_this_week(factory: SessionFactory, media: Path, world: World) -> DigestFiles:
    """This week's digests, sent and previewed by the real service: the leaver's reward and results request
    are in 5А's, the level's and the school's digests; 5Б's names only the active student."""
    settings = Settings(
        _env_file=None, database_url="sqlite+aiosqlite://", media_dir=media, timezone="Europe/Moscow"
    )
    i18n = I18n(path=LOCALES, default_locale="ru", domain="messages")
    now = utcnow()
    period = Period.containing(now, settings.tz)
    await run_digest(factory, settings, period, now, i18n=i18n)
    preview = await run_digest(factory, settings, period, now, i18n=i18n, dry_run=True)
    async with factory() as session:
        sent = {
            Path(row.pdf_path).stem.rsplit("-", 1)[-1]: media / row.pdf_path  # type: ignore[arg-type]
            for row in (await session.exec(select(DigestDelivery))).all()
        }
        old_preview = media / "digests/2026-W10/preview/ru/digest-2026-W10-school.pdf"
        other_week = media / "digests/2026-W11/ru/digest-2026-W11-5Б.pdf"
        for path in (old_preview, other_week):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"%PDF-1.4 a digest")
        await audit.record(session, action="digest_exported", channel=AuditChannel.CLI,
                           student_id=world.leaver, object_type="digest", object_id="2026-W10")  # fmt: skip
        teacher = (await session.exec(select(DigestDelivery.account_id))).first()
        session.add(DigestDelivery(period="2026-W11", account_id=teacher, scope="class:2",  # type: ignore[arg-type]
                                   pdf_path=other_week.relative_to(media).as_posix()))  # fmt: skip
        await audit.record(session, action="digest_sent", channel=AuditChannel.SYSTEM, actor_account_id=teacher,
                           student_id=world.active, object_type="digest", object_id="2026-W11")  # fmt: skip
        await session.commit()
    previews = {path.stem.rsplit("-", 1)[-1]: path for path in preview.pdfs}
    assert set(sent) == set(previews) == {"5А", "5Б", "ooo", "school"}
    return DigestFiles(period.key, sent, previews, old_preview, other_week)


async def test_digest_pdfs_naming_the_leaver_are_listed_then_destroyed_and_counted_in_the_act(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    world = await build_world(session_factory, media)
    files = await digests_of_this_week(session_factory, media, world)
    naming = [files.sent[s] for s in ("5А", "ooo", "school")] + [
        files.previews[s] for s in ("5А", "ooo", "school")
    ]
    for path in naming:
        assert "Иванов Пётр" in pdf_text(path), path  # the reward and the request, by name
    kept = [files.sent["5Б"], files.previews["5Б"], files.other_week, world.other_file]
    assert "Иванов" not in pdf_text(files.sent["5Б"]) and "Кузнецов Илья" in pdf_text(files.sent["5Б"])

    async with session_factory() as session:
        dry = await run_retention(session, media, utcnow(), 30, apply=False)
    expected = sorted(p.relative_to(media).as_posix() for p in [*naming, files.old_preview])
    assert [item.digests for item in dry.students] == [tuple(expected)]
    assert all(path.exists() for path in [*naming, files.old_preview, *kept])

    async with session_factory() as session:
        report = await run_retention(session, media, utcnow(), 30, apply=True)

    assert [item.digests for item in report.students] == [tuple(expected)]
    assert not any(path.exists() for path in [*naming, files.old_preview])
    assert all(path.exists() for path in kept)
    async with session_factory() as session:
        deliveries = (await session.exec(select(DigestDelivery))).all()
        destroyed = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "student_records_destroyed"))
        ).one()
    # The delivery rows stay (each week's digest goes to each person once), without the destroyed file.
    assert len(deliveries) == 5
    assert sorted((row.period, row.pdf_path) for row in deliveries if row.pdf_path) == [
        ("2026-W11", files.other_week.relative_to(media).as_posix()),
        (files.week, files.sent["5Б"].relative_to(media).as_posix()),
    ]
    assert "digests=7" in (destroyed.details or "")
    rows = list(csv.reader(io.StringIO(build_act_csv(report, MOSCOW).decode("utf-8-sig")), delimiter=";"))
    assert rows[0][-1] == "Сводок" and rows[1][1] == "Иванов Пётр" and rows[1][-1] == "7"
    act = pdf_text_of(build_act_pdf(report, "МАОУ СОШ № 32", MOSCOW))
    assert "Сводок" in act and "уничтоженные файлы еженедельных сводок" in act

    async with session_factory() as session:
        again = await run_retention(session, media, utcnow(), 30, apply=True)
    assert again.students == [] and all(path.exists() for path in kept)


def pdf_text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_every_table_that_points_at_a_student_is_destroyed_with_them() -> None:
    def pointing_at(target: str) -> set[str]:
        return {
            table.name
            for table in SQLModel.metadata.tables.values()
            for fk in table.foreign_keys
            if fk.column.table.name == target
        }

    assert pointing_at("student") == DESTROYED_WITH_STUDENT
    # Achievements go with their evidence and history; a reward only cites one.
    assert pointing_at("achievement") == {"evidence_file", "achievement_status_change", "reward"}


async def _world_for_cli(database_url: str, media: Path) -> World:
    await asyncio.to_thread(upgrade_database, database_url)
    engine = create_engine(database_url)
    try:
        return await build_world(create_session_factory(engine), media)
    finally:
        await engine.dispose()


async def _world_with_digests_for_cli(database_url: str, media: Path) -> tuple[World, DigestFiles]:
    world = await _world_for_cli(database_url, media)
    engine = create_engine(database_url)
    try:
        return world, await digests_of_this_week(create_session_factory(engine), media, world)
    finally:
        await engine.dispose()


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str
) -> tuple[int, str, str]:
    """`python -m bot ARGS` in this process (a subprocess costs seconds): exit code, stdout, stderr."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_lists_then_destroys_and_writes_the_act(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}"
    media, out = tmp_path / "media", tmp_path / "acts"
    world, digests = asyncio.run(_world_with_digests_for_cli(database_url, media))
    env = {"DATABASE_URL": database_url, "MEDIA_DIR": str(media), "SCHOOL_NAME": "МАОУ СОШ № 32"}
    naming = [digests.sent["5А"], digests.previews["school"], digests.old_preview]

    code, stdout, _err = cli(monkeypatch, capsys, env, "retention", "--dry-run", "--out", str(out))
    assert code == 0
    assert f"id {world.leaver}: Иванов Пётр, 5А, выбыл" in stdout and "Файлов без записей: 1" in stdout
    assert "запросов 1, сводок 7" in stdout
    for path in naming:
        assert f"    сводка: {path.relative_to(media).as_posix()}\n" in stdout, path
    assert digests.sent["5Б"].relative_to(media).as_posix() not in stdout
    assert not out.exists() and all(p.exists() for p in [*world.leaver_files, *naming])

    code, stdout, _err = cli(monkeypatch, capsys, env, "retention", "--apply", "--out", str(out))
    assert code == 0 and "Акт:" in stdout
    assert not any(p.exists() for p in [*world.leaver_files, *naming])
    assert digests.sent["5Б"].exists() and digests.previews["5Б"].exists()
    acts = sorted(out.iterdir())
    assert [p.suffix for p in acts] == [".csv", ".pdf"]
    rows = list(csv.reader(io.StringIO(acts[0].read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["№", "Обучающийся", "Класс"] and rows[0][-1] == "Сводок"
    assert rows[1][1:4] == ["Иванов Пётр", "5А", "выбыл"] and rows[1][5:] == ["2", "2", "1", "1", "7"]
    text = "\n".join(page.extract_text() for page in PdfReader(acts[1]).pages)
    for expected in ("МАОУ СОШ № 32", "Акт об уничтожении персональных данных", "Иванов Пётр", "5А",
                     "30 дн.", "Председатель комиссии", "Сводок", "2 2 1 1 7"):  # fmt: skip
        assert expected in text, expected
    assert "Смирнова" not in text and "Кузнецов" not in text

    code, stdout, _err = cli(monkeypatch, capsys, env, "retention", "--apply", "--out", str(out))
    assert code == 0 and "истёк, нет" in stdout
    assert sorted(out.iterdir()) == acts


def test_apply_destroys_nothing_when_the_act_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}"
    media, out = tmp_path / "media", tmp_path / "acts"
    out.write_text("a file where the act's folder should be")
    world = asyncio.run(_world_for_cli(database_url, media))
    env = {"DATABASE_URL": database_url, "MEDIA_DIR": str(media)}

    code, stdout, err = cli(monkeypatch, capsys, env, "retention", "--apply", "--out", str(out))
    assert code == 2 and str(out) in err and "Уничтожено" not in stdout
    assert all(p.exists() for p in world.leaver_files)  # the act would be lost: so nothing is destroyed

    async def leaver_left() -> Student | None:
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine)() as session:
                return await session.get(Student, world.leaver)
        finally:
            await engine.dispose()

    assert asyncio.run(leaver_left()) is not None


def test_the_students_command_marks_a_student_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}"
    world = asyncio.run(_world_for_cli(database_url, tmp_path / "media"))

    code, stdout, stderr = cli(
        monkeypatch,
        capsys,
        {"DATABASE_URL": database_url},
        "students",
        "--status",
        "left",
        str(world.active),
        "9999",
    )

    assert code == 1 and "9999" in stderr and "Кузнецов Илья" in stdout

    async def check() -> tuple[Student | None, list[AuditEvent]]:
        engine = create_engine(database_url)
        async with create_session_factory(engine)() as session:
            student = await session.get(Student, world.active)
            events = (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.student_id == world.active, AuditEvent.action == "student_status_changed"
                    )
                )
            ).all()
        await engine.dispose()
        return student, list(events)

    student, events = asyncio.run(check())
    assert student is not None and student.status == StudentStatus.LEFT
    assert student.status_changed_at is not None and utcnow() - student.status_changed_at < timedelta(
        minutes=5
    )
    assert [(e.channel, e.details) for e in events] == [(AuditChannel.CLI, "active -> left")]


async def test_setting_the_same_status_again_keeps_the_date(session_factory: SessionFactory) -> None:
    school = await make_school(session_factory)
    student_id = school.students_5b[1].id
    first = datetime(2026, 6, 1, tzinfo=utcnow().tzinfo)
    async with session_factory() as session:
        await set_student_status(session, student_id, StudentStatus.GRADUATED, None, AuditChannel.CLI, first)
        again = await set_student_status(
            session, student_id, StudentStatus.GRADUATED, None, AuditChannel.CLI, first + timedelta(days=20)
        )
    assert again is not None and again.status_changed_at == first
