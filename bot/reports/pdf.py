"""The base of every PDF of the project: bundled DejaVu fonts, A4, metadata, safe text, small helpers."""

from __future__ import annotations

import copy
import io
import unicodedata
from collections.abc import Sequence, Set
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import Align, TextEmphasis, XPos, YPos
from fpdf.fonts import SubsetMap, TTFFont

FONTS_DIR = Path(__file__).with_name("fonts")
FONT_FAMILY = "DejaVu"
MONO_FAMILY = "DejaVuMono"
_FONT_FILES = {  # (family in lower case, as fpdf2 keys fonts; style) -> file
    (FONT_FAMILY.lower(), ""): "DejaVuSans.ttf",
    (FONT_FAMILY.lower(), "B"): "DejaVuSans-Bold.ttf",
    (FONT_FAMILY.lower(), "I"): "DejaVuSans-Oblique.ttf",
    (MONO_FAMILY.lower(), ""): "DejaVuSansMono.ttf",
    (MONO_FAMILY.lower(), "B"): "DejaVuSansMono-Bold.ttf",
}
REPLACEMENT = "□"
CREATOR = "Портфолио"

# Invisible joiners and modifiers of emoji sequences: dropped, so that «👍🏽» becomes one □, not three.
_DROPPED = {0x200D, 0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)}
_KEPT_CONTROLS = {"\n", "\t"}


@lru_cache
def _parsed_font(path: Path) -> tuple[TTFFont, bytes]:
    """A bundled font as fpdf2 reads it (never written into a document itself), and its file."""
    return TTFFont(FPDF(), path, path.stem, ""), path.read_bytes()


def read_fonts() -> None:
    """Read every bundled font now, e.g. before starting worker processes, which then inherit them."""
    for name in _FONT_FILES.values():
        _parsed_font(FONTS_DIR / name)


@lru_cache
def font_coverage(font_file: Path = FONTS_DIR / "DejaVuSans.ttf") -> frozenset[int]:
    """Code points the font has a glyph for."""
    with TTFont(font_file, lazy=True) as font:
        return frozenset(font.getBestCmap())


def safe_text(text: str, coverage: Set[int] | None = None) -> str:
    """`text` with every character the font can't draw replaced by something visible.

    A missing character becomes its compatibility form when the font has that (math letters 𝐀 → A),
    else □. Characters the font has are kept as they are: NFKC on the whole text would turn «№» into «No».
    """
    covered = font_coverage() if coverage is None else coverage
    codes = set(map(ord, text))
    if text.isprintable() and codes <= covered and codes.isdisjoint(_DROPPED):
        return unicodedata.normalize("NFC", text)  # the common case, without the loop below
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
        self.set_font(FONT_FAMILY, size=10)
        self.set_lang("ru")
        self.set_title(title)
        self.set_creator(CREATOR)
        if author:
            self.set_author(author)
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)

    def set_font(self, family: str | None = None, style: str | TextEmphasis = "", size: float = 0) -> None:
        """Registers a bundled font the first time it is used: most documents use two or three of the five."""
        family_key = (family or self.font_family).lower()
        font_style = "".join(sorted(char for char in TextEmphasis.coerce(style).style if char in "BI"))
        file_name = _FONT_FILES.get((family_key, font_style))
        if file_name is not None and family_key + font_style not in self.fonts:
            self._add_bundled_font(family_key, font_style, FONTS_DIR / file_name)
        super().set_font(family, style, size)

    def _add_bundled_font(self, family_key: str, style: str, path: Path) -> None:
        """`add_font` without parsing the file again. fpdf2 reads a font's metrics for every document
        (a third of a small PDF's time; 84 digests a week); they are read once per process here, and each
        document gets its own fontTools font, which fpdf2 subsets in place when it writes the file."""
        template, data = _parsed_font(path)
        font = TTFFont.__new__(TTFFont)
        for name in TTFFont.__slots__:  # metrics, widths and the cmap: never changed by a document
            if hasattr(template, name):
                setattr(font, name, getattr(template, name))
        font.desc = copy.copy(template.desc)  # fpdf2 numbers it and adds the file to it as it writes
        font.i = len(self.fonts) + 1
        font.fontkey = family_key + style
        font.emphasis = TextEmphasis.coerce(style)
        # recalcBBoxes=False: the outlines are copied as they are, so fontTools need not decode every
        # glyph to measure it again when it saves the subset.
        font.ttfont = TTFont(io.BytesIO(data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)
        font.ttfont.setGlyphOrder(list(template.ttfont.getGlyphOrder()))
        font.subset = SubsetMap(font)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        self.fonts[font.fontkey] = font

    def normalize_text(self, text: str) -> str:
        cmap = getattr(self.current_font, "cmap", None)  # a TrueType font's code points -> glyphs
        if cmap is not None:
            text = safe_text(text, cmap.keys())
        return super().normalize_text(text)

    def paragraph(self, height: float, text: str, *, align: Align = Align.L) -> None:
        """`text` from here to the right margin, wrapped, lines `height` apart; then the next line at the left
        margin. What `multi_cell(0, height, text)` does, at a fraction of its cost: fpdf2 parses and
        measures the text character by character, `wrap` word by word (most of a small PDF's layout)."""
        x = self.get_x()
        width = self.w - self.r_margin - x
        for line in self.wrap(text, width - 2 * self.c_margin):
            self.set_x(x)
            self.cell(width, height, line, align=align, new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_x(self.l_margin)

    def heading(self, text: str, level: int = 1) -> None:
        """A bold heading on its own line: 16 pt for level 1, 13 pt for level 2, 11 pt below."""
        size = {1: 16, 2: 13}.get(level, 11)
        self.set_font(FONT_FAMILY, "B", size)
        self.paragraph(size * 0.5, text)
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
        """A bordered table whose cells wrap long text and whose header repeats on every new page.

        Drawn by hand rather than with fpdf2's `table()`: that lays every cell out twice through
        `multi_cell` and made a 200-row extract take seconds (bench/pdfs.py); this wraps each cell once.
        """
        weights = list(col_widths) if col_widths else [1.0] * len(headers)
        widths = [self.epw * weight / sum(weights) for weight in weights]
        line_height, padding = font_size * 0.5, 1.0
        auto_break, bottom_margin = self.auto_page_break, self.b_margin
        self.set_auto_page_break(False)  # rows are moved to the next page whole, with the header again
        header = self._table_row(headers, widths, font_size, line_height, padding, heading=True)
        self._draw_table_row(*header, widths, font_size, line_height, padding, heading=True)
        for values in rows:
            lines, height = self._table_row(values, widths, font_size, line_height, padding)
            if self.get_y() + height > self.h - bottom_margin and self.get_y() > self.t_margin + header[1]:
                self.add_page()
                self._draw_table_row(*header, widths, font_size, line_height, padding, heading=True)
            self._draw_table_row(lines, height, widths, font_size, line_height, padding)
        self.set_auto_page_break(auto_break, bottom_margin)
        self.set_font(FONT_FAMILY, "", 10)
        self.set_x(self.l_margin)

    def _table_row(
        self,
        values: Sequence[str],
        widths: Sequence[float],
        font_size: float,
        line_height: float,
        padding: float,
        *,
        heading: bool = False,
    ) -> tuple[list[list[str]], float]:
        """The wrapped lines of every cell of a row, and the row's height."""
        self.set_font(FONT_FAMILY, "B" if heading else "", font_size)
        lines = [
            self.wrap(str(value), width - 2 * padding) for value, width in zip(values, widths, strict=True)
        ]
        return lines, max(len(cell) for cell in lines) * line_height + 2 * padding

    def _draw_table_row(
        self,
        lines: list[list[str]],
        height: float,
        widths: Sequence[float],
        font_size: float,
        line_height: float,
        padding: float,
        *,
        heading: bool = False,
    ) -> None:
        self.set_font(FONT_FAMILY, "B" if heading else "", font_size)
        self.set_fill_color(235, 235, 235)
        x, y = self.l_margin, self.get_y()
        # Each line where `cell(line_height, line)` would put it, with `text()`, which does a quarter of the
        # work: the lines are wrapped already (a 200-row extract draws thousands of them).
        baseline = padding + 0.5 * line_height + 0.3 * self.font_size
        for cell_lines, width in zip(lines, widths, strict=True):
            self.rect(x, y, width, height, style="DF" if heading else "D")
            for index, line in enumerate(cell_lines):
                self.text(x + padding + self.c_margin, y + baseline + index * line_height, line)
            x += width
        self.set_xy(self.l_margin, y + height)

    def _width(self, text: str) -> float:
        """Width of normalised text in the current font: `get_string_width` without its bidi and markdown
        passes, which our left-to-right plain cells don't need and which cost most of a table's time."""
        widths = self.current_font.cw
        return sum(widths[ord(char)] for char in text) * self.font_size_pt * 0.001 / self.k

    def wrap(self, text: str, width: float) -> list[str]:
        """`text` broken into lines no wider than `width` in the current font: at spaces, and inside a word
        only when the word alone is wider than the line."""
        lines: list[str] = []
        for paragraph in self.normalize_text(text).split("\n"):
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if self._width(candidate) <= width:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                line = word
                while self._width(line) > width and len(line) > 1:
                    cut = len(line) - 1
                    while cut > 1 and self._width(line[:cut]) > width:
                        cut -= 1
                    lines.append(line[:cut])
                    line = line[cut:]
            lines.append(line)
        return lines or [""]
