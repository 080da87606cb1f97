"""The figures of a run: one table on the terminal and the same as JSON."""

from __future__ import annotations

import json
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


@dataclass
class Figure:
    """One measured figure. `passed` is None when the figure has no goal (shown for context)."""

    name: str
    ours: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    goal: str = ""
    passed: bool | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), interpolated; 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(max(round(q), 1), 99) - 1]


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}".replace(",", " ") if abs(value) >= 100 else f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    header = ("figure", "ours", "baseline", "ratio", "goal", "result")
    rows = [
        (
            figure.name,
            f"{_number(figure.ours)} {figure.unit}".strip(),
            f"{_number(figure.baseline)} {figure.baseline_label}".strip()
            if figure.baseline is not None
            else "—",
            _number(figure.ratio),
            figure.goal or "—",
            {True: "PASS", False: "FAIL", None: "info"}[figure.passed],
        )
        for figure in figures
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = [f"- {figure.name}: {figure.note}" for figure in figures if figure.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def write_json(figures: list[Figure], options: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": options,
        "figures": [asdict(figure) for figure in figures],
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
