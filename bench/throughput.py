"""Throughput, latency and memory: our bot process and a bare aiogram echo bot under the same updates.

Two phases per bot, on its own local Bot API server:
- load: every user at once (up to `concurrency`), each stepping through their flow; updates/s is the
  number of updates over the time until the last person is done;
- latency: a few users, two at a time, so that the time from offer to reply is the bot's own work and
  not the queue in front of it (under full load that time is mostly queueing, reported as context).
  It starts once the bot has sent what the load left in its outbox (review cards, decisions: a minute
  of sending at Telegram's 25 a second after 2,000 users), which would otherwise share every update's
  event loop and database; how long that took is reported too.
The echo bot then gets exactly the updates our bot got, person by person, in the same phases.
"""

from __future__ import annotations

import asyncio
import pstats
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.process import BotProcess
from bench.report import Figure, percentile
from bench.school import SyntheticSchool, diploma
from bench.server import BenchServer, BenchUser
from bench.traffic import TIMEOUT, Cast, Casting, Mix, Person

LATENCY_CONCURRENCY = 2
OUTBOX_DRAIN_TIMEOUT = 300.0  # seconds
P99_MARGIN = 0.020  # seconds our p99 may exceed echo's
RATIO_GOAL = 0.5
MEMORY_GOAL_MB = 200


@dataclass
class Phase:
    updates: int
    elapsed: float
    failures: int
    latencies: list[float]
    latency_kinds: list[str]  # what each latency answered
    late_presses: int  # answered after Telegram's 15 s lifetime of a press: refused, the user saw a spinner
    replay: list[tuple[list[str], bool]] = field(default_factory=list)  # (kinds, reviewer) per person

    @property
    def rate(self) -> float:
        return self.updates / self.elapsed if self.elapsed else 0.0


@dataclass
class BotRun:
    load: Phase
    latency: Phase
    peak_rss_mb: float
    log_errors: int
    outbox_drain_s: float = 0.0  # from the end of the load to an empty outbox


async def wait_for_empty_outbox(database: Path) -> float:
    """Seconds until no notification waits to be sent (the bot's sender works through them)."""
    started = time.perf_counter()

    def pending() -> int:
        with sqlite3.connect(database) as connection:
            return connection.execute(
                "SELECT count(*) FROM notification WHERE status = 'pending'"
            ).fetchone()[0]

    async with asyncio.timeout(OUTBOX_DRAIN_TIMEOUT):
        while True:  # polled: the bot is another process
            if not await asyncio.to_thread(pending):
                return time.perf_counter() - started
            await asyncio.sleep(0.2)


async def play(server: BenchServer, cast: Cast, concurrency: int) -> Phase:
    """Everyone in `cast` plays; the reviewers are not limited (they wait for cards, not the bot)."""
    gate = asyncio.Semaphore(concurrency)
    everyone = [*cast.people, *cast.reviewers]
    sent_before = {id(person): len(person.user.sent) for person in everyone}

    async def limited(person: Person) -> None:
        async with gate:
            await person.play(person.user)

    server.reset_measurements()
    started = time.perf_counter()
    results = await asyncio.gather(
        *(limited(person) for person in cast.people),
        *(person.play(person.user) for person in cast.reviewers),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - started
    failures = [result for result in results if isinstance(result, BaseException)]
    for failure in failures[:3]:
        print(f"  a person's flow failed: {str(failure)[:600]}")
    replay = [(person.user.sent[sent_before[id(person)] :], person in cast.reviewers) for person in everyone]
    return Phase(
        updates=sum(len(kinds) for kinds, _reviewer in replay),
        elapsed=elapsed,
        failures=len(failures),
        latencies=list(server.latencies),
        latency_kinds=list(server.latency_kinds),
        late_presses=len(server.too_late),
        replay=replay,
    )


def echo_cast(server: BenchServer, phase: Phase, first_id: int) -> Cast:
    """People who send the echo bot the same kinds of updates, in the same order, as in `phase`."""
    photo = diploma(0)
    people, reviewers = [], []
    for n, (kinds, is_reviewer) in enumerate(phase.replay):
        user = server.bench_user(first_id + n, "Эхо", started=True)

        async def replay(user: BenchUser, kinds: list[str] = kinds) -> None:
            for kind in kinds:
                if kind == "press":
                    last = user.last_message
                    pressed = user.press_callback(last.message_id if last else 1, "echo")
                    await user.wait_answer(pressed.id, TIMEOUT)
                else:
                    user.send_photo(photo) if kind == "photo" else user.send_text("эхо")
                    await user.next_message(TIMEOUT)

        (reviewers if is_reviewer else people).append(Person(user, replay))
    return Cast(people, reviewers)


async def run_ours(
    school: SyntheticSchool,
    workdir: Path,
    users: int,
    latency_users: int,
    concurrency: int,
    mix: Mix,
    profile: Path | None,
) -> BotRun:
    casting = Casting(school)
    async with BenchServer() as server:
        args = ["-m", "bot", "run"]
        if profile is not None:
            args = ["-m", "cProfile", "-o", str(profile), *args]
        bot = BotProcess(
            server,
            args,
            workdir / "bot.log",
            {
                "DATABASE_URL": school.database_url,
                "MEDIA_DIR": str(school.media_dir),
                "SCHOOL_NAME": "МБОУ «Школа № 1»",
                "SECRET_KEY": "bench-secret",
            },
        )
        await bot.start()
        try:
            load = await play(server, casting.cast(server, users, mix), concurrency)
            drained = await wait_for_empty_outbox(school.database_path)
            latency = await play(server, casting.cast(server, latency_users, mix), LATENCY_CONCURRENCY)
            peak = bot.peak_rss_mb()
        finally:
            await bot.stop()
    return BotRun(load, latency, peak, bot.log_errors(), drained)


async def run_echo(workdir: Path, ours: BotRun, concurrency: int) -> BotRun:
    async with BenchServer() as server:
        bot = BotProcess(server, ["-m", "bench.echo_bot"], workdir / "echo.log", {})
        await bot.start()
        try:
            load = await play(server, echo_cast(server, ours.load, 20_000_001), concurrency)
            latency = await play(server, echo_cast(server, ours.latency, 30_000_001), LATENCY_CONCURRENCY)
            peak = bot.peak_rss_mb()
        finally:
            await bot.stop()
    return BotRun(load, latency, peak, bot.log_errors())


def figures(ours: BotRun, echo: BotRun, users: int, concurrency: int) -> list[Figure]:
    ms = 1000
    p99_ours, p99_echo = percentile(ours.latency.latencies, 99), percentile(echo.latency.latencies, 99)
    failures = ours.load.failures + ours.latency.failures
    return [
        Figure(
            "throughput",
            ours.load.rate,
            "upd/s",
            echo.load.rate,
            "echo",
            ours.load.rate / echo.load.rate if echo.load.rate else None,
            f"ratio ≥ {RATIO_GOAL}",
            bool(echo.load.rate) and ours.load.rate / echo.load.rate >= RATIO_GOAL and not failures,
            f"{users} users ({concurrency} at a time), {ours.load.updates} updates in {ours.load.elapsed:.1f} s"
            + (f"; {failures} flows FAILED" if failures else "")
            + (f"; {ours.load.late_presses} presses answered after 15 s" if ours.load.late_presses else "")
            + (f"; {ours.log_errors} error lines in the bot's log" if ours.log_errors else ""),
            {
                "updates": ours.load.updates,
                "elapsed_s": ours.load.elapsed,
                "echo_elapsed_s": echo.load.elapsed,
                "failures": failures,
                "late_presses": ours.load.late_presses,
                "echo_late_presses": echo.load.late_presses,
                "bot_log_errors": ours.log_errors,
                "outbox_drain_s": ours.outbox_drain_s,
                "p50_ms_under_load": percentile(ours.load.latencies, 50) * ms,
                "p99_ms_under_load": percentile(ours.load.latencies, 99) * ms,
                "echo_p50_ms_under_load": percentile(echo.load.latencies, 50) * ms,
                "echo_p99_ms_under_load": percentile(echo.load.latencies, 99) * ms,
            },
        ),
        Figure(
            "latency p50",
            percentile(ours.latency.latencies, 50) * ms,
            "ms",
            percentile(echo.latency.latencies, 50) * ms,
            "echo",
            goal="",
            note=f"offer → reply, {len(ours.latency.latencies)} updates, {LATENCY_CONCURRENCY} users at a time",
        ),
        Figure(
            "latency p99",
            p99_ours * ms,
            "ms",
            p99_echo * ms,
            "echo",
            (p99_ours - p99_echo) * ms,
            f"ours − echo < {P99_MARGIN * ms:.0f} ms",
            p99_ours - p99_echo < P99_MARGIN,
            "ratio column: the difference in ms",
            {"by_kind_ms": by_kind(ours.latency)},
        ),
        Figure(
            "memory (peak RSS)",
            ours.peak_rss_mb,
            "MiB",
            echo.peak_rss_mb,
            "echo",
            ours.peak_rss_mb / echo.peak_rss_mb if echo.peak_rss_mb else None,
            f"< {MEMORY_GOAL_MB} MiB",
            ours.peak_rss_mb < MEMORY_GOAL_MB,
            "VmHWM of the bot process at the end of the throughput run",
        ),
    ]


def by_kind(phase: Phase) -> dict[str, dict[str, float]]:
    """Latency of each kind of update (count, p50, max in ms), slowest first: where p99 comes from."""
    kinds: dict[str, list[float]] = {}
    for kind, latency in zip(phase.latency_kinds, phase.latencies, strict=True):
        kinds.setdefault(kind, []).append(latency * 1000)
    rows = {
        kind: {"count": len(values), "p50": percentile(values, 50), "max": max(values)}
        for kind, values in kinds.items()
    }
    return dict(sorted(rows.items(), key=lambda item: -item[1]["max"]))


def print_profile(path: Path, top: int = 30) -> None:
    """Where the bot process spent its time (cProfile): own time overall, and our code by cumulative time.

    The profile covers the whole process, start-up imports included (aiogram builds its pydantic models
    then); the measured window starts after them.
    """
    if not path.exists():
        print(f"no profile at {path}")
        return
    stats = pstats.Stats(str(path))
    print(f"\n--- bot process profile ({path}): top {top} by own time ---")
    stats.sort_stats("tottime").print_stats(top)
    print(f"\n--- our code (bot/, handlers/, models/) by cumulative time, top {top} ---")
    stats.sort_stats("cumulative").print_stats(r"/(bot|handlers|models)/", top)
