"""Every place in the bot that shows children's names writes a row to each child's access register:
«Мои дети», a child's card, the student's own profile, the reward wizard's class list; and a forged press
about someone else's child is on that child's register as denied."""

from __future__ import annotations

from sqlmodel import col, select

from models import Account, AuditEvent
from models.enums import AuditChannel, StaffRole
from tests.harness import BotHarness
from tests.people import add_student, guardian_of, join, staff_member, student_code

REWARD = "🏅 Поощрить"


async def events(bot: BotHarness, telegram_id: int) -> list[tuple[str, int | None, bool]]:
    """(action, student, allowed) of everything this person did, in order."""
    async with bot.session_factory() as session:
        account = (await session.exec(select(Account).where(Account.telegram_id == telegram_id))).one()
        rows = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.actor_account_id == account.id)
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert all(row.channel == AuditChannel.BOT for row in rows)
    return [(row.action, row.student_id, row.allowed) for row in rows]


async def test_a_parents_children_list_and_card_and_a_forged_card_are_on_the_register(
    bot: BotHarness,
) -> None:
    son = await add_student(bot, "5А", "Иванов", "Пётр")
    daughter = await add_student(bot, "3Б", "Иванова", "Анна")
    classmate = await add_student(bot, "5А", "Смирнов", "Егор")
    parent = await guardian_of(bot, son, daughter, first_name="Ольга")

    before = len(await events(bot, parent.id))  # joining wrote its own rows
    parent.send_text("👨‍👩‍👧 Мои дети")
    children = await parent.wait_for("Ваши дети")
    parent.press("Иванов Пётр, 5А", children)
    await parent.wait_for("🚫 Отозвать согласие")
    forged = parent.press_callback(children.message_id, f"gc:open:{classmate}")
    assert "не действует" in (await forged.wait_answer())["text"]

    assert (await events(bot, parent.id))[before:] == [
        ("children_list_viewed", son, True),  # in the order of the list: «Иванов» before «Иванова»
        ("children_list_viewed", daughter, True),
        ("consent_card_viewed", son, True),
        ("consent_card_denied", classmate, False),
    ]


async def test_a_students_profile_is_on_their_own_register(bot: BotHarness) -> None:
    pupil_id = await add_student(bot, "8А", "Смирнов", "Егор")
    pupil = await join(bot.server.user(first_name="Егор"), await student_code(bot, pupil_id))

    pupil.send_text("🙋 Мой профиль")
    await pupil.wait_for("Вы:")

    assert ("profile_viewed", pupil_id, True) in await events(bot, pupil.id)


async def test_the_reward_wizards_class_list_is_on_each_listed_childs_register(bot: BotHarness) -> None:
    first = await add_student(bot, "5А", "Антонов", "Илья")
    second = await add_student(bot, "5А", "Борисова", "Вера")
    elsewhere = await add_student(bot, "6А", "Васильев", "Глеб")
    teacher = await staff_member(bot, StaffRole.CLASS_TEACHER, class_label="5А", first_name="Елена")

    before = len(await events(bot, teacher.id))  # joining wrote its own rows
    teacher.send_text(REWARD)
    await teacher.wait_for("Класс 5А. Кого поощрить?")

    listed = [(action, student) for action, student, _allowed in (await events(bot, teacher.id))[before:]]
    assert listed == [("class_roster_viewed", first), ("class_roster_viewed", second)]
    assert ("class_roster_viewed", elsewhere) not in listed
