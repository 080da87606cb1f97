"""Invite codes: unguessable, stored only as a hash, classified on arrival and spent exactly once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.__main__ import main
from bot.reports.invite_sheet import format_code
from bot.services.invites import (
    CODE_LENGTH,
    InviteError,
    InviteStatus,
    check_invite,
    create_guardian_invite,
    create_staff_invite,
    create_student_invite,
    deep_link,
    find_invite,
    generate_code,
    hash_code,
    issue_class_sheet_invites,
    last_valid_day,
    mark_used,
)
from models import Account, AuditEvent, Invite, SchoolClass, StaffAssignment, Student
from models.db import SessionFactory, create_engine, create_session_factory
from models.enums import InvitePurpose, SchoolLevel, StaffRole, StudentStatus

TTL = timedelta(days=30)
NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


@pytest.fixture
async def session(session_factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


async def add_class(session: AsyncSession, grade: int = 5, letter: str = "А") -> SchoolClass:
    school_class = SchoolClass(grade=grade, letter=letter)
    session.add(school_class)
    await session.commit()
    return school_class


async def add_student(
    session: AsyncSession, school_class: SchoolClass, surname: str, **fields: object
) -> Student:
    assert school_class.id is not None
    student = Student(class_id=school_class.id, surname=surname, name="Иван", **fields)
    session.add(student)
    await session.commit()
    return student


async def add_account(session: AsyncSession, telegram_id: int) -> Account:
    account = Account(telegram_id=telegram_id, first_name="Тест")
    session.add(account)
    await session.commit()
    return account


def test_codes_are_43_url_safe_characters_of_32_random_bytes() -> None:
    codes = [generate_code() for _ in range(3000)]

    assert len(set(codes)) == len(codes)
    for code in codes:
        assert len(code) == CODE_LENGTH == 43
        assert URLSAFE.fullmatch(code)
        assert code[0] not in "-_"  # a spreadsheet would take «-…» for a formula
        assert len(base64.urlsafe_b64decode(code + "=")) == 32
    # Entropy sanity: every one of the 64 symbols turns up about equally often in the middle positions
    # (the last character carries only 4 bits, the first avoids «-» and «_»).
    counts = Counter("".join(code[1:-1] for code in codes))
    expected = sum(counts.values()) / 64
    assert len(counts) == 64
    assert all(0.8 * expected < n < 1.2 * expected for n in counts.values())


async def test_only_the_hash_of_a_code_is_stored(session: AsyncSession) -> None:
    student = await add_student(session, await add_class(session), "Иванов")

    issued = await create_guardian_invite(session, student.id, TTL)

    assert (
        issued.invite.code_hash == hashlib.sha256(issued.code.encode()).hexdigest() == hash_code(issued.code)
    )
    rows = (await session.exec(select(Invite))).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0].model_dump().values())
    assert issued.code not in stored
    assert issued.invite.purpose == InvitePurpose.GUARDIAN
    assert issued.invite.student_id == student.id


async def test_a_fresh_code_is_ok_and_found_also_when_typed_in_groups(session: AsyncSession) -> None:
    student = await add_student(session, await add_class(session), "Иванов")
    issued = await create_student_invite(session, student.id, TTL, now=NOW)

    check = await check_invite(session, issued.code, NOW)
    typed = await check_invite(session, "  " + format_code(issued.code) + "\n", NOW)

    assert check.status == InviteStatus.OK and check.problem is None
    assert check.invite is not None and check.invite.id == issued.invite.id
    assert typed.status == InviteStatus.OK
    assert issued.invite.expires_at == NOW + TTL


async def test_expired_used_revoked_and_unknown_codes_are_told_apart(session: AsyncSession) -> None:
    student = await add_student(session, await add_class(session), "Иванов")
    account = await add_account(session, 1001)
    used = await create_guardian_invite(session, student.id, TTL, now=NOW)
    revoked = await create_guardian_invite(session, student.id, TTL, now=NOW)
    fresh = await create_guardian_invite(session, student.id, TTL, now=NOW)
    assert await mark_used(session, used.invite, account.id, NOW)
    revoked.invite.revoked_at = NOW
    session.add(revoked.invite)
    await session.commit()

    assert (await check_invite(session, used.code, NOW)).problem == InviteStatus.USED
    assert (await check_invite(session, revoked.code, NOW)).problem == InviteStatus.REVOKED
    assert (await check_invite(session, fresh.code, NOW + TTL)).problem == InviteStatus.EXPIRED
    assert (await check_invite(session, fresh.code, NOW + TTL - timedelta(seconds=1))).problem is None
    assert (await check_invite(session, generate_code(), NOW)).status == InviteStatus.UNKNOWN


class NoDatabase:
    """A session that fails the test if anything touches it."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the database was queried ({name}) for a malformed code")


@pytest.mark.parametrize(
    "code",
    [
        "",
        "abc",
        "A" * 42,
        "A" * 44,
        "A" * 42 + "!",
        "Ж" * 43,
        "A" * 20 + "/" + "A" * 22,
        "'; DROP TABLE invite; --" + "A" * 19,
        "https://t.me/bot?start=" + "A" * 43,
    ],
)
async def test_malformed_codes_are_unknown_without_a_database_query(code: str) -> None:
    session = NoDatabase()

    assert (await check_invite(session, code, NOW)).status == InviteStatus.UNKNOWN  # type: ignore[arg-type]
    assert await find_invite(session, code) is None  # type: ignore[arg-type]


async def test_two_simultaneous_redemptions_of_one_code_let_exactly_one_win(
    session: AsyncSession, session_factory: SessionFactory
) -> None:
    student = await add_student(session, await add_class(session), "Иванов")
    first, second = await add_account(session, 2001), await add_account(session, 2002)
    issued = await create_guardian_invite(session, student.id, TTL, now=NOW)
    both_checked = asyncio.Barrier(2)

    async def redeem(account_id: int) -> bool:
        async with session_factory() as own_session:
            check = await check_invite(own_session, issued.code, NOW)
            assert check.status == InviteStatus.OK and check.invite is not None
            await both_checked.wait()  # both saw a valid code: only the UPDATE can tell them apart
            won = await mark_used(own_session, check.invite, account_id, NOW)
            await own_session.commit()
            return won

    results = await asyncio.gather(redeem(first.id), redeem(second.id))

    assert sorted(results) == [False, True]
    winner = first.id if results[0] else second.id
    await session.refresh(issued.invite)
    assert issued.invite.used_by_account_id == winner
    assert issued.invite.used_at == NOW


async def test_a_used_expired_or_revoked_invite_cannot_be_marked_used(session: AsyncSession) -> None:
    student = await add_student(session, await add_class(session), "Иванов")
    account = await add_account(session, 3001)
    issued = await create_guardian_invite(session, student.id, TTL, now=NOW)
    revoked = await create_guardian_invite(session, student.id, TTL, now=NOW)
    revoked.invite.revoked_at = NOW
    session.add(revoked.invite)
    await session.commit()

    assert not await mark_used(session, issued.invite, account.id, NOW + TTL)  # expired
    assert not await mark_used(session, revoked.invite, account.id, NOW)
    assert await mark_used(session, issued.invite, account.id, NOW)
    assert issued.invite.used_at == NOW and issued.invite.used_by_account_id == account.id
    assert not await mark_used(session, issued.invite, account.id, NOW)


async def test_staff_invites_carry_their_role_and_scope(session: AsyncSession) -> None:
    school_class = await add_class(session)

    admin = await create_staff_invite(session, StaffRole.ADMIN, None, None, TTL)
    deputy = await create_staff_invite(session, StaffRole.DEPUTY, SchoolLevel.OOO, None, TTL)
    teacher = await create_staff_invite(session, StaffRole.CLASS_TEACHER, None, school_class.id, TTL)

    assert (admin.invite.purpose, admin.invite.role) == (InvitePurpose.STAFF, StaffRole.ADMIN)
    assert (deputy.invite.role, deputy.invite.level, deputy.invite.class_id) == ("deputy", "ooo", None)
    assert (teacher.invite.role, teacher.invite.level, teacher.invite.class_id) == (
        "class_teacher",
        None,
        school_class.id,
    )
    assert all(i.invite.student_id is None for i in (admin, deputy, teacher))


@pytest.mark.parametrize(
    ("role", "level", "with_class", "message"),
    [
        (StaffRole.DEPUTY, None, False, "уровень образования"),
        (StaffRole.DEPUTY, SchoolLevel.NOO, True, "уровень образования"),
        (StaffRole.CLASS_TEACHER, None, False, "укажите класс"),
        (StaffRole.CLASS_TEACHER, SchoolLevel.NOO, True, "укажите класс"),
        (StaffRole.ADMIN, SchoolLevel.SOO, False, "ни класс, ни уровень"),
        (StaffRole.TEACHER, None, True, "ни класс, ни уровень"),
    ],
)
async def test_a_staff_invite_with_a_scope_that_does_not_fit_its_role_is_refused(
    session: AsyncSession, role: StaffRole, level: SchoolLevel | None, with_class: bool, message: str
) -> None:
    class_id = (await add_class(session)).id if with_class else None

    with pytest.raises(InviteError, match=message):
        await create_staff_invite(session, role, level, class_id, TTL)
    assert (await session.exec(select(Invite))).all() == []


async def test_a_class_teacher_invite_for_a_missing_class_is_refused(session: AsyncSession) -> None:
    with pytest.raises(InviteError, match="Такого класса нет"):
        await create_staff_invite(session, StaffRole.CLASS_TEACHER, None, 999, TTL)


async def test_no_invite_for_a_student_who_left_or_does_not_exist(session: AsyncSession) -> None:
    left = await add_student(session, await add_class(session), "Иванов", status=StudentStatus.LEFT)

    for student_id in (left.id, 999):
        with pytest.raises(InviteError):
            await create_student_invite(session, student_id, TTL)
        with pytest.raises(InviteError):
            await create_guardian_invite(session, student_id, TTL)


async def test_each_created_invite_is_audited_without_the_code(session: AsyncSession) -> None:
    student = await add_student(session, await add_class(session), "Иванов")
    creator = await add_account(session, 4001)

    issued = await create_student_invite(session, student.id, TTL, created_by=creator.id)

    events = (await session.exec(select(AuditEvent))).all()
    assert [(e.action, e.actor_account_id, e.student_id, e.object_id) for e in events] == [
        ("invite_created", creator.id, student.id, str(issued.invite.id))
    ]
    assert issued.code not in (events[0].details or "")


async def test_a_class_sheet_gives_every_active_student_guardian_codes_and_a_student_code(
    session: AsyncSession,
) -> None:
    school_class = await add_class(session, 7, "Б")
    other_class = await add_class(session, 7, "В")
    account = await add_account(session, 5001)
    await add_student(session, school_class, "Яковлев")
    await add_student(session, school_class, "Ёлкин")
    await add_student(session, school_class, "Абрамов", account_id=account.id)  # already in the bot
    await add_student(session, school_class, "Борисов", status=StudentStatus.LEFT)
    await add_student(session, other_class, "Галкин")

    entries = await issue_class_sheet_invites(
        session, school_class.id, TTL, guardian_codes_per_student=2, now=NOW
    )

    assert [e.full_name for e in entries] == ["Абрамов Иван", "Ёлкин Иван", "Яковлев Иван"]
    assert all(len(e.guardian_codes) == 2 and e.class_label == "7Б" for e in entries)
    assert [e.student_code is None for e in entries] == [True, False, False]
    codes = [c for e in entries for c in (*e.guardian_codes, e.student_code) if c]
    assert len(codes) == len(set(codes)) == 8
    for entry in entries:
        for code in entry.guardian_codes:
            invite = (await check_invite(session, code, NOW)).invite
            assert invite is not None
            assert (invite.purpose, invite.student_id) == (InvitePurpose.GUARDIAN, entry.student_id)
        if entry.student_code:
            invite = (await check_invite(session, entry.student_code, NOW)).invite
            assert invite is not None and invite.purpose == InvitePurpose.STUDENT
    events = (await session.exec(select(AuditEvent))).all()
    assert [(e.action, e.student_id, e.object_id, e.details) for e in events] == [
        ("class_invites_issued", None, str(school_class.id), "students=3 guardian_codes=6 student_codes=2"),
        *[
            (
                "sheet_invites_issued",
                entry.student_id,
                str(school_class.id),
                f"guardian_codes=2 student_code={int(entry.student_code is not None)}",
            )
            for entry in entries
        ],
    ]


@pytest.mark.parametrize("count", [0, 5])
async def test_a_class_sheet_with_no_or_too_many_guardian_codes_is_refused(
    session: AsyncSession, count: int
) -> None:
    school_class = await add_class(session)

    with pytest.raises(InviteError):
        await issue_class_sheet_invites(session, school_class.id, TTL, guardian_codes_per_student=count)


def test_deep_links_and_the_last_valid_day() -> None:
    assert deep_link("@school_bot", "abc") == "https://t.me/school_bot?start=abc"
    moscow = ZoneInfo("Europe/Moscow")
    # Expires at 10:00 Moscow time on 1 October: 30 September is the last whole day.
    assert last_valid_day(datetime(2026, 10, 1, 7, 0, tzinfo=UTC), moscow).isoformat() == "2026-09-30"
    assert last_valid_day(datetime(2026, 9, 30, 21, 0, tzinfo=UTC), moscow).isoformat() == "2026-09-30"


async def _add_admin(database_url: str) -> None:
    engine = create_engine(database_url)
    async with create_session_factory(engine)() as session:
        account = Account(telegram_id=777)
        session.add(account)
        await session.flush()
        assert account.id is not None
        session.add(StaffAssignment(account_id=account.id, role=StaffRole.ADMIN))
        await session.commit()
    await engine.dispose()


def test_init_admin_prints_a_link_once_an_admin_exists_only_with_force(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert main(["init-admin", "--bot-username", "school_bot"]) == 0
    out = capsys.readouterr().out
    assert "администратора" in out
    assert re.search(r"https://t\.me/school_bot\?start=[A-Za-z0-9_-]{43}\n", out)

    asyncio.run(_add_admin(database_url))
    assert main(["init-admin", "--bot-username", "school_bot"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["init-admin", "--bot-username", "school_bot", "--force"]) == 0
    assert "start=" in capsys.readouterr().out


def test_the_staff_invite_command_prints_a_deputy_link(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert main(["invites", "staff", "--role", "deputy", "--level", "ООО", "--bot-username", "b"]) == 0
    out = capsys.readouterr().out
    assert "заместителя директора (ООО)" in out
    assert main(["invites", "staff", "--role", "deputy", "--bot-username", "b"]) == 1
    assert "уровень образования" in capsys.readouterr().err
    assert main(["invites", "staff", "--role", "class_teacher", "--class", "9Я", "--bot-username", "b"]) == 1
    assert "Класса 9Я нет" in capsys.readouterr().err
