"""Who is acting: an account and everything it is to the school, loaded fresh for every update."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Account, GuardianLink, StaffAssignment, Student
from models.enums import GuardianLinkStatus, SchoolLevel, StaffRole, StudentStatus


@dataclass(frozen=True)
class Principal:
    account_id: int | None
    is_admin: bool = False
    deputy_levels: frozenset[SchoolLevel] = field(default_factory=frozenset)
    class_teacher_of: frozenset[int] = field(default_factory=frozenset)  # class ids
    is_teacher: bool = False
    own_student_id: int | None = None
    children: tuple[int, ...] = ()  # student ids, confirmed links only, in a stable order

    @property
    def is_staff(self) -> bool:
        return self.is_admin or bool(self.deputy_levels) or bool(self.class_teacher_of) or self.is_teacher

    @property
    def is_guardian(self) -> bool:
        return bool(self.children)

    @property
    def is_student(self) -> bool:
        return self.own_student_id is not None

    @property
    def family_students(self) -> tuple[int, ...]:
        """The students whose own data this person sees as family: themself first, then their children."""
        own = (self.own_student_id,) if self.own_student_id is not None else ()
        return own + self.children

    @property
    def has_any_role(self) -> bool:
        return self.is_staff or self.is_guardian or self.is_student


ANONYMOUS = Principal(account_id=None)


async def load_principal(session: AsyncSession, account: Account | None) -> Principal:
    if account is None or account.id is None:
        return ANONYMOUS
    return (await load_principals(session, [account.id]))[account.id]


async def load_principals(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, Principal]:
    """What each of these accounts is to the school now, with three queries for all of them."""
    assignments = (
        await session.exec(
            select(StaffAssignment).where(
                col(StaffAssignment.account_id).in_(account_ids), col(StaffAssignment.active).is_(True)
            )
        )
    ).all()
    children = (
        await session.exec(
            select(GuardianLink.account_id, GuardianLink.student_id)
            .join(Student, Student.id == GuardianLink.student_id)
            .where(
                col(GuardianLink.account_id).in_(account_ids),
                GuardianLink.status == GuardianLinkStatus.CONFIRMED,
                Student.status == StudentStatus.ACTIVE,
            )
            .order_by(Student.surname, Student.name)
        )
    ).all()
    own_students = (
        await session.exec(
            select(Student.account_id, Student.id).where(
                col(Student.account_id).in_(account_ids), Student.status == StudentStatus.ACTIVE
            )
        )
    ).all()
    own_student_of: dict[int | None, int | None] = {}
    for account_id, student_id in own_students:
        own_student_of.setdefault(account_id, student_id)
    return {
        account_id: _principal(
            account_id,
            [a for a in assignments if a.account_id == account_id],
            tuple(student_id for guardian_id, student_id in children if guardian_id == account_id),
            own_student_of.get(account_id),
        )
        for account_id in account_ids
    }


def _principal(
    account_id: int, assignments: list[StaffAssignment], children: tuple[int, ...], own_student_id: int | None
) -> Principal:
    return Principal(
        account_id=account_id,
        is_admin=any(a.role == StaffRole.ADMIN for a in assignments),
        deputy_levels=frozenset(
            SchoolLevel(a.level) for a in assignments if a.role == StaffRole.DEPUTY and a.level
        ),
        class_teacher_of=frozenset(
            a.class_id for a in assignments if a.role == StaffRole.CLASS_TEACHER and a.class_id
        ),
        is_teacher=any(a.role == StaffRole.TEACHER for a in assignments),
        own_student_id=own_student_id,
        children=children,
    )
