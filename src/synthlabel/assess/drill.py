"""Attack drills: which labels survive which attacks.

For every labelled input, :func:`run_drill` inspects the file once as it is (the baseline:
which label kinds it carries) and then once per attack of its media kind, on an attacked copy
written to a work directory. A label kind *survives* an attack when the attacked copy still
carries it; only the kinds present in the baseline are counted. Label kinds:

* ``record``: a GB 45438 implicit record (any carrier) is still there;
* ``signature``: its producer signature still verifies and is still bound to the content;
* ``c2pa``: a C2PA manifest is present and validates;
* ``watermark``: a robust watermark is detected with the baseline's payload (text marks are
  zero-bit: detected);
* ``visible``: the explicit label is still found (the notice in text; captions and voice
  prompts need the OCR/speech detectors: ``deep=True``);
* ``registry``: the perceptual-hash registry still matches (``registry_path``);
* ``verdict``: the Labeling Measures' verdict is still at least the baseline's;
* ``detector:<id>``: a selected detector plug-in still reports a finding code it reported on
  the original.

The result (:class:`DrillResult`) is JSON (``synthlabel.drill/1``) and report sections
(:meth:`DrillResult.sections`): a survival chart and a table per media kind.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthlabel.assess.attacks import registry as attack_registry
from synthlabel.assess.attacks.base import KINDS, Attack
from synthlabel.assess.sections import Chart, Section, Status, Table
from synthlabel.errors import SynthlabelError
from synthlabel.model.findings import Verdict
from synthlabel.model.results import InspectionReport
from synthlabel.pipeline.inspecting import InspectOptions, inspect_file
from synthlabel.pipeline.parallel import run_jobs

SCHEMA = "synthlabel.drill/1"
#: The label kinds, in report order (detector kinds ``detector:<id>`` follow).
LABEL_KINDS: tuple[str, ...] = (
    "record",
    "signature",
    "c2pa",
    "watermark",
    "visible",
    "registry",
    "verdict",
)
#: One colour per label kind in every chart (the report's greyscale-safe palette order).
_COLOURS = ("#1d3f8a", "#f2a33a", "#5aa9e6", "#2a9d8f", "#7b3294", "#f6e27f", "#8c2d04")
_EXTRA_COLOURS = ("#b8e0a6", "#c51b7d", "#4d4d4d", "#e08214", "#542788")
#: Kinds that make content traceable on their own (``any label`` in the tables).
TRACE_KINDS = frozenset({"record", "c2pa", "watermark", "visible", "registry"})
LABEL_TITLES = {
    "record": "implicit record",
    "signature": "signature valid + bound",
    "c2pa": "C2PA manifest",
    "watermark": "watermark",
    "visible": "visible label",
    "registry": "registry match",
    "verdict": "verdict kept",
    "any": "any label",
}


@dataclass(frozen=True)
class DrillOptions:
    """What to attack with and how to inspect (picklable: sent to worker processes).

    ``attacks``: attack ids (see :mod:`synthlabel.assess.attacks`); ``detectors``: detector
    plug-in ids whose findings are followed too; ``deep``: run the expensive detectors
    (OCR of captions); ``keep``: leave the attacked files in ``work_dir``."""

    attacks: tuple[str, ...]
    detectors: tuple[str, ...] = ()
    deep: bool = False
    seed: int = 0
    registry_path: str | None = None
    trust_file: str | None = None
    key_home: str | None = None
    c2pa_trust_anchors: str | None = None
    text_watermark_key: bytes | None = None
    policy: str | None = None
    work_dir: str | None = None
    keep: bool = False
    time_budget: float | None = 60.0

    def inspect_options(self) -> InspectOptions:
        from synthlabel.detect import registry as det_registry

        expensive = self.deep or any(
            det_registry.get(d).cost == "expensive" for d in self.detectors
        )
        return InspectOptions(
            trust_file=self.trust_file,
            key_home=self.key_home,
            c2pa_trust_anchors=self.c2pa_trust_anchors,
            watermarks=True,
            text_watermark_key=self.text_watermark_key,
            detect=True,
            max_cost="expensive" if expensive else "medium",
            policy=self.policy,
            time_budget=self.time_budget,
            registry_path=self.registry_path,
        )


@dataclass
class Observation:
    """The labels one inspection found in one file."""

    present: dict[str, bool]
    verdict: str = ""
    payloads: list[str] = field(default_factory=list)  # decoded watermark payloads
    codes: dict[str, list[str]] = field(default_factory=dict)  # detector id -> finding codes
    error: str = ""


def observe(report: InspectionReport) -> Observation:
    """Which label kinds an inspection report shows."""
    if report.error:
        return Observation({}, error=report.error)
    c2 = report.c2pa
    evidence = report.evidence
    present = {
        "record": any(r.record is not None for r in report.records),
        "signature": any(
            r.producer_signature is not None and r.producer_signature.ok for r in report.records
        ),
        "c2pa": bool(
            c2 is not None
            and c2.present
            and not c2.validation_errors
            and c2.validation_state.lower() != "invalid"
        ),
        "watermark": any(w.get("present") for w in report.watermarks),
        "visible": any(f.code.startswith("visible.") for f in evidence),
        "registry": any(f.code.startswith("registry.match") for f in evidence),
        "verdict": report.verdict is not None and report.verdict is not Verdict.NO_TRACE,
    }
    codes: dict[str, list[str]] = {}
    for f in evidence:
        codes.setdefault(f.detector, [])
        if f.code not in codes[f.detector]:
            codes[f.detector].append(f.code)
    payloads = sorted({str(w.get("payload") or "") for w in report.watermarks if w.get("present")})
    verdict = report.verdict.value if report.verdict is not None else ""
    return Observation(present, verdict, payloads, codes)


def _rank(verdict: str) -> int:
    try:
        return Verdict(verdict).rank
    except ValueError:
        return 0


def baseline_kinds(base: Observation, detectors: Sequence[str]) -> list[str]:
    """The label kinds the original carries (the ones an attack can remove)."""
    kinds = [k for k in LABEL_KINDS if base.present.get(k)]
    kinds += [f"detector:{d}" for d in detectors if base.codes.get(d)]
    return kinds


def survival(base: Observation, after: Observation, detectors: Sequence[str]) -> dict[str, bool]:
    """For every label kind of ``base``: does ``after`` still carry it?"""
    out: dict[str, bool] = {}
    for kind in baseline_kinds(base, detectors):
        if kind.startswith("detector:"):
            d = kind.split(":", 1)[1]
            out[kind] = bool(set(after.codes.get(d, ())) & set(base.codes[d]))
        elif kind == "watermark":
            keys = set(base.payloads) - {""}
            found = set(after.payloads)
            out[kind] = bool(after.present.get(kind)) and (not keys or bool(keys & found))
        elif kind == "verdict":
            out[kind] = _rank(after.verdict) >= _rank(base.verdict) > 0
        else:
            out[kind] = bool(after.present.get(kind))
    return out


@dataclass
class Baseline:
    """One input as it was: its format and the labels it carries."""

    index: int
    path: str
    format: str = ""
    media_kind: str = ""
    observation: Observation = field(default_factory=lambda: Observation({}))
    error: str = ""

    @property
    def kinds(self) -> list[str]:
        return [k for k, v in self.observation.present.items() if v]

    def to_dict(self, detectors: Sequence[str] = ()) -> dict[str, Any]:
        o = self.observation
        return {
            "path": self.path,
            "format": self.format,
            "media_kind": self.media_kind,
            "labels": baseline_kinds(o, detectors),
            "verdict": o.verdict,
            "watermark_payloads": list(o.payloads),
            "detector_codes": {k: list(v) for k, v in o.codes.items()},
            "error": self.error or o.error,
        }


@dataclass
class Trial:
    """One attack on one input: which of the input's label kinds survived."""

    input: int
    path: str
    media_kind: str
    attack: str
    survived: dict[str, bool] = field(default_factory=dict)
    verdict: str = ""
    output: str = ""  # the attacked file, when kept
    error: str = ""
    seconds: float = 0.0

    @property
    def traceable(self) -> bool:
        """At least one label kind that identifies AI content on its own survived."""
        return any(v for k, v in self.survived.items() if k in TRACE_KINDS)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["traceable"] = self.traceable
        d["seconds"] = round(self.seconds, 3)
        return d


@dataclass
class Cell:
    """Survival of one label kind under one attack over the inputs that carried it."""

    present: int = 0
    survived: int = 0

    @property
    def rate(self) -> float | None:
        return self.survived / self.present if self.present else None

    def text(self) -> str:
        if not self.present:
            return "—"
        return f"{self.survived}/{self.present} ({100 * self.survived / self.present:.0f} %)"

    def to_dict(self) -> dict[str, Any]:
        r = self.rate
        return {"present": self.present, "survived": self.survived, "rate": r}


@dataclass
class DrillResult:
    """Everything a drill did, aggregated per media kind x attack x label kind."""

    attacks: list[Attack]
    detectors: list[str]
    baselines: list[Baseline]
    trials: list[Trial]
    seed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def media_kinds(self) -> list[str]:
        seen = {t.media_kind for t in self.trials}
        return [k for k in KINDS if k in seen]

    def label_kinds(self, media_kind: str | None = None) -> list[str]:
        """Label kinds present in at least one baseline (of that media kind)."""
        present: set[str] = set()
        for b in self.baselines:
            if media_kind is None or b.media_kind == media_kind:
                present.update(baseline_kinds(b.observation, self.detectors))
        order = [*LABEL_KINDS, *(f"detector:{d}" for d in self.detectors)]
        return [k for k in order if k in present]

    def attack_ids(self, media_kind: str) -> list[str]:
        return [a.id for a in self.attacks if a.kind == media_kind]

    def table(self, media_kind: str) -> dict[str, dict[str, Cell]]:
        """attack id -> label kind (and ``any``) -> cell, for one media kind."""
        kinds = [*self.label_kinds(media_kind), "any"]
        out = {a: {k: Cell() for k in kinds} for a in self.attack_ids(media_kind)}
        for t in self.trials:
            if t.media_kind != media_kind or t.error or t.attack not in out:
                continue
            row = out[t.attack]
            for k, ok in t.survived.items():
                if k in row:
                    row[k].present += 1
                    row[k].survived += int(ok)
            if any(k in TRACE_KINDS for k in t.survived):
                row["any"].present += 1
                row["any"].survived += int(t.traceable)
        return out

    def errors(self) -> list[Trial]:
        return [t for t in self.trials if t.error]

    def untraceable(self) -> list[Trial]:
        """Trials after which no label kind that identifies AI content was left."""
        return [t for t in self.trials if not t.error and t.survived and not t.traceable]

    def summary(self) -> dict[str, Any]:
        per: dict[str, Any] = {}
        for mk in self.media_kinds():
            per[mk] = {
                a: {k: c.to_dict() for k, c in row.items()} for a, row in self.table(mk).items()
            }
        return {
            "inputs": len(self.baselines),
            "unreadable": sum(1 for b in self.baselines if b.error),
            "trials": len(self.trials),
            "failed_attacks": len(self.errors()),
            "untraceable": len(self.untraceable()),
            "survival": per,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "seed": self.seed,
            "seconds": round(self.seconds, 2),
            "attacks": [a.to_dict() for a in self.attacks],
            "detectors": list(self.detectors),
            "label_kinds": {k: LABEL_TITLES.get(k, k) for k in self.label_kinds()},
            "inputs": [b.to_dict(self.detectors) for b in self.baselines],
            "trials": [t.to_dict() for t in self.trials],
            "summary": self.summary(),
            "notes": list(self.notes),
            "sections": [s.to_dict() for s in self.sections()],
        }

    # ------------------------------------------------------------------------- sections
    def sections(self) -> list[Section]:
        """Report sections: an overview, then one per media kind (chart + tables)."""
        out = [self._overview()]
        out += [self._media_section(mk) for mk in self.media_kinds()]
        return out

    def _overview(self) -> Section:
        kinds = self.media_kinds()
        labels_all = [*self.label_kinds(), "any"]
        series: dict[str, list[float]] = {}
        for lk in labels_all:
            vals: list[float] = []
            for mk in kinds:
                cells = [row[lk] for row in self.table(mk).values() if lk in row]
                n = sum(c.present for c in cells)
                vals.append(round(100 * sum(c.survived for c in cells) / n, 1) if n else 0.0)
            series[LABEL_TITLES.get(lk, lk)] = vals
        n_trials = len([t for t in self.trials if not t.error])
        lost = self.untraceable()
        status: Status = "pass" if not lost else "warn"
        if self.errors() or any(b.error for b in self.baselines):
            status = "warn" if status == "pass" else status
        summary = (
            f"{len(self.attacks)} attacks on {len(self.baselines)} labelled file(s): "
            f"{n_trials - len(lost)} of {n_trials} attacked copies still carry a label that "
            "identifies them as AI-generated."
        )
        metrics = {
            "inputs": str(len(self.baselines)),
            "attacks": str(len(self.attacks)),
            "attacked copies": str(n_trials),
            "still traceable": f"{n_trials - len(lost)}/{n_trials}",
        }
        if self.errors():
            metrics["attacks failed"] = str(len(self.errors()))
        rows = [
            [
                b.path,
                b.media_kind or "?",
                ", ".join(
                    LABEL_TITLES.get(k, k)
                    for k in baseline_kinds(b.observation, self.detectors)
                    if k != "verdict"
                )
                or "none",
                b.observation.verdict or "—",
                b.error or "",
            ]
            for b in self.baselines
        ]
        notes = [
            "Survival counts only the label kinds the original file carried (the baseline).",
            "A watermark survives when it is detected with the original payload (text marks "
            "are zero-bit: when detected). 'signature' means valid and still bound to the "
            "content; 'verdict kept' means the verdict is at least the original's.",
            f"Seed {self.seed}: every attack is deterministic given the seed.",
            *self.notes,
        ]
        notes += [f"{t.path}: {t.attack} failed: {t.error}" for t in self.errors()[:20]]
        return Section(
            title="Attack drill: label survival",
            kind="drill",
            status=status,
            summary=summary,
            metrics=metrics,
            charts=[
                Chart(
                    title="Survival per media kind (all attacks)",
                    kind="bar",
                    labels=kinds,
                    series=series,
                    unit="%",
                    max_value=100.0,
                    colours=_colours(labels_all, self.detectors),
                )
            ]
            if kinds
            else [],
            tables=[
                Table(
                    title="Inputs (baseline)",
                    columns=["File", "Media", "Labels carried", "Verdict", "Error"],
                    rows=rows,
                    row_status=["fail" if b.error else "info" for b in self.baselines],
                )
            ],
            notes=notes,
        )

    def _media_section(self, mk: str) -> Section:
        table = self.table(mk)
        kinds = [*self.label_kinds(mk), "any"]
        by_id = {a.id: a for a in self.attacks}
        attacks = list(table)
        series = {
            LABEL_TITLES.get(k, k): [round(100 * (table[a][k].rate or 0.0), 1) for a in attacks]
            for k in kinds
        }
        rows: list[list[str]] = []
        status_rows: list[Status] = []
        for a in attacks:
            cells = table[a]
            failed = [t for t in self.trials if t.attack == a and t.media_kind == mk and t.error]
            rows.append(
                [a, by_id[a].description, *(cells[k].text() for k in kinds), str(len(failed))]
            )
            anyc = cells["any"]
            if failed or not anyc.present:
                status_rows.append("warn")
            elif anyc.survived == anyc.present:
                status_rows.append("pass")
            else:
                status_rows.append("fail")
        lost = [t for t in self.untraceable() if t.media_kind == mk]
        n = len([t for t in self.trials if t.media_kind == mk and not t.error])
        best = {
            LABEL_TITLES.get(k, k): _overall(table, k)
            for k in kinds
            if _overall(table, k) is not None
        }
        metrics = {"inputs": str(len({t.input for t in self.trials if t.media_kind == mk}))}
        metrics["attacks"] = str(len(attacks))
        metrics.update({f"{k} survival": f"{v:.0f} %" for k, v in best.items()})
        gone = sorted({t.attack for t in lost})
        summary = f"{n - len(lost)} of {n} attacked {mk} copies keep at least one label" + (
            f"; nothing survives {', '.join(gone)}." if gone else "."
        )
        return Section(
            title=f"Attack drill: {mk}",
            kind="drill",
            status="pass" if not lost and not any(s == "warn" for s in status_rows) else "warn",
            summary=summary,
            metrics=metrics,
            charts=[
                Chart(
                    title=f"{mk.capitalize()}: % of labels surviving each attack",
                    kind="bar",
                    labels=[a.split(".", 1)[1] for a in attacks],
                    series=series,
                    unit="%",
                    max_value=100.0,
                    colours=_colours(kinds, self.detectors),
                )
            ],
            tables=[
                Table(
                    title=f"{mk.capitalize()}: survived / carried, per attack and label kind",
                    columns=[
                        "Attack",
                        "What it does",
                        *(LABEL_TITLES.get(k, k) for k in kinds),
                        "failed",
                    ],
                    rows=rows,
                    row_status=status_rows,
                )
            ],
            notes=[
                "Row colour: pass when every attacked copy kept at least one label, fail when "
                "some copy lost them all, warn when an attack failed to run."
            ],
        )


def _colours(kinds: Sequence[str], detectors: Sequence[str]) -> dict[str, str]:
    """Series name -> colour, the same for a label kind in every chart of a drill."""
    order = [*LABEL_KINDS, "any", *(f"detector:{d}" for d in detectors)]
    palette = [*_COLOURS, "#3a9a5b", *_EXTRA_COLOURS]  # "any" in green
    return {
        LABEL_TITLES.get(k, k): palette[order.index(k) % len(palette)] for k in kinds if k in order
    }


def _overall(table: dict[str, dict[str, Cell]], kind: str) -> float | None:
    n = sum(row[kind].present for row in table.values() if kind in row)
    s = sum(row[kind].survived for row in table.values() if kind in row)
    return 100 * s / n if n else None


# ---------------------------------------------------------------------------- running
def _baseline_job(item: tuple[int, str], options: DrillOptions) -> Baseline:
    index, path = item
    report = inspect_file(Path(path), options.inspect_options())
    obs = observe(report)
    return Baseline(index, path, report.format, report.media_kind, obs, report.error)


def _trial_job(item: tuple[int, str], shared: tuple[DrillOptions, list[Baseline]]) -> Trial:
    index, attack_id = item
    options, baselines = shared
    base = baselines[index]
    trial = Trial(index, base.path, base.media_kind, attack_id)
    t0 = time.monotonic()
    out: Path | None = None
    try:
        attack = attack_registry.get(attack_id)
        assert options.work_dir is not None
        out = attack.apply(
            Path(base.path), Path(options.work_dir) / f"{index:04d}", seed=options.seed
        )
        after = observe(inspect_file(out, options.inspect_options()))
        if after.error:
            trial.error = f"the attacked copy cannot be read: {after.error}"
        else:
            trial.survived = survival(base.observation, after, options.detectors)
            trial.verdict = after.verdict
    except SynthlabelError as exc:
        trial.error = exc.message
    except Exception as exc:  # a third-party attack must not end the drill
        trial.error = f"{type(exc).__name__}: {exc}"
    finally:
        if out is not None and out.exists():
            if options.keep:
                trial.output = str(out)
            else:
                out.unlink()
    trial.seconds = time.monotonic() - t0
    return trial


def run_drill(
    inputs: Iterable[Path],
    options: DrillOptions,
    *,
    workers: int | None = None,
    on_baseline: Callable[[Baseline], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> DrillResult:
    """Attack every input with every selected attack of its media kind and inspect each
    attacked copy (processes in parallel: inputs first, then input x attack pairs).
    ``on_baseline`` / ``on_trial`` see each result as it comes (progress); ``on_plan`` gets
    the number of attacked copies once the originals are inspected.

    Raises :class:`~synthlabel.assess.attacks.UnknownAttack` /
    :class:`~synthlabel.detect.registry.UnknownDetector` for bad names, before any work."""
    from synthlabel.detect import registry as det_registry

    t0 = time.monotonic()
    attacks = [attack_registry.get(a) for a in dict.fromkeys(options.attacks)]
    for d in options.detectors:
        det_registry.get(d)
    paths = [str(p) for p in inputs]
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if options.work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="synthlabel-drill-")
        options = _replace(options, work_dir=tmp.name)
    try:
        baselines = run_jobs(
            _baseline_job,
            list(enumerate(paths)),
            options,
            workers=workers,
            on_result=on_baseline,
            min_parallel=2,
            warm_key=lambda item: Path(item[1]).suffix.lower(),
        )
        items: list[tuple[int, str]] = []
        notes: list[str] = []
        for b in baselines:
            if b.error:
                continue
            mine = [a.id for a in attacks if a.kind == b.media_kind and a.handles(b.format)]
            if not mine:
                notes.append(f"{b.path}: no selected attack works on {b.format} files")
            if not b.kinds:
                notes.append(f"{b.path}: carries no label, nothing to measure")
                continue
            items += [(b.index, a) for a in mine]
        if on_plan is not None:
            on_plan(len(items))
        trials = run_jobs(
            _trial_job,
            items,
            (options, baselines),
            workers=workers,
            on_result=on_trial,
            min_parallel=2,
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    used = {t.attack for t in trials}
    return DrillResult(
        attacks=[a for a in attacks if a.id in used],
        detectors=list(options.detectors),
        baselines=baselines,
        trials=trials,
        seed=options.seed,
        seconds=time.monotonic() - t0,
        notes=notes,
    )


def _replace(options: DrillOptions, **kw: Any) -> DrillOptions:
    from dataclasses import replace

    return replace(options, **kw)
