"""The base of every PDF of the project: bundled DejaVu fonts, A4, metadata, safe text, small helpers."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import Align, TableHeadingsDisplay, XPos, YPos
from fpdf.fonts import FontFace

FONTS_DIR = Path(__file__).with_name("fonts")
FONT_FAMILY = "DejaVu"
MONO_FAMILY = "DejaVuMono"
_FONT_FILES = {
    (FONT_FAMILY, ""): "DejaVuSans.ttf",
    (FONT_FAMILY, "B"): "DejaVuSans-Bold.ttf",
    (FONT_FAMILY, "I"): "DejaVuSans-Oblique.ttf",
    (MONO_FAMILY, ""): "DejaVuSansMono.ttf",
    (MONO_FAMILY, "B"): "DejaVuSansMono-Bold.ttf",
}
REPLACEMENT = "□"
CREATOR = "Портфолио"

# Invisible joiners and modifiers of emoji sequences: dropped, so that «👍🏽» becomes one □, not three.
_DROPPED = {0x200D, 0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)}
_KEPT_CONTROLS = {"\n", "\t"}


@lru_cache
def font_coverage(font_file: Path = FONTS_DIR / "DejaVuSans.ttf") -> frozenset[int]:
    """Code points the font has a glyph for."""
    with TTFont(font_file, lazy=True) as font:
        return frozenset(font.getBestCmap())


def safe_text(text: str, coverage: frozenset[int] | None = None) -> str:
    """`text` with every character the font can't draw replaced by something visible.

    A missing character becomes its compatibility form when the font has that (math letters 𝐀 → A),
    else □. Characters the font has are kept as they are: NFKC on the whole text would turn «№» into «No».
    """
    covered = font_coverage() if coverage is None else coverage
    replacement = REPLACEMENT if ord(REPLACEMENT) in covered else "?"
    out: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        code = ord(char)
        if code in _DROPPED:
            continue
        if code in covered or char in _KEPT_CONTROLS:
            out.append(char)
        elif unicodedata.category(char) not in ("Cc", "Cf"):  # other invisible controls are dropped
            compatible = unicodedata.normalize("NFKC", char)
            fits = compatible != char and all(ord(c) in covered for c in compatible)
            out.append(compatible if fits else replacement)
    return "".join(out)


class Document(FPDF):
    """An A4 portrait page in millimetres with the bundled fonts registered and metadata set.

    Every text drawn goes through `safe_text` for the current font, so an emoji in a name never
    crashes a report or leaves a blank.
    """

    def __init__(self, title: str, *, author: str = "") -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        for (family, style), file_name in _FONT_FILES.items():
            self.add_font(family, style, FONTS_DIR / file_name)
        self.set_font(FONT_FAMILY, size=10)
        self.set_lang("ru")
        self.set_title(title)
        self.set_creator(CREATOR)
        if author:
            self.set_author(author)
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)

    def normalize_text(self, text: str) -> str:
        font = self.current_font
        font_file = getattr(font, "ttffile", None)
        if font_file is not None:
            text = safe_text(text, font_coverage(Path(font_file)))
        return super().normalize_text(text)

    def heading(self, text: str, level: int = 1) -> None:
        """A bold heading on its own line: 16 pt for level 1, 13 pt for level 2, 11 pt below."""
        size = {1: 16, 2: 13}.get(level, 11)
        self.set_font(FONT_FAMILY, "B", size)
        self.multi_cell(0, size * 0.5, text, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT_FAMILY, "", 10)
        self.ln(size * 0.2)

    def simple_table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        col_widths: Sequence[float] | None = None,
        *,
        font_size: float = 9,
    ) -> None:
        """A bordered table whose cells wrap long text and whose header repeats on every new page."""
        self.set_font(FONT_FAMILY, "", font_size)
        with self.table(
            col_widths=tuple(col_widths) if col_widths else None,
            headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
            repeat_headings=TableHeadingsDisplay.ON_TOP_OF_EVERY_PAGE,
            line_height=font_size * 0.5,
            text_align="LEFT",
            padding=1,
        ) as table:
            for values in (headers, *rows):
                row = table.row()
                for value in values:
                    row.cell(value)
        self.set_font(FONT_FAMILY, "", 10)
