"""Regenerate the bundled fonts as subsets of DejaVu 2.37 (run by hand; the results are committed).

A school's PDFs need Latin, Cyrillic, punctuation and a few symbols; the full DejaVu files are 0.3–0.8 MB
each, and fpdf2 parses and subsets the whole file for every document (most of a small PDF's time, see
bench/pdfs.py). Anything outside these ranges is drawn by `safe_text` as its compatible form or □.

    python bot/reports/fonts/subset.py /path/to/dejavu-fonts-ttf-2.37/ttf
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

UNICODES = [
    *range(0x0020, 0x007F),  # Basic Latin
    *range(0x00A0, 0x0250),  # Latin-1 Supplement, Latin Extended-A and -B
    *range(0x0370, 0x0400),  # Greek (α, β in olympiad titles)
    *range(0x0400, 0x0530),  # Cyrillic and its supplement
    *range(0x2000, 0x2070),  # General Punctuation: dashes, quotes, ellipsis, spaces
    *range(0x20A0, 0x20C0),  # currency: ₽
    *range(0x2100, 0x2150),  # letterlike: №, ™
    *range(0x2190, 0x2200),  # arrows
    *range(0x2200, 0x2300),  # mathematical operators: ≤, ≥, ±
    *range(0x25A0, 0x2600),  # geometric shapes: □ (the replacement), ●
    0x2713,
    0x2714,  # ✓ ✔
]
FILES = [
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
]


def main(source: Path) -> None:
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]  # keep the names and the licence text in the font
    options.notdef_outline = True
    for name in FILES:
        font = subset.load_font(str(source / name), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=UNICODES)
        subsetter.subset(font)
        subset.save_font(font, str(Path(__file__).with_name(name)), options)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
