"""`make bench` in miniature: a tiny run prints the one table and writes the JSON (timings not judged).

The throughput figures start two bot processes and take half a minute; `python -m bench --quick` is
their smoke run. Here: the synthetic school, the outbox sender, the digest and the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import main


def test_a_tiny_run_prints_one_table_and_writes_every_figure_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "latest.json"
    args = ["--quick", "--users", "4", "--notifications", "4", "--only", "sender", "digest"]

    assert main([*args, "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "figure" in printed and "baseline" in printed and "goal" in printed
    document = json.loads(out.read_text(encoding="utf-8"))
    names = [figure["name"] for figure in document["figures"]]
    assert names == ["sender, 4 notifications", "digest, whole school"]
    sender, digest = document["figures"]
    assert sender["details"] == {"delivered": 4, "status_429": 0, "duplicates": 0, "not_sent": 0}
    assert sender["ours"] > 0 and sender["baseline"] == 25
    assert digest["ours"] > 0 and digest["baseline"] is None and isinstance(digest["passed"], bool)
    assert document["options"]["only"] == ["digest", "sender"]
    for figure in document["figures"]:
        assert set(figure) >= {"name", "ours", "baseline", "ratio", "goal", "passed"}
        assert figure["name"] in printed
