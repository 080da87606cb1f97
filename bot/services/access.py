"""The access policy: the one place that decides who may see or change which student's data.

Deny by default. Every handler and admin route asks here at the moment of acting; nothing is inferred
from which buttons someone was shown.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.principal import Principal
from models import SchoolClass
from models.enums import SchoolLevel

_GRADES = {SchoolLevel.NOO: (1, 4), SchoolLevel.OOO: (5, 9), SchoolLevel.SOO: (10, 11)}


def may_view_class(principal: Principal, school_class: SchoolClass) -> bool:
    """Roster and onboarding coverage of a class: its class teacher, the deputy of its level, admins."""
    return (
        principal.is_admin
        or school_class.level in principal.deputy_levels
        or school_class.id in principal.class_teacher_of
    )


async def classes_in_scope(session: AsyncSession, principal: Principal) -> list[SchoolClass]:
    """The classes a staff member may view, in school order."""
    if not principal.is_staff:
        return []
    classes = (await session.exec(select(SchoolClass).order_by(SchoolClass.grade, SchoolClass.letter))).all()
    return [c for c in classes if may_view_class(principal, c)]
