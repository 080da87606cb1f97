"""Who is acting: an account and everything it is to the school, loaded fresh for every update."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import CompoundSelect, Integer, String, bindparam, literal, select, union_all
from sqlmodel import col
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


_STAFF, _CHILD, _OWN = "1 staff", "2 child", "3 own"  # the kinds of rows, also their order


def _roles_and_students() -> CompoundSelect:
    """Staff roles, confirmed children (by name) and own student records of the accounts `account_ids`,
    as rows (kind, account id, role, level, class id, student id, surname, name). Built once: it runs
    for every update, and one statement built once costs a sixth of three built each time (building a
    statement and its cache key cost more than SQLite running it)."""
    account_ids = bindparam("account_ids", expanding=True)
    no_text, no_id = literal(None, String), literal(None, Integer)
    roles = select(
        literal(_STAFF).label("kind"),
        StaffAssignment.account_id,
        StaffAssignment.role,
        StaffAssignment.level,
        StaffAssignment.class_id,
        no_id.label("student_id"),
        no_text.label("surname"),
        no_text.label("name"),
    ).where(col(StaffAssignment.account_id).in_(account_ids), col(StaffAssignment.active).is_(True))
    children = (
        select(
            literal(_CHILD),
            GuardianLink.account_id,
            no_text,
            no_text,
            no_id,
            Student.id,
            Student.surname,
            Student.name,
        )
        .join(Student, Student.id == GuardianLink.student_id)
        .where(
            col(GuardianLink.account_id).in_(account_ids),
            GuardianLink.status == GuardianLinkStatus.CONFIRMED,
            Student.status == StudentStatus.ACTIVE,
        )
    )
    own_students = select(
        literal(_OWN), Student.account_id, no_text, no_text, no_id, Student.id, no_text, no_text
    ).where(col(Student.account_id).in_(account_ids), Student.status == StudentStatus.ACTIVE)
    return union_all(roles, children, own_students).order_by("kind", "surname", "name", "student_id")


_ROLES_AND_STUDENTS = _roles_and_students()


async def load_principals(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, Principal]:
    """What each of these accounts is to the school now, in one statement."""
    rows = await session.exec(_ROLES_AND_STUDENTS, params={"account_ids": list(account_ids)})
    found: dict[int, _Found] = {account_id: _Found() for account_id in account_ids}
    for kind, account_id, role, level, class_id, student_id, _surname, _name in rows:
        mine = found[account_id]
        if kind == _STAFF:
            mine.roles.append((StaffRole(role), level, class_id))
        elif kind == _CHILD:
            mine.children.append(student_id)
        elif mine.own_student_id is None:
            mine.own_student_id = student_id
    return {account_id: mine.principal(account_id) for account_id, mine in found.items()}


@dataclass
class _Found:
    roles: list[tuple[StaffRole, str | None, int | None]] = field(default_factory=list)
    children: list[int] = field(default_factory=list)  # by surname and name
    own_student_id: int | None = None

    def principal(self, account_id: int) -> Principal:
        return Principal(
            account_id=account_id,
            is_admin=any(role == StaffRole.ADMIN for role, _level, _class in self.roles),
            deputy_levels=frozenset(
                SchoolLevel(level) for role, level, _class in self.roles if role == StaffRole.DEPUTY and level
            ),
            class_teacher_of=frozenset(
                class_id
                for role, _level, class_id in self.roles
                if role == StaffRole.CLASS_TEACHER and class_id
            ),
            is_teacher=any(role == StaffRole.TEACHER for role, _level, _class in self.roles),
            own_student_id=self.own_student_id,
            children=tuple(self.children),
        )
