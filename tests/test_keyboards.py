"""Our inline keyboard builder makes what aiogram's makes, without copying every button at every step."""

from __future__ import annotations

from pathlib import Path

from aiogram.types import InlineKeyboardButton
from aiogram.utils import keyboard

from bot.callbacks import PortfolioCb, PortfolioView
from bot.keyboards import InlineKeyboardBuilder

ROOT = Path(__file__).resolve().parents[1]


def build(builder: keyboard.InlineKeyboardBuilder) -> dict:
    for student_id in range(1, 8):
        builder.button(
            text=f"Ученик {student_id}",
            callback_data=PortfolioCb(view=PortfolioView.OPEN, student_id=student_id),
        )
    builder.adjust(3, 2)
    builder.row(
        InlineKeyboardButton(text="← Назад", callback_data="back"),
        InlineKeyboardButton(text="✖️ Отмена", callback_data="cancel"),
    )
    builder.button(text="Ещё", url="https://example.org/")
    return builder.as_markup().model_dump(exclude_none=True)


def test_the_markup_is_the_one_aiograms_builder_makes() -> None:
    ours = build(InlineKeyboardBuilder())
    assert ours == build(keyboard.InlineKeyboardBuilder())
    assert [len(row) for row in ours["inline_keyboard"]] == [3, 2, 2, 3]  # «Ещё» joins the last row


def test_buttons_are_shared_and_rows_copied() -> None:
    first, second = (InlineKeyboardButton(text=t, callback_data=t) for t in ("a", "b"))
    builder = InlineKeyboardBuilder()
    builder.add(first)
    builder.add(second)

    rows = builder.export()
    assert rows[0][0] is first and rows[0][1] is second  # no copy of a button
    rows[0].append(InlineKeyboardButton(text="c", callback_data="c"))
    assert [button.text for button in builder.buttons] == ["a", "b"]  # the builder's rows are its own

    copied = builder.copy()
    assert isinstance(copied, InlineKeyboardBuilder) and list(copied.buttons) == [first, second]


def test_no_module_uses_aiograms_builder_directly() -> None:
    imports = ("aiogram.utils.keyboard", "from aiogram.utils import keyboard")
    uses = [
        str(path.relative_to(ROOT))
        for folder in ("bot", "handlers", "admin")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "bot" / "keyboards.py"
        and any(i in path.read_text(encoding="utf-8") for i in imports)
    ]
    assert uses == []
