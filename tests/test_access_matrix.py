"""The authorisation matrix: every role × every `Action` × {own, sibling, other class}, on a real database,
against the expected table below. Deny by default: a left or graduated student, an unconfirmed link.

The people (the school of `make_school`, plus):
    A        students_5a[0], 5А (ООО), has their own account
    sibling  A's brother in 5Б (ООО); «guardian of A» is a confirmed guardian of both
    other    B, a student of 10А (СОО); «guardian of B» is B's confirmed guardian
    class teacher of another class: of 10А; deputy of another level: of СОО; teacher: the coach.
Each object student has one PENDING achievement: A's sent by A, the sibling's by the guardian of A, B's by
the coach (so WITHDRAW and «the submitter sees it» show up in the table).

Adding an Action or a role? Add its rows: a missing or extra row fails the test.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.access import Action, digest_recipients_in_scope, is_allowed, may_view_digest
from bot.services.principal import ANONYMOUS, Principal, load_principal
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category
from models import Account, Achievement, DigestDelivery, GuardianLink, SchoolClass, Student
from models.db import SessionFactory
from models.enums import AchievementStatus, GuardianLinkStatus, SchoolLevel, Source, StaffRole, StudentStatus
from tests.factories import assign, make_account, make_class, make_school, make_student

OBJECTS = ("own", "sibling", "other")

# role                      action             own  sibling  other
EXPECTED_TABLE = """
nobody                      view_class         no   no       no
nobody                      view_portfolio     no   no       no
nobody                      view_evidence      no   no       no
nobody                      submit             no   no       no
nobody                      review             no   no       no
nobody                      withdraw           no   no       no
nobody                      reward             no   no       no
nobody                      request_extract    no   no       no
nobody                      withdraw_consent   no   no       no
nobody                      verify             no   no       no
nobody                      export             no   no       no
nobody                      manage_roster      no   no       no
nobody                      view_audit_log     no   no       no
nobody                      use_admin          no   no       no

student_a                   view_class         no   no       no
student_a                   view_portfolio     yes  no       no
student_a                   view_evidence      yes  no       no
student_a                   submit             yes  no       no
student_a                   review             no   no       no
student_a                   withdraw           yes  no       no
student_a                   reward             no   no       no
student_a                   request_extract    yes  no       no
student_a                   withdraw_consent   yes  no       no
student_a                   verify             no   no       no
student_a                   export             no   no       no
student_a                   manage_roster      no   no       no
student_a                   view_audit_log     no   no       no
student_a                   use_admin          no   no       no

guardian_of_a               view_class         no   no       no
guardian_of_a               view_portfolio     yes  yes      no
guardian_of_a               view_evidence      no   yes      no
guardian_of_a               submit             yes  yes      no
guardian_of_a               review             no   no       no
guardian_of_a               withdraw           no   yes      no
guardian_of_a               reward             no   no       no
guardian_of_a               request_extract    yes  yes      no
guardian_of_a               withdraw_consent   yes  yes      no
guardian_of_a               verify             no   no       no
guardian_of_a               export             no   no       no
guardian_of_a               manage_roster      no   no       no
guardian_of_a               view_audit_log     no   no       no
guardian_of_a               use_admin          no   no       no

guardian_of_b               view_class         no   no       no
guardian_of_b               view_portfolio     no   no       yes
guardian_of_b               view_evidence      no   no       no
guardian_of_b               submit             no   no       yes
guardian_of_b               review             no   no       no
guardian_of_b               withdraw           no   no       no
guardian_of_b               reward             no   no       no
guardian_of_b               request_extract    no   no       yes
guardian_of_b               withdraw_consent   no   no       yes
guardian_of_b               verify             no   no       no
guardian_of_b               export             no   no       no
guardian_of_b               manage_roster      no   no       no
guardian_of_b               view_audit_log     no   no       no
guardian_of_b               use_admin          no   no       no

class_teacher_of_a          view_class         yes  no       no
class_teacher_of_a          view_portfolio     yes  no       no
class_teacher_of_a          view_evidence      yes  no       no
class_teacher_of_a          submit             yes  yes      yes
class_teacher_of_a          review             yes  no       no
class_teacher_of_a          withdraw           no   no       no
class_teacher_of_a          reward             yes  no       no
class_teacher_of_a          request_extract    no   no       no
class_teacher_of_a          withdraw_consent   no   no       no
class_teacher_of_a          verify             yes  yes      yes
class_teacher_of_a          export             no   no       no
class_teacher_of_a          manage_roster      no   no       no
class_teacher_of_a          view_audit_log     no   no       no
class_teacher_of_a          use_admin          no   no       no

class_teacher_of_other      view_class         no   no       yes
class_teacher_of_other      view_portfolio     no   no       yes
class_teacher_of_other      view_evidence      no   no       yes
class_teacher_of_other      submit             yes  yes      yes
class_teacher_of_other      review             no   no       yes
class_teacher_of_other      withdraw           no   no       no
class_teacher_of_other      reward             no   no       yes
class_teacher_of_other      request_extract    no   no       no
class_teacher_of_other      withdraw_consent   no   no       no
class_teacher_of_other      verify             yes  yes      yes
class_teacher_of_other      export             no   no       no
class_teacher_of_other      manage_roster      no   no       no
class_teacher_of_other      view_audit_log     no   no       no
class_teacher_of_other      use_admin          no   no       no

deputy_of_a_level           view_class         yes  yes      no
deputy_of_a_level           view_portfolio     yes  yes      no
deputy_of_a_level           view_evidence      yes  yes      no
deputy_of_a_level           submit             yes  yes      yes
deputy_of_a_level           review             yes  yes      no
deputy_of_a_level           withdraw           no   no       no
deputy_of_a_level           reward             yes  yes      no
deputy_of_a_level           request_extract    no   no       no
deputy_of_a_level           withdraw_consent   no   no       no
deputy_of_a_level           verify             yes  yes      yes
deputy_of_a_level           export             yes  yes      no
deputy_of_a_level           manage_roster      no   no       no
deputy_of_a_level           view_audit_log     no   no       no
deputy_of_a_level           use_admin          yes  yes      yes

deputy_of_other_level       view_class         no   no       yes
deputy_of_other_level       view_portfolio     no   no       yes
deputy_of_other_level       view_evidence      no   no       yes
deputy_of_other_level       submit             yes  yes      yes
deputy_of_other_level       review             no   no       yes
deputy_of_other_level       withdraw           no   no       no
deputy_of_other_level       reward             no   no       yes
deputy_of_other_level       request_extract    no   no       no
deputy_of_other_level       withdraw_consent   no   no       no
deputy_of_other_level       verify             yes  yes      yes
deputy_of_other_level       export             no   no       yes
deputy_of_other_level       manage_roster      no   no       no
deputy_of_other_level       view_audit_log     no   no       no
deputy_of_other_level       use_admin          yes  yes      yes

teacher                     view_class         no   no       no
teacher                     view_portfolio     no   no       no
teacher                     view_evidence      no   no       yes
teacher                     submit             yes  yes      yes
teacher                     review             no   no       no
teacher                     withdraw           no   no       yes
teacher                     reward             no   no       no
teacher                     request_extract    no   no       no
teacher                     withdraw_consent   no   no       no
teacher                     verify             yes  yes      yes
teacher                     export             no   no       no
teacher                     manage_roster      no   no       no
teacher                     view_audit_log     no   no       no
teacher                     use_admin          no   no       no

admin                       view_class         yes  yes      yes
admin                       view_portfolio     yes  yes      yes
admin                       view_evidence      yes  yes      yes
admin                       submit             yes  yes      yes
admin                       review             yes  yes      yes
admin                       withdraw           no   no       no
admin                       reward             yes  yes      yes
admin                       request_extract    no   no       no
admin                       withdraw_consent   no   no       no
admin                       verify             yes  yes      yes
admin                       export             yes  yes      yes
admin                       manage_roster      yes  yes      yes
admin                       view_audit_log     yes  yes      yes
admin                       use_admin          yes  yes      yes
"""

# VIEW_EVIDENCE of A's achievements in each status, by who sent them.
# role                      pending_by_coach  pending_by_a  approved_by_a  rejected_by_a
EVIDENCE_BY_STATUS_TABLE = """
nobody                      no                no            no             no
student_a                   no                yes           yes            yes
guardian_of_a               no                no            yes            no
guardian_of_b               no                no            no             no
class_teacher_of_a          yes               yes           yes            yes
class_teacher_of_other      no                no            no             no
deputy_of_a_level           yes               yes           yes            yes
deputy_of_other_level       no                no            no             no
teacher                     yes               no            no             no
admin                       yes               yes           yes            yes
"""
EVIDENCE_CASES = ("pending_by_coach", "pending_by_a", "approved_by_a", "rejected_by_a")

# A weekly digest as it was sent (`may_view_digest`, the admin's «Еженедельные сводки»): one addressed to
# the person, one addressed to someone else (of the other roles).
# role                      to_them  to_another
DIGESTS_TABLE = """
nobody                      yes      no
student_a                   yes      no
guardian_of_a               yes      no
guardian_of_b               yes      no
class_teacher_of_a          yes      no
class_teacher_of_other      yes      no
deputy_of_a_level           yes      no
deputy_of_other_level       yes      no
teacher                     yes      no
admin                       yes      yes
"""
DIGEST_CASES = ("to_them", "to_another")

ROLES = (
    "nobody",
    "student_a",
    "guardian_of_a",
    "guardian_of_b",
    "class_teacher_of_a",
    "class_teacher_of_other",
    "deputy_of_a_level",
    "deputy_of_other_level",
    "teacher",
    "admin",
)

# Actions whose object is a class or the whole school; every other action is about one student and is
# refused for everyone once that student has left.
NOT_ABOUT_ONE_STUDENT = {
    Action.VIEW_CLASS,
    Action.VERIFY,
    Action.EXPORT,
    Action.MANAGE_ROSTER,
    Action.VIEW_AUDIT_LOG,
    Action.USE_ADMIN,
}

_numbers = itertools.count(1)


def parse_table(
    text: str, columns: tuple[str, ...], *, keyed_by_action: bool
) -> dict[tuple, dict[str, bool]]:
    """Rows of «role [action] yes/no…» → {(role[, action]): {column: bool}}; a duplicate row fails."""
    table: dict[tuple, dict[str, bool]] = {}
    width = 2 if keyed_by_action else 1
    for line in text.strip().splitlines():
        if not line.strip():
            continue
        words = line.split()
        assert len(words) == width + len(columns), f"malformed row: {line!r}"
        key = (words[0], Action(words[1])) if keyed_by_action else (words[0],)
        assert key not in table, f"row given twice: {line!r}"
        assert all(w in ("yes", "no") for w in words[width:]), f"write yes or no: {line!r}"
        table[key] = {column: word == "yes" for column, word in zip(columns, words[width:], strict=True)}
    return table


EXPECTED = parse_table(EXPECTED_TABLE, OBJECTS, keyed_by_action=True)
EVIDENCE_BY_STATUS = parse_table(EVIDENCE_BY_STATUS_TABLE, EVIDENCE_CASES, keyed_by_action=False)
DIGESTS = parse_table(DIGESTS_TABLE, DIGEST_CASES, keyed_by_action=False)


def achievement(student: Student, submitter: Account, status: AchievementStatus) -> Achievement:
    return Achievement(
        number=f"M-{next(_numbers):05d}",
        student_id=student.id,
        submitted_by_account_id=submitter.id,
        category=Category.OLYMPIAD,
        level=AchievementLevel.REGIONAL,
        result=AchievementResult.WINNER,
        title="Олимпиада",
        event_date=date(2026, 2, 1),
        source=Source.OUR_SCHOOL,
        status=status,
    )


@dataclass
class Target:
    student: Student
    school_class: SchoolClass
    achievement: Achievement


@dataclass
class World:
    accounts: dict[str, Account]  # role → account
    targets: dict[str, Target]  # own / sibling / other
    evidence: dict[str, Achievement]  # EVIDENCE_CASES → one of A's achievements
    student_a_account: Account
    guardian_of_a: Account


@pytest.fixture
async def world(session_factory: SessionFactory) -> World:
    school = await make_school(session_factory)
    async with session_factory() as session:
        student_a = await session.get(Student, school.students_5a[0].id)
        class_5a = await session.get(SchoolClass, school.class_5a.id)
        class_5b = await session.get(SchoolClass, school.class_5b.id)
        sibling = await make_student(session, class_5b, "Иванов", "Павел")
        class_10a = await make_class(session, 10, "А")
        other = await make_student(session, class_10a, "Соколов", "Борис")

        student_account = await make_account(session, "Пётр")
        student_a.account_id = student_account.id
        guardian_of_b = await make_account(session, "Мама Бориса")
        teacher_10a = await make_account(session, "Классный 10А")
        await assign(session, teacher_10a, StaffRole.CLASS_TEACHER, school_class=class_10a)
        deputy_soo = await make_account(session, "Завуч СОО")
        await assign(session, deputy_soo, StaffRole.DEPUTY, level=SchoolLevel.SOO)
        nobody = await make_account(session, "Прохожий")
        session.add(GuardianLink(account_id=school.guardian.id, student_id=sibling.id, status="confirmed"))
        session.add(GuardianLink(account_id=guardian_of_b.id, student_id=other.id, status="confirmed"))

        guardian = await session.get(Account, school.guardian.id)
        coach = await session.get(Account, school.coach.id)
        own_item = achievement(student_a, student_account, AchievementStatus.PENDING)
        sibling_item = achievement(sibling, guardian, AchievementStatus.PENDING)
        other_item = achievement(other, coach, AchievementStatus.PENDING)
        evidence = {
            "pending_by_coach": achievement(student_a, coach, AchievementStatus.PENDING),
            "pending_by_a": own_item,
            "approved_by_a": achievement(student_a, student_account, AchievementStatus.APPROVED),
            "rejected_by_a": achievement(student_a, student_account, AchievementStatus.REJECTED),
        }
        session.add_all([own_item, sibling_item, other_item, *evidence.values()])
        await session.commit()
        accounts = {
            "nobody": nobody,
            "student_a": student_account,
            "guardian_of_a": guardian,
            "guardian_of_b": guardian_of_b,
            "class_teacher_of_a": await session.get(Account, school.teacher_5a.id),
            "class_teacher_of_other": teacher_10a,
            "deputy_of_a_level": await session.get(Account, school.deputy.id),
            "deputy_of_other_level": deputy_soo,
            "teacher": coach,
            "admin": await session.get(Account, school.admin.id),
        }
        return World(
            accounts=accounts,
            targets={
                "own": Target(student_a, class_5a, own_item),
                "sibling": Target(sibling, class_5b, sibling_item),
                "other": Target(other, class_10a, other_item),
            },
            evidence=evidence,
            student_a_account=student_account,
            guardian_of_a=guardian,
        )


async def principals(session: AsyncSession, world: World) -> dict[str, Principal]:
    return {role: await load_principal(session, account) for role, account in world.accounts.items()}


def allowed(principal: Principal, action: Action, target: Target) -> bool:
    return is_allowed(
        principal,
        action,
        student=target.student,
        school_class=target.school_class,
        achievement=target.achievement,
    )


def test_the_table_has_one_row_per_role_and_action() -> None:
    expected_keys = {(role, action) for role in ROLES for action in Action}
    missing = sorted(f"{role} {action}" for role, action in expected_keys - EXPECTED.keys())
    extra = sorted(f"{role} {action}" for role, action in EXPECTED.keys() - expected_keys)
    assert not missing, f"add these rows to EXPECTED_TABLE: {missing}"
    assert not extra, f"rows for unknown roles in EXPECTED_TABLE: {extra}"
    assert set(EVIDENCE_BY_STATUS) == {(role,) for role in ROLES}
    assert set(DIGESTS) == {(role,) for role in ROLES}


async def test_every_role_action_and_object_as_expected(
    session_factory: SessionFactory, world: World
) -> None:
    async with session_factory() as session:
        loaded = await principals(session, world)
    wrong = [
        f"{role} {action} {obj}: expected {'yes' if want else 'no'}"
        for (role, action), row in EXPECTED.items()
        for obj, want in row.items()
        if allowed(loaded[role], action, world.targets[obj]) != want
    ]
    assert not wrong, "\n".join(wrong)


async def test_evidence_by_status_and_submitter(session_factory: SessionFactory, world: World) -> None:
    async with session_factory() as session:
        loaded = await principals(session, world)
    own = world.targets["own"]
    wrong = [
        f"{role} view_evidence {case}: expected {'yes' if want else 'no'}"
        for (role,), row in EVIDENCE_BY_STATUS.items()
        for case, want in row.items()
        if is_allowed(
            loaded[role],
            Action.VIEW_EVIDENCE,
            student=own.student,
            school_class=own.school_class,
            achievement=world.evidence[case],
        )
        != want
    ]
    assert not wrong, "\n".join(wrong)


async def test_each_role_sees_the_digests_sent_to_them_and_administrators_all(
    session_factory: SessionFactory, world: World
) -> None:
    async with session_factory() as session:
        loaded = await principals(session, world)
    wrong = []
    for (role,), row in DIGESTS.items():
        mine = world.accounts[role].id
        another = next(a.id for r, a in world.accounts.items() if r != role)
        principal = loaded[role]
        scope = digest_recipients_in_scope(principal)
        for case, recipient in (("to_them", mine), ("to_another", another)):
            delivery = DigestDelivery(period="2026-W48", account_id=recipient, scope="school")
            # The list's query (`digest_recipients_in_scope`) and the single digest agree.
            in_list = scope is None or recipient in scope
            if (may_view_digest(principal, delivery), in_list) != (row[case], row[case]):
                wrong.append(f"{role} digest {case}: expected {'yes' if row[case] else 'no'}")
    assert not wrong, "\n".join(wrong)
    nobodys = DigestDelivery(period="2026-W48", account_id=world.accounts["admin"].id, scope="school")
    assert not may_view_digest(ANONYMOUS, nobodys) and digest_recipients_in_scope(ANONYMOUS) == frozenset()


async def test_an_achievement_of_another_student_is_never_evidence_of_this_one(
    session_factory: SessionFactory, world: World
) -> None:
    """A forged pairing (A's class and student, the sibling's achievement) is refused even to the admin."""
    async with session_factory() as session:
        admin = await load_principal(session, world.accounts["admin"])
    own, sibling = world.targets["own"], world.targets["sibling"]
    for action in (Action.VIEW_EVIDENCE, Action.WITHDRAW):
        mixed = Target(own.student, own.school_class, sibling.achievement)
        assert not allowed(admin, action, mixed)
    # And a student with a class that is not theirs (stale or forged) is nobody's to review.
    moved = Target(own.student, sibling.school_class, own.achievement)
    assert not allowed(admin, Action.REVIEW, moved)
    assert not allowed(admin, Action.VIEW_PORTFOLIO, moved)


async def test_the_anonymous_and_missing_objects_are_refused(
    session_factory: SessionFactory, world: World
) -> None:
    own = world.targets["own"]
    assert [action for action in Action if allowed(ANONYMOUS, action, own)] == []
    async with session_factory() as session:
        admin = await load_principal(session, world.accounts["admin"])
    # Without its object, an action about a class or a student is refused even to the admin.
    without_object = [action for action in Action if is_allowed(admin, action)]
    assert without_object == [
        Action.VERIFY,
        Action.EXPORT,
        Action.MANAGE_ROSTER,
        Action.VIEW_AUDIT_LOG,
        Action.USE_ADMIN,
    ]


@pytest.mark.parametrize("status", [StudentStatus.LEFT, StudentStatus.GRADUATED])
async def test_a_student_who_left_is_nobodys_to_act_on(
    session_factory: SessionFactory, world: World, status: StudentStatus
) -> None:
    async with session_factory() as session:
        student = await session.get(Student, world.targets["own"].student.id)
        student.status = status
        await session.commit()
        loaded = await principals(session, world)
    own = world.targets["own"]
    gone = Target(student, own.school_class, own.achievement)
    assert loaded["student_a"].own_student_id is None
    assert student.id not in loaded["guardian_of_a"].children
    wrong = [
        f"{role} {action}"
        for role, principal in loaded.items()
        for action in Action
        if action not in NOT_ABOUT_ONE_STUDENT and allowed(principal, action, gone)
    ]
    assert not wrong, f"allowed on a {status} student: {wrong}"
    # The class itself is still the class teacher's to view.
    assert allowed(loaded["class_teacher_of_a"], Action.VIEW_CLASS, gone)
    # Even a principal loaded while the student was still active is refused by the policy itself.
    stale = Principal(account_id=world.student_a_account.id, own_student_id=student.id)
    assert not allowed(stale, Action.VIEW_PORTFOLIO, gone)
    assert not allowed(stale, Action.WITHDRAW, gone)


@pytest.mark.parametrize("link_status", [GuardianLinkStatus.PENDING, GuardianLinkStatus.REVOKED])
async def test_an_unconfirmed_guardian_link_gives_nothing(
    session_factory: SessionFactory, world: World, link_status: GuardianLinkStatus
) -> None:
    own = world.targets["own"]
    async with session_factory() as session:
        parent = await make_account(session, "Отец Петра")
        session.add(GuardianLink(account_id=parent.id, student_id=own.student.id, status=link_status))
        # The guardian of A, their link to the sibling revoked, loses even what they themselves sent.
        link = (
            await session.exec(
                select(GuardianLink).where(
                    GuardianLink.account_id == world.guardian_of_a.id,
                    GuardianLink.student_id == world.targets["sibling"].student.id,
                )
            )
        ).one()
        link.status = GuardianLinkStatus.REVOKED
        await session.commit()
        unconfirmed = await load_principal(session, parent)
        former = await load_principal(session, world.guardian_of_a)
    assert unconfirmed.children == ()
    for action in Action:
        assert not allowed(unconfirmed, action, own), action
    sibling = world.targets["sibling"]
    assert [a for a in Action if allowed(former, a, sibling)] == []
