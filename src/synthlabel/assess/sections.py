"""The report model every assessment tool produces: sections of metrics, tables and charts.

``synthlabel assess``, ``synthlabel drill``, the TC260-003 harness and the biometric checklist
each turn their result into one or more :class:`Section`; :mod:`synthlabel.assess.report`
renders a list of sections as HTML (SVG charts inline) and PDF (headless Chromium). Keeping the
model this small means a new assessment is one new module that returns sections, with no edits
to the renderer.

Every result is also written as JSON; ``Section.to_dict`` / ``Section.from_dict`` round-trip so a
report can be built later from saved results (``synthlabel report build a.json b.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "info"]
ChartKind = Literal["bar", "hbar", "stacked", "pie"]


@dataclass(frozen=True)
class Chart:
    """A simple chart: one value per label per series (``series[name][i]`` belongs to
    ``labels[i]``). ``unit`` is shown on the axis ("%", "files"); ``max_value`` fixes the axis
    (100 for percentages) instead of scaling to the data; ``threshold`` draws a reference line
    (a pass mark such as 90 %). ``colours`` optionally pins a colour (``#rrggbb``) to a series
    name (or, in a pie, a label); otherwise the renderer picks fixed colours for names such as
    "pass", "fail", "confirmed" and a greyscale-safe palette for the rest."""

    title: str
    kind: ChartKind
    labels: list[str]
    series: dict[str, list[float]]
    unit: str = ""
    max_value: float | None = None
    threshold: float | None = None
    colours: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    # optional per-row status ("pass"/"fail"/"warn"/"info"), same length as rows, for colouring
    row_status: list[Status] | None = None


@dataclass(frozen=True)
class Section:
    """One part of a report (a conformance check, a drill, a model evaluation...)."""

    title: str
    kind: str  # "assess" | "drill" | "tc260" | "biometric" | a plug-in's own name
    status: Status
    summary: str  # one or two sentences a reader sees first
    metrics: dict[str, str] = field(default_factory=dict)  # headline figures, in order
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # caveats, method, what was not checked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Section:
        return cls(
            title=str(d["title"]),
            kind=str(d["kind"]),
            status=d["status"],
            summary=str(d.get("summary", "")),
            metrics={str(k): str(v) for k, v in dict(d.get("metrics", {})).items()},
            charts=[Chart(**c) for c in d.get("charts", [])],
            tables=[Table(**t) for t in d.get("tables", [])],
            notes=[str(n) for n in d.get("notes", [])],
        )
