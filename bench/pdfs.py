"""PDF figures: the 200-entry extract and portfolio, against a bare fpdf2 table of the same 200 rows."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF

from bench.report import Figure
from bench.school import SyntheticSchool
from bot.reports.extract import build_extract, format_date
from bot.reports.pdf import FONTS_DIR
from bot.reports.portfolio_pdf import build_portfolio_pdf
from bot.services.portfolio import PortfolioEntry, approved_entries
from models.db import create_engine, create_session_factory

RUNS = 7
GOAL_MS = 300


def median_ms(build: Callable[[], bytes], runs: int = RUNS) -> float:
    build()  # the first run loads fonts and caches: a running bot has done that long ago
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        build()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def bare_table(entries: list[PortfolioEntry]) -> bytes:
    """The baseline: plain fpdf2 with the same font writing one line per entry, nothing else."""
    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONTS_DIR / "DejaVuSans.ttf"))
    pdf.set_font("DejaVu", size=7.5)
    pdf.add_page()
    for entry in entries:
        pdf.cell(0, 4, f"{entry.number}  {format_date(entry.event_date)}  {entry.title}  {entry.level}", ln=1)
    return bytes(pdf.output())


async def figures(school: SyntheticSchool) -> list[Figure]:
    engine = create_engine(school.database_url)
    try:
        async with create_session_factory(engine)() as session:
            entries = await approved_entries(session, school.star_student_id)
    finally:
        await engine.dispose()
    now = datetime.now(ZoneInfo("Europe/Moscow"))
    name, school_name = "Иванов Пётр Сергеевич", "МБОУ «Школа № 1»"
    baseline = median_ms(lambda: bare_table(entries))
    extract = median_ms(
        lambda: build_extract(
            school_name, name, "5А", "2026-0001", now, entries, [], "Учитель 1", "ABCD-EFGH-JKLM"
        )
    )
    portfolio = median_ms(lambda: build_portfolio_pdf(school_name, name, "5А", now, entries, []))
    note = f"median of {RUNS}; baseline: bare fpdf2, one line per entry"
    return [
        Figure(
            f"extract PDF, {len(entries)} entries",
            extract,
            "ms",
            baseline,
            "bare fpdf2",
            extract / baseline,
            f"< {GOAL_MS} ms",
            extract < GOAL_MS,
            note,
        ),
        Figure(
            f"portfolio PDF, {len(entries)} entries",
            portfolio,
            "ms",
            baseline,
            "bare fpdf2",
            portfolio / baseline,
            f"< {GOAL_MS} ms",
            portfolio < GOAL_MS,
            note,
        ),
    ]
