"""Pictures of diplomas for the demo: what a parent's phone photo of a certificate would show."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = Path(__file__).resolve().parents[1] / "reports" / "fonts"


def diploma_photo(title: str, name: str, lines: list[str], *, page: int = 1) -> bytes:
    """A JPEG of a certificate page, slightly tilted paper on a table, as phones take them."""
    paper = Image.new("RGB", (900, 640), (252, 248, 236))
    draw = ImageDraw.Draw(paper)
    big = ImageFont.truetype(str(FONTS / "DejaVuSans-Bold.ttf"), 64)
    normal = ImageFont.truetype(str(FONTS / "DejaVuSans.ttf"), 28)
    draw.rectangle((20, 20, 880, 620), outline=(170, 130, 40), width=8)
    draw.text((450, 110), title, font=big, fill=(150, 30, 30), anchor="mm")
    draw.text((450, 220), name, font=normal, fill=(20, 20, 20), anchor="mm")
    for index, line in enumerate(lines):
        draw.text((450, 300 + 46 * index), line, font=normal, fill=(40, 40, 40), anchor="mm")
    draw.text((820, 590), f"стр. {page}", font=normal, fill=(120, 120, 120), anchor="rm")
    photo = Image.new("RGB", (1000, 760), (95, 75, 60))  # the table
    photo.paste(paper.rotate(2, expand=True, fillcolor=(95, 75, 60)), (30, 40))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()
