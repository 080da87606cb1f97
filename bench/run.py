"""`python -m bench` (`make bench`): the performance figures of issue 7 — throughput, latency and memory against a bare
aiogram bot, the PDFs, the outbox sender and (once it lands) the weekly digest. One table, and JSON in
bench/results/latest.json. Exit code 0 when everything ran; whether each goal was met is in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from bench import digest, pdfs, sender, throughput
from bench.report import RESULTS, Figure, table, write_json
from bench.school import SchoolSize, build_school
from bench.traffic import Mix


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds, not minutes)")
    parser.add_argument("--users", type=int, help="people in the throughput run (default 2000; quick 60)")
    parser.add_argument("--concurrency", type=int, help="how many of them act at once (default: all)")
    parser.add_argument("--notifications", type=int, help="outbox notifications (default 3000; quick 100)")
    parser.add_argument("--only", nargs="+", choices=["throughput", "pdf", "sender", "digest"])
    parser.add_argument("--profile", action="store_true", help="run the bot under cProfile and print the top")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (database, bot logs)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    args.users = args.users or (60 if args.quick else 2000)
    args.concurrency = args.concurrency or args.users
    args.notifications = args.notifications or (100 if args.quick else 3000)
    args.only = set(args.only or ["throughput", "pdf", "sender", "digest"])
    return args


async def run(args: argparse.Namespace, workdir: Path) -> list[Figure]:
    size = SchoolSize(achievements=3000) if args.quick else SchoolSize()
    started = time.perf_counter()
    school = await asyncio.to_thread(build_school, workdir, size)
    print(f"synthetic school: {school.counts} in {time.perf_counter() - started:.1f} s", flush=True)
    figures: list[Figure] = []
    if "throughput" in args.only:
        # A tenth of the people again, two at a time: about 1,300 updates, so that p99 is not one hiccup
        # of a shared machine (with 250 it was the third-slowest update, and the echo bot's jumped 8 -> 210 ms).
        latency_users = max(10, args.users // 10)
        profile = args.out.parent / "bot.prof" if args.profile else None
        if profile is not None:
            profile.parent.mkdir(parents=True, exist_ok=True)  # cProfile writes it as the bot exits
        print(f"throughput: our bot, {args.users} users …", flush=True)
        ours = await throughput.run_ours(
            school, workdir, args.users, latency_users, args.concurrency, Mix(), profile
        )
        print(f"throughput: the echo bot, {ours.load.updates + ours.latency.updates} updates …", flush=True)
        echo = await throughput.run_echo(workdir, ours, args.concurrency)
        figures += throughput.figures(ours, echo, args.users, args.concurrency)
        print("latency by kind of update (ms, slowest first):")
        for kind, row in throughput.by_kind(ours.latency).items():
            print(f"  {kind:24} {row['count']:4.0f}×  p50 {row['p50']:6.1f}  max {row['max']:6.1f}")
        if profile is not None:
            throughput.print_profile(profile)
    if "pdf" in args.only:
        print("PDFs …", flush=True)
        figures += await pdfs.figures(school)
    if "sender" in args.only:
        print(f"sender: {args.notifications} notifications …", flush=True)
        figures.append(await sender.figure(school, workdir, args.notifications))
    if "digest" in args.only:
        figures.append(await digest.figure(school, workdir))
    return figures


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="portfolio-bench-"))
    try:
        figures = asyncio.run(run(args, workdir))
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(figures))
    options = {key: sorted(value) if isinstance(value, set) else value for key, value in vars(args).items()}
    options["out"] = str(args.out)
    write_json(figures, options, args.out)
    print(f"\nJSON: {args.out}")
    return 0
