"""People of a small school for flow tests: students added directly, adults joining through the bot."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bot.services import invites
from models import SchoolClass, Student
from models.enums import SchoolLevel, StaffRole
from tests.harness import BotHarness
from tests.tg_users import FakeUser

TTL = timedelta(days=30)


async def add_student(
    bot: BotHarness, class_label: str, surname: str, name: str, patronymic: str = ""
) -> int:
    grade, letter = int(class_label[:-1]), class_label[-1]
    async with bot.session_factory() as session:
        school_class = (
            await session.exec(
                select(SchoolClass).where(SchoolClass.grade == grade, SchoolClass.letter == letter)
            )
        ).first()
        if school_class is None:
            school_class = SchoolClass(grade=grade, letter=letter)
            session.add(school_class)
            await session.flush()
        student = Student(class_id=school_class.id, surname=surname, name=name, patronymic=patronymic)
        session.add(student)
        await session.commit()
        return student.id


async def guardian_code(bot: BotHarness, student_id: int) -> str:
    async with bot.session_factory() as session:
        return (await invites.create_guardian_invite(session, student_id, TTL)).code


async def student_code(bot: BotHarness, student_id: int) -> str:
    async with bot.session_factory() as session:
        return (await invites.create_student_invite(session, student_id, TTL)).code


async def staff_code(
    bot: BotHarness, role: StaffRole, level: SchoolLevel | None = None, class_label: str | None = None
) -> str:
    async with bot.session_factory() as session:
        class_id = None
        if class_label:
            grade, letter = int(class_label[:-1]), class_label[-1]
            class_id = (
                await session.exec(
                    select(SchoolClass.id).where(SchoolClass.grade == grade, SchoolClass.letter == letter)
                )
            ).one()
        return (await invites.create_staff_invite(session, role, level, class_id, TTL)).code


async def join(user: FakeUser, code: str, *, consent: bool = True) -> FakeUser:
    """The person opens their invite link (and accepts the consent when asked)."""
    user.send_text(f"/start {code}")
    if consent:
        await user.wait_for("Согласие на обработку")
        user.press("✅ Принимаю")
    await user.wait_for("Выберите действие в меню")
    return user


async def guardian_of(bot: BotHarness, *student_ids: int, **profile: object) -> FakeUser:
    parent = bot.server.user(**profile)  # type: ignore[arg-type]
    for student_id in student_ids:
        await join(parent, await guardian_code(bot, student_id))
    return parent


async def staff_member(
    bot: BotHarness,
    role: StaffRole,
    *,
    level: SchoolLevel | None = None,
    class_label: str | None = None,
    **profile: object,
) -> FakeUser:
    person = bot.server.user(**profile)  # type: ignore[arg-type]
    return await join(person, await staff_code(bot, role, level, class_label), consent=False)
