"""`python -m bot run` and `python -m bot demo`, as the operator runs them."""

from __future__ import annotations

import csv
import ctypes
import io
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pypdf import PdfReader

from bot.cli.run import limit_malloc_arenas

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "DATABASE_URL"}}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_without_a_token_says_what_to_do_and_exits_2(tmp_path: Path) -> None:
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "BOT_TOKEN" in lines[0] and ".env" in lines[0]


@dataclass
class RunningDemo:
    """`python -m bot demo --keep` in the background, its output read line by line as it comes."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    said: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, out: Path) -> RunningDemo:
        environment = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "DATABASE_URL"}}
        environment.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "demo", "--keep", "--out", str(out)],
            cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        demo = cls(process)
        threading.Thread(target=demo._pump, daemon=True).start()
        return demo

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (line := self.lines.get(timeout=max(deadline - time.monotonic(), 0.1))) is not None:
            self.said.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"the demo ended without {pattern!r}:\n" + self.output[-3000:])

    def stop(self) -> int:
        """What Ctrl+C does (SIGTERM here: a test runner may have started us with SIGINT ignored)."""
        self.process.send_signal(signal.SIGTERM)
        returncode = self.process.wait(timeout=60)
        while (line := self.lines.get(timeout=10)) is not None:
            self.said.append(line)
        return returncode

    @property
    def output(self) -> str:
        return "".join(self.said)


@pytest.mark.slow
def test_demo_plays_the_week_and_its_admin_link_works_while_it_keeps_running(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    demo = RunningDemo.start(out)
    try:
        link = demo.wait_for(r"Веб-админка: (http://127\.0\.0\.1:\d+/admin/login\?token=\S+)", 420)[1]
        # The director opens the printed link: signed in, on the demo school's dashboard.
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(link, timeout=30) as page:
            assert page.url.endswith("/admin/") and page.status == 200
            dashboard = page.read().decode()
        assert "Сводка" in dashboard and "Вы вошли как Елена Викторовна" in dashboard
        with pytest.raises(urllib.error.HTTPError) as again:  # the link works once
            urllib.request.urlopen(link, timeout=30)
        assert again.value.code == 410
    finally:
        returncode = demo.stop()
    # Stopped like the week without --keep ends: the bot stopped, the transcript written.
    assert returncode == 0, demo.output[-3000:]
    assert "Готово." in demo.output and (out / "transcript.txt").exists()
    stdout = demo.output
    assert "Спасибо! Вы подключены как родитель ученика: Иванов Пётр Сергеевич" in stdout
    assert "Вы подключены как администратор" in stdout
    assert "✅ Выписка" in stdout  # the deputy verified the extract's code

    def text_of(name: str) -> str:
        return "\n".join(page.extract_text() for page in PdfReader(out / name).pages)

    assert "Региональный этап ВсОШ по математике" in text_of("portfolio-ivanov-petr.pdf")
    extract = text_of("vypiska-2026-0001.pdf")
    assert "Иванов Пётр" in extract and "Похвальный лист" in extract
    digests = sorted(path.name for path in out.glob("digest-*.pdf"))
    assert [name.rsplit("-", 1)[1] for name in digests] == ["5А.pdf", "ooo.pdf", "school.pdf"]
    assert "5А" in text_of(digests[-1])

    pdf_text = "\n".join(page.extract_text() for page in PdfReader(out / "invites-5А.pdf").pages)
    compact = re.sub(r"\s", "", pdf_text)
    rows = list(csv.reader(io.StringIO((out / "invites-5А.csv").read_text("utf-8-sig")), delimiter=";"))
    header, students = rows[0], rows[1:]
    assert len(students) == 7
    for row in students:
        record = dict(zip(header, row, strict=True))
        assert record_name(record) in pdf_text
        for key, value in record.items():
            if "код" in key.lower() and value:
                assert value in compact, f"{key} of {record_name(record)} is not on the sheet"


def record_name(record: dict[str, str]) -> str:
    return next(value for key, value in record.items() if "ученик" in key.lower() or "фио" in key.lower())


@pytest.mark.parametrize(
    "libc",
    [OSError("no libc.so.6: macOS, Windows, musl"), object()],  # object(): a libc.so.6 without mallopt
    ids=["no glibc", "no mallopt"],
)
def test_the_malloc_arena_limit_is_skipped_without_glibc(
    monkeypatch: pytest.MonkeyPatch, libc: object
) -> None:
    def load(name: str) -> object:
        assert name == "libc.so.6"
        if isinstance(libc, OSError):
            raise libc
        return libc

    monkeypatch.setattr(ctypes, "CDLL", load)
    limit_malloc_arenas()  # returns quietly; the bot then runs with the C library's defaults
