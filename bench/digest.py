"""The weekly digest figure: every recipient's digest and PDF for one week of the synthetic school
(30,000 approved achievements over two years), built by the real service."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from bench.report import Figure
from bench.school import SyntheticSchool
from bot.app import create_i18n
from bot.config import Settings
from bot.services.digest import parse_period, run_digest
from models.db import create_engine, create_session_factory

GOAL_S = 2.0


async def build_all(school: SyntheticSchool, workdir: Path) -> int:
    """Build every recipient's digest (message and PDF) for last week with the real service, as the
    Monday job does; a dry run, so nothing is queued. Returns the number of PDFs written."""
    settings = Settings(
        _env_file=None, bot_token="0:bench", database_url=school.database_url, media_dir=workdir / "media"
    )
    now = datetime.now(settings.tz)
    engine = create_engine(school.database_url)
    try:
        run = await run_digest(
            create_session_factory(engine),
            settings,
            parse_period("last-week", now, settings.tz),
            now,
            i18n=create_i18n(settings),
            dry_run=True,
        )
    finally:
        await engine.dispose()
    return len(run.pdfs)


async def figure(school: SyntheticSchool, workdir: Path) -> Figure:
    started = time.perf_counter()
    built = await build_all(school, workdir)
    elapsed = time.perf_counter() - started
    return Figure(
        "digest, whole school",
        elapsed,
        "s",
        goal=f"< {GOAL_S:.0f} s",
        passed=elapsed < GOAL_S,
        note=f"{built} recipients' digests and PDFs from {school.counts.get('approved_achievements')} records",
    )
