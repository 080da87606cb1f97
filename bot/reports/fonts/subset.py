"""Regenerate the bundled fonts as subsets of DejaVu 2.37 (run by hand; the results are committed).

A school's PDFs need the letters of names and titles (Latin, Greek, Cyrillic), punctuation and a few
symbols; the full DejaVu files are 0.3–0.8 MB each, and fpdf2 subsets the font again for every document
it writes, a cost that grows with the glyphs in the file (most of a small PDF's time: 84 digests a week,
bench/digest.py). Anything else is drawn by `safe_text` as its compatible form or □. Dropped as well:
hinting, and the OpenType layout and math tables, which fpdf2 removes from every embedded font anyway.

    python bot/reports/fonts/subset.py /usr/share/fonts/truetype/dejavu   # Debian's fonts-dejavu-core
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
    *range(0x2010, 0x2028),  # dashes, quotes, bullets, ellipsis
    *range(0x2030, 0x203B),  # ‰, primes, ‹ ›
    0x20AC,  # €
    0x20BD,  # ₽
    0x2116,  # №
    0x2122,  # ™
    *range(0x2190, 0x2196),  # ← ↑ → ↓ ↔ ↕
    *(0x2212, 0x2219, 0x221A, 0x221E, 0x2248, 0x2260, 0x2264, 0x2265),  # − ∙ √ ∞ ≈ ≠ ≤ ≥
    *(0x25A0, 0x25A1, 0x25B2, 0x25B6, 0x25BC, 0x25C0, 0x25CB, 0x25CF),  # ■ □ (the replacement) ▲ ▶ ▼ ◀ ○ ●
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
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "MATH"]
    options.hinting = False
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
