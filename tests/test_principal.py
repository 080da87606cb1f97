"""What an account is to the school: every role, child and own record, for one account or many at once."""

from __future__ import annotations

from bot.services.principal import ANONYMOUS, Principal, load_principal, load_principals
from models import GuardianLink
from models.db import SessionFactory
from models.enums import GuardianLinkStatus, SchoolLevel, StaffRole, StudentStatus
from tests.factories import assign, make_account, make_class, make_student


async def test_roles_children_and_own_record_of_several_accounts_in_one_load(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session:
        class_5a, class_7b = await make_class(session, 5, "А"), await make_class(session, 7, "Б")
        # A busy member of staff who is also a parent of three (one left the school, one link unconfirmed)
        # and a former pupil with a record of their own.
        busy = await make_account(session, "Мария Ивановна")
        await assign(session, busy, StaffRole.ADMIN)
        await assign(session, busy, StaffRole.DEPUTY, level=SchoolLevel.OOO)
        await assign(session, busy, StaffRole.DEPUTY, level=SchoolLevel.SOO)
        await assign(session, busy, StaffRole.CLASS_TEACHER, school_class=class_5a)
        await assign(session, busy, StaffRole.CLASS_TEACHER, school_class=class_7b, active=False)
        yakovlev = await make_student(session, class_7b, "Яковлев", "Пётр")
        antonova = await make_student(session, class_5a, "Антонова", "Вера")
        left = await make_student(session, class_5a, "Борисов", "Олег")
        left.status = StudentStatus.LEFT
        unconfirmed = await make_student(session, class_5a, "Васильев", "Иван")
        for child, status in (
            (yakovlev, GuardianLinkStatus.CONFIRMED),
            (antonova, GuardianLinkStatus.CONFIRMED),
            (left, GuardianLinkStatus.CONFIRMED),
            (unconfirmed, GuardianLinkStatus.PENDING),
        ):
            session.add(GuardianLink(account_id=busy.id, student_id=child.id, status=status))
        # A pupil who teaches nothing, and a coach: loaded in the same call, nothing mixed up.
        pupil = await make_account(session, "Вера")
        antonova.account_id = pupil.id
        coach = await make_account(session, "Тренер")
        await assign(session, coach, StaffRole.TEACHER)
        nobody = await make_account(session, "Прохожий")
        await session.commit()

        loaded = await load_principals(session, [busy.id, pupil.id, coach.id, nobody.id])
        assert await load_principal(session, busy) == loaded[busy.id]
        assert await load_principal(session, None) == ANONYMOUS

    assert loaded[busy.id] == Principal(
        account_id=busy.id,
        is_admin=True,
        deputy_levels=frozenset({SchoolLevel.OOO, SchoolLevel.SOO}),
        class_teacher_of=frozenset({class_5a.id}),
        children=(antonova.id, yakovlev.id),  # by surname
    )
    assert loaded[pupil.id] == Principal(account_id=pupil.id, own_student_id=antonova.id)
    assert loaded[coach.id] == Principal(account_id=coach.id, is_teacher=True)
    assert loaded[nobody.id] == Principal(account_id=nobody.id)
    assert not loaded[nobody.id].has_any_role
