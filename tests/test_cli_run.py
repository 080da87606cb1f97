"""`python -m bot run` and `python -m bot demo`, as the operator runs them."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

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
def test_demo_plays_onboarding_and_writes_the_invite_sheet(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    result = run_cli("demo", "--out", str(out), cwd=ROOT, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Спасибо! Вы подключены как родитель ученика: Иванов Пётр Сергеевич" in result.stdout
    assert "Вы подключены как администратор" in result.stdout

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
