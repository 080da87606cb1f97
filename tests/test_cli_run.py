"""`python -m bot run` and `python -m bot demo`, as the operator runs them."""

from __future__ import annotations

import csv
import ctypes
import io
import os
import re
import subprocess
import sys
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


@pytest.mark.slow
def test_demo_plays_the_week_and_writes_its_pdfs(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    result = run_cli("demo", "--out", str(out), cwd=ROOT, timeout=420)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Спасибо! Вы подключены как родитель ученика: Иванов Пётр Сергеевич" in result.stdout
    assert "Вы подключены как администратор" in result.stdout
    assert "✅ Выписка" in result.stdout  # the deputy verified the extract's code
    assert re.search(r"http://127\.0\.0\.1:\d+/admin/login\?token=", result.stdout)

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
