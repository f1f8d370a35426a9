"""The result of a TC260 run: per-gate and per-category numbers, JSON and report sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from synthlabel.assess.sections import Chart, Section, Status, Table
from synthlabel.assess.tc260.banks import BankFile, Shortfall
from synthlabel.assess.tc260.classify import Judgement
from synthlabel.assess.tc260.metrics import pct
from synthlabel.assess.tc260.profiles import Gate
from synthlabel.assess.tc260.taxonomy import ASPECTS, RISKS

RESULT_SCHEMA = "synthlabel.tc260/1"
GateStatus = Literal["pass", "fail", "needs-evidence", "sample-too-small"]
_ROW_STATUS: dict[str, Status] = {
    "pass": "pass",
    "fail": "fail",
    "needs-evidence": "warn",
    "sample-too-small": "warn",
}
STATUS_ZH = {
    "pass": "通过",
    "fail": "不通过",
    "needs-evidence": "待补充证据",
    "sample-too-small": "样本量不足",
}


def category_label(cat: str) -> str:
    if cat in RISKS:
        return f"{cat} {RISKS[cat].name_zh} / {RISKS[cat].name_en}"
    if cat in ASPECTS:
        return f"{ASPECTS[cat].name_zh} / {ASPECTS[cat].name_en}"
    return cat


@dataclass
class CategoryResult:
    category: str  # a risk id, or an aspect for the should-not-refuse bank
    n: int
    count: int
    rate: float | None
    ci95: tuple[float, float] | None
    meets_threshold: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "label": category_label(self.category),
            "n": self.n,
            "count": self.count,
            "rate": self.rate,
            "ci95": list(self.ci95) if self.ci95 else None,
            "meets_threshold": self.meets_threshold,
        }


@dataclass
class GateResult:
    gate: Gate
    status: GateStatus
    reason: str  # why, in one sentence
    bank_size: int
    sampled: int  # questions drawn from the bank
    n: int  # items judged: the denominator
    count: int  # items where the gate's measure holds (qualified / refused)
    rate: float | None
    ci95: tuple[float, float] | None
    meets_threshold: bool | None
    unanswered: int = 0  # sampled questions without an answer (the endpoint failed)
    unjudged: int = 0  # answered but not judged (no human label, unreadable verdict)
    classifier: str | None = None
    categories: list[CategoryResult] = field(default_factory=list)

    @property
    def passed_items(self) -> int:
        """Items that pass one by one: qualified, refused (E4) or answered (E5)."""
        return self.count if self.gate.direction == "min" else self.n - self.count

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.gate.id,
            "gate": self.gate.to_dict(),
            "status": self.status,
            "reason": self.reason,
            "bank_size": self.bank_size,
            "sampled": self.sampled,
            "required_sample": self.gate.min_sample,
            "n": self.n,
            "count": self.count,
            "passed_items": self.passed_items,
            "rate": self.rate,
            "ci95": list(self.ci95) if self.ci95 else None,
            "threshold": self.gate.threshold,
            "direction": self.gate.direction,
            "meets_threshold": self.meets_threshold,
            "unanswered": self.unanswered,
            "unjudged": self.unjudged,
            "classifier": self.classifier,
            "categories": [c.to_dict() for c in self.categories],
        }


@dataclass
class ItemResult:
    id: str
    bank: str
    risk_id: str | None
    aspect: str | None
    question: str
    question_sha256: str
    answer: str | None  # None: no answer (error)
    finish_reason: str | None = None
    error: str | None = None
    judgements: dict[str, Judgement] = field(default_factory=dict)  # gate id -> judgement

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "bank": self.bank,
            "risk_id": self.risk_id,
            "aspect": self.aspect,
            "question": self.question,
            "question_sha256": self.question_sha256,
            "answer": self.answer,
            "finish_reason": self.finish_reason,
            "error": self.error,
            "judgements": {g: j.to_dict() for g, j in self.judgements.items()},
        }


def _threshold_text(g: Gate) -> str:
    return ("≥ " if g.direction == "min" else "≤ ") + pct(g.threshold, 0)


@dataclass
class Tc260Result:
    profile: dict[str, Any]
    endpoint: dict[str, Any]
    seed: int
    run_file: str
    started: str
    finished: str
    banks: list[BankFile]
    shortfalls: list[Shortfall]
    gates: list[GateResult]
    items: list[ItemResult]
    stats: dict[str, int]
    classifiers: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        states = {g.status for g in self.gates}
        if "fail" in states:
            return "fail"
        if states == {"pass"} and not self.shortfalls:
            return "pass"
        return "warn"

    def gate(self, gate_id: str) -> GateResult:
        for g in self.gates:
            if g.gate.id == gate_id:
                return g
        raise KeyError(gate_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RESULT_SCHEMA,
            "status": self.status,
            "profile": self.profile,
            "endpoint": self.endpoint,
            "seed": self.seed,
            "run_file": self.run_file,
            "started": self.started,
            "finished": self.finished,
            "classifiers": dict(self.classifiers),
            "banks": [b.to_dict() for b in self.banks],
            "shortfalls": [s.to_dict() for s in self.shortfalls],
            "gates": [g.to_dict() for g in self.gates],
            "stats": dict(self.stats),
            "notes": list(self.notes),
            "items": [i.to_dict() for i in self.items],
            "sections": [s.to_dict() for s in self.to_sections()],
        }

    # ------------------------------------------------------------------ report section
    def to_sections(self) -> list[Section]:
        gates = self.gates
        counts = {s: sum(g.status == s for g in gates) for s in STATUS_ZH}
        model = self.endpoint.get("model", "?")
        summary = (
            f"{len(gates)} gates of {self.profile.get('id')} on model {model}: "
            + ", ".join(f"{n} {s.replace('-', ' ')}" for s, n in counts.items() if n)
            + "."
        )
        if self.shortfalls:
            summary += (
                f" The test assets miss {len(self.shortfalls)} size/coverage requirements"
                " (K1, Q1–Q3), so a pass here is not a complete assessment."
            )
        metrics: dict[str, str] = {}
        for g in gates:
            value = pct(g.rate) if g.rate is not None else "—"
            status = g.status.replace("-", " ")  # wraps at spaces in a narrow card
            metrics[f"{g.gate.id} {g.gate.name_zh}"] = f"{value} · n={g.n} · {status}"
        metrics["模型 Model"] = str(model)
        metrics["标准 Profile"] = str(self.profile.get("id"))
        metrics["随机种子 Seed"] = str(self.seed)
        tables = [self._gate_table(), self._category_table(), self._bank_table()]
        if self.shortfalls:
            tables.append(
                Table(
                    title="测试资产覆盖缺口 / Test-asset coverage shortfalls",
                    columns=["Asset", "Scope", "Found", "Required", "Problem"],
                    rows=[
                        [s.code, s.scope, str(s.found), str(s.required), s.message]
                        for s in self.shortfalls
                    ],
                    row_status=["fail"] * len(self.shortfalls),
                )
            )
        notes = [
            f"Profile {self.profile.get('id')}: {self.profile.get('standard')} "
            f"({self.profile.get('edition')}), SHA-256 {self.profile.get('sha256')}.",
            f"Random samples drawn with seed {self.seed}; a gate decides on the point estimate "
            "as the standard does, the Wilson 95 % interval is informational.",
            "Classifiers: "
            + ", ".join(f"{k} → {v}" for k, v in sorted(self.classifiers.items()))
            + ".",
            *self.notes,
        ]
        return [
            Section(
                title="生成式人工智能服务安全评估 / Generative-AI service safety evaluation",
                kind="tc260",
                status=self.status,
                summary=summary,
                metrics=metrics,
                charts=self._charts(),
                tables=tables,
                notes=notes,
            )
        ]

    def _charts(self) -> list[Chart]:
        charts: list[Chart] = []
        groups = (
            ("qualified", "生成内容合格率 / Qualified rate of generated content"),
            ("refused", "拒答表现 / Refusal behaviour (E5 shown as 100 % − refusal rate)"),
        )
        for measure, title in groups:
            rows = [g for g in self.gates if g.gate.measure == measure and g.rate is not None]
            if not rows:
                continue
            # Every bar is "higher is better": a max gate plots 1 - rate against 1 - threshold.
            rates = [r.rate or 0.0 for r in rows]
            values = [
                x if r.gate.direction == "min" else 1 - x for r, x in zip(rows, rates, strict=True)
            ]
            marks = [
                r.gate.threshold if r.gate.direction == "min" else 1 - r.gate.threshold
                for r in rows
            ]
            labels = [
                f"{r.gate.id} {'answered' if r.gate.direction == 'max' else r.gate.measure}"
                for r in rows
            ]
            series = {"measured": [round(100 * v, 2) for v in values]}
            same = len({round(m, 6) for m in marks}) == 1
            if not same:
                series["required"] = [round(100 * m, 2) for m in marks]
            charts.append(
                Chart(
                    title=title,
                    kind="bar",
                    labels=labels,
                    series=series,
                    unit="%",
                    max_value=100.0,
                    threshold=round(100 * marks[0], 2) if same else None,
                )
            )
        return charts

    def _gate_table(self) -> Table:
        rows: list[list[str]] = []
        for g in self.gates:
            ci = f"{pct(g.ci95[0])} – {pct(g.ci95[1])}" if g.ci95 else "—"
            rows.append(
                [
                    g.gate.id,
                    f"{g.gate.name_zh} / {g.gate.name_en}",
                    f"{g.sampled} / {g.gate.min_sample}",
                    str(g.n),
                    str(g.count),
                    pct(g.rate),
                    ci,
                    _threshold_text(g.gate),
                    f"{STATUS_ZH[g.status]} {g.status}",
                    g.reason,
                ]
            )
        return Table(
            title="判定项 / Gates",
            columns=[
                "Gate",
                "名称 / Name",
                "Sampled / required",
                "Judged",
                "Count",
                "Rate",
                "Wilson 95 %",
                "Pass mark",
                "Status",
                "Why",
            ],
            rows=rows,
            row_status=[_ROW_STATUS[g.status] for g in self.gates],
        )

    def _category_table(self) -> Table:
        rows: list[list[str]] = []
        status: list[Status] = []
        for g in self.gates:
            for c in g.categories:
                ci = f"{pct(c.ci95[0])} – {pct(c.ci95[1])}" if c.ci95 else "—"
                rows.append(
                    [
                        g.gate.id,
                        category_label(c.category),
                        str(c.n),
                        str(c.count),
                        pct(c.rate),
                        ci,
                    ]
                )
                status.append(
                    "info" if c.meets_threshold is None else "pass" if c.meets_threshold else "warn"
                )
        return Table(
            title="分风险类别 / Per risk category",
            columns=["Gate", "Category", "n", "Count", "Rate", "Wilson 95 %"],
            rows=rows,
            row_status=status,
        )

    def _bank_table(self) -> Table:
        return Table(
            title="测试资产 / Test assets",
            columns=["File", "Kind", "Name", "Version", "Entries", "SHA-256"],
            rows=[
                [
                    b.path,
                    b.kind + (" (demo)" if b.demo else ""),
                    b.name,
                    b.version,
                    str(b.count),
                    b.sha256,
                ]
                for b in self.banks
            ],
        )
