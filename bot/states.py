"""Dialogue states. They live in the persistent FSM storage, so a restart loses nothing."""

from aiogram.fsm.state import State, StatesGroup


class Onboarding(StatesGroup):
    code = State()  # waiting for an invite code typed by hand
    consent = State()  # consent text shown; data: code, student_id
