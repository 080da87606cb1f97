"""Dialogue states. They live in the persistent FSM storage, so a restart loses nothing."""

from aiogram.fsm.state import State, StatesGroup


class Onboarding(StatesGroup):
    code = State()  # waiting for an invite code typed by hand
    consent = State()  # consent text shown; data: code, student_id


class Review(StatesGroup):
    reason = State()  # typing a rejection reason («другое»); data: achievement_id
    correct_title = State()  # typing a corrected title; data: achievement_id
    correct_date = State()  # typing a corrected date; data: achievement_id


class Submission(StatesGroup):
    """The achievement wizard; data: student_id, files, category, level, result, title, event_date, ..."""

    child = State()
    evidence = State()
    category = State()
    level = State()
    result = State()
    title = State()
    date = State()
    date_typed = State()
    source = State()
    confirm = State()


class ResultsRequestDialog(StatesGroup):
    """A results request (regulation 6.4); data: student_id."""

    child = State()
    scope = State()


class Verify(StatesGroup):
    code = State()  # /verify without a code: waiting for it to be typed


class RewardDialog(StatesGroup):
    """Recording a reward; data: class_id, student_id, page, kind, reason, granted_on, order_number
    (None once «Без приказа» was chosen), achievement_id (None once «Без привязки» was chosen)."""

    school_class = State()
    student = State()
    kind = State()
    reason = State()
    date = State()  # buttons, or a date typed as ДД.ММ.ГГГГ
    order = State()
    achievement = State()
    confirm = State()
