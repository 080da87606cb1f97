"""The weekly digest figure: every recipient's digest and PDF for one week of the synthetic school
(30,000 approved achievements over two years), built by the real service.

It is measured in a process of its own, started for it, like the bot process where the Monday job runs:
the benchmark's own process holds the chats of thousands of users by then, and the digest forks its PDF
workers from the process it runs in. `python -m bench.digest DATABASE_URL WORKDIR` prints the figure's
JSON; the time counts from the service's start, not the interpreter's.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
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


async def build_all(database_url: str, workdir: Path) -> int:
    """Build every recipient's digest (message and PDF) for last week with the real service, as the
    Monday job does; a dry run, so nothing is queued. Returns the number of PDFs written."""
    settings = Settings(
        _env_file=None, bot_token="0:bench", database_url=database_url, media_dir=workdir / "media"
    )
    now = datetime.now(settings.tz)
    engine = create_engine(database_url)
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
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.digest", school.database_url, str(workdir), stdout=subprocess.PIPE
    )
    stdout, _stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the digest run failed with exit code {process.returncode}")
    measured = json.loads(stdout)
    elapsed, built = measured["elapsed_s"], measured["pdfs"]
    return Figure(
        "digest, whole school",
        elapsed,
        "s",
        goal=f"< {GOAL_S:.0f} s",
        passed=elapsed < GOAL_S,
        note=f"{built} recipients' digests and PDFs from {school.counts.get('approved_achievements')} records",
    )


async def _measure(database_url: str, workdir: Path) -> dict[str, float]:
    started = time.perf_counter()
    built = await build_all(database_url, workdir)
    return {"elapsed_s": time.perf_counter() - started, "pdfs": built}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_measure(sys.argv[1], Path(sys.argv[2])))))
