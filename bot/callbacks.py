"""Callback data factories: short prefixes and ids only; everything is reloaded and checked on press.

Callback data comes from the client and may be anything (a modified client sends what it likes, up to 64
bytes): a text where an id is expected, a negative number, a number no database integer holds. Typed
fields (`int`, an enum) that don't parse never reach a handler (the factory's filter doesn't match, and
the fallback says the button is out of date); ids carried in a text field (`value`, whose meaning
depends on the step) are read with `row_id` / `number` here, the one place that decides what an id
looks like, and a handler answers «Эта кнопка устарела» for None.
"""

import re
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

# Database integers (SQLite's INTEGER, PostgreSQL's BIGINT) end below this: a larger number can't even be
# bound to a query, and no row has it.
ROW_ID_LIMIT = 2**63
_DIGITS = re.compile(r"[0-9]{1,64}")  # ASCII only: int() would also take «١٢», « 12» or «1_2»


def number(value: str | int) -> int | None:
    """A whole number ≥ 0 written in ASCII digits (of any size), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    return int(value) if _DIGITS.fullmatch(value) else None


def row_id(value: str | int) -> int | None:
    """The id of a row a button may name: 1 … 2**63 − 1, else None (text, zero, negative, too big)."""
    found = number(value)
    return found if found is not None and 0 < found < ROW_ID_LIMIT else None


class _IdInValue:
    """For factories whose text field `value` carries an id at some steps (declared by the factory: a
    field here would come first in the packed data)."""

    @property
    def id(self) -> int | None:
        """`value` as a row id (a class or a student), or None when it can't be one."""
        return row_id(self.value)  # type: ignore[attr-defined]


class ConsentCb(CallbackData, prefix="cs"):
    accept: bool
    invite_id: int  # the consent text it was shown with: an older consent message can't link another child


class LanguageCb(CallbackData, prefix="lg"):
    code: str


class ReviewCb(CallbackData, prefix="rv"):
    """The review card's buttons (packed by bot.services.submissions.review_callback)."""

    action: str
    achievement_id: int


class SubmitCb(_IdInValue, CallbackData, prefix="sb"):
    """A choice in the achievement wizard: `step` is the question, `value` the answer (short ids only)."""

    step: str
    value: str = ""


class WithdrawCb(CallbackData, prefix="wd"):
    achievement_id: int


class ReviewReasonCb(CallbackData, prefix="rr"):
    """A rejection reason picked on the review card (a RejectReason value)."""

    achievement_id: int
    reason: str


class ReviewFieldCb(CallbackData, prefix="rf"):
    """Which field of a pending achievement the reviewer corrects."""

    achievement_id: int
    field: str


class ReviewValueCb(CallbackData, prefix="rc"):
    """A corrected value picked from the taxonomy; `category` carries a new category that needs a new
    result, so both are saved together."""

    achievement_id: int
    field: str
    value: str
    category: str = ""


class PendingPageCb(CallbackData, prefix="pq"):
    """A page of the reviewer's /pending queue."""

    page: int


class RequestCb(_IdInValue, CallbackData, prefix="rq"):
    """A choice in the results request: `step` is child, scope, back or cancel; `value` the child's id or
    the scope; `student_id` the child a scope is chosen for (checked again on press)."""

    step: str
    value: str = ""
    student_id: int = 0


class RewardCb(_IdInValue, CallbackData, prefix="rw"):
    """A choice in the reward wizard: `step` is the question (or back, cancel, page), `value` the answer:
    a class or student id, a RewardKind, a preset's index... Reloaded and checked on every press."""

    step: str
    value: str = ""


class PortfolioView(StrEnum):
    PAGE = "page"
    OPEN = "open"  # the first page in a message of its own, from a list that stays (like «Мой класс»)
    MINE = "mine"  # the submitter's own pending and rejected submissions
    ITEM = "item"
    PDF = "pdf"
    KIDS = "kids"  # a guardian's choice of child


class PortfolioCb(CallbackData, prefix="pf"):
    """A portfolio screen. `student_id` and `item` (an achievement id) are checked again on every press;
    `page` is the page to show, or the one «◀️ К списку» returns to from an item."""

    view: PortfolioView
    student_id: int = 0
    page: int = 0
    item: int = 0


class ChildCb(CallbackData, prefix="gc"):
    """A guardian's child in «Мои дети», or a student's own record under «Мой профиль»: `action` is open,
    withdraw (asks), confirm or cancel; the link is checked again on every press."""

    action: str
    student_id: int
