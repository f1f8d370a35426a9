"""Conformance assessment of a generation service's outputs against a profile (issue 8).

``assess(paths, profile="gb45438")`` checks every file: the explicit label (caption present,
its size and position, a video caption on the opening frames for >= 2 s, the audio prompt, the
text notice), the implicit AIGC record (present, one only, valid, a well-formed provider code,
a valid signature bound to the content) and the watermark, as the profile's rules say. Each
rule gives pass / fail / not-applicable / error with what was measured and what was expected;
the result sums up per rule and per file and turns into report sections
(:mod:`synthlabel.assess.sections`).

The metadata is read by the inspection pipeline (records, signatures, binding, C2PA, IPTC);
only the detectors the applicable rules need run on each file (``visible``: OCR of captions and
audio prompts; ``visible-text``: notices; ``watermark``). Profiles are YAML
(:mod:`synthlabel.assess._profile`), checks a registry (:mod:`synthlabel.assess._checks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthlabel.assess._checks import (
    CHECKS,
    KINDS,
    STATUSES,
    CheckSpec,
    FileContext,
    Outcome,
    Param,
    check_error,
    failed,
    not_applicable,
    passed,
    register_check,
)
from synthlabel.assess._profile import (
    DEFAULT_PROFILE,
    Profile,
    ProfileError,
    Rule,
    builtin_profiles,
    load_profile,
    parse_overrides,
    profile_yaml,
)
from synthlabel.assess.charts import colour
from synthlabel.assess.sections import Chart, Section, Table
from synthlabel.assess.sections import Status as SectionStatus
from synthlabel.errors import SynthlabelError

__all__ = [
    "CHECKS",
    "DEFAULT_PROFILE",
    "SCHEMA_VERSION",
    "AssessOptions",
    "AssessResult",
    "CheckResult",
    "CheckSpec",
    "FileAssessment",
    "FileContext",
    "Outcome",
    "Param",
    "Profile",
    "ProfileError",
    "Rule",
    "assess",
    "assess_file",
    "builtin_profiles",
    "check_error",
    "collect_files",
    "failed",
    "load_profile",
    "not_applicable",
    "parse_overrides",
    "passed",
    "profile_yaml",
    "register_check",
]

SCHEMA_VERSION = "synthlabel.assess/1"
FileStatus = Literal["conformant", "nonconformant", "inconclusive", "unreadable"]
#: The failing checks listed in the report's table (all of them are in the JSON).
MAX_TABLE_ROWS = 500

METHOD_NOTES = (
    "Caption size: the ink height of the caption's glyphs (tight, as the labeller measures "
    "it) divided by the short side of the picture or frame; GB 45438 §5.2 says 'text height' "
    "without defining it, the tight CJK ink height is the conservative reading. A shortfall "
    "of 6 % of the required height (at least 1 px) is tolerated for anti-aliasing.",
    "Caption position: the caption's OCR box touches the edge band (10 % of the width from "
    "the left/right border, 10 % of the height from the top/bottom border, unless the "
    "profile sets edge_band); touching a vertical and a horizontal band is a corner.",
    "Video: captions are found by OCR of the opening frames; the caption's place is then "
    "read again on frames decoded at 10 per second from the start, and the run of frames "
    "that read both elements is the time shown (resolution 0.1 s).",
    "Audio: rhythm prompts (short-long-short-short) are found by envelope analysis in the "
    "first and last 12 s; voice prompts only when they are synthesized speech of known "
    "wording (a human voice or another TTS engine is not recognised).",
    "Text: a notice with both elements in the first or last 64 characters, or a short line "
    "in the middle.",
)


@dataclass(frozen=True)
class AssessOptions:
    """How files are read (picklable: sent to worker processes)."""

    trust_file: str | None = None  # None: the key store's trust file
    key_home: str | None = None
    c2pa: bool = True  # validate C2PA manifests when a rule needs them
    c2pa_trust_anchors: str | None = None
    time_budget: float | None = 120.0  # seconds per file for the detectors
    text_watermark_key: bytes | None = None
    ocr_threads: int = 1


@dataclass(frozen=True)
class CheckResult:
    """One rule's outcome for one file."""

    rule: str
    check: str
    severity: str
    status: str  # pass | fail | not-applicable | error
    message: str
    measured: Any = None
    expected: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return self.status in ("fail", "error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "check": self.check,
            "severity": self.severity,
            "status": self.status,
            "measured": self.measured,
            "expected": self.expected,
            "message": self.message,
            "details": dict(self.details),
        }


@dataclass
class FileAssessment:
    """Every rule's outcome for one file."""

    path: str
    format: str = ""
    kind: str = ""
    status: FileStatus = "conformant"
    results: list[CheckResult] = field(default_factory=list)
    error: str = ""  # the file could not be read at all
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def failures(self, severity: str | None = None) -> list[CheckResult]:
        """Results that failed or could not be judged (of one severity, or all)."""
        return [
            r for r in self.results if r.failing and (severity is None or r.severity == severity)
        ]

    def result(self, rule: str) -> CheckResult:
        for r in self.results:
            if r.rule == rule:
                return r
        raise KeyError(rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "kind": self.kind,
            "status": self.status,
            "error": self.error,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
            "results": [r.to_dict() for r in self.results],
        }


@dataclass(frozen=True)
class RuleSummary:
    rule: Rule
    passed: int = 0
    failed: int = 0
    errors: int = 0
    not_applicable: int = 0

    @property
    def applicable(self) -> int:
        return self.passed + self.failed + self.errors

    @property
    def pass_pct(self) -> float | None:
        return 100.0 * self.passed / self.applicable if self.applicable else None

    def to_dict(self) -> dict[str, Any]:
        pct = self.pass_pct
        return {
            "rule": self.rule.id,
            "check": self.rule.check,
            "title": {"en": self.rule.title_en, "zh": self.rule.title_zh},
            "clause": self.rule.clause,
            "severity": self.rule.severity,
            "applicable": self.applicable,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "not_applicable": self.not_applicable,
            "pass_pct": None if pct is None else round(pct, 2),
        }


def _pct(n: int, d: int) -> float | None:
    return round(100.0 * n / d, 2) if d else None


@dataclass
class AssessResult:
    """The assessment of many files against one profile."""

    profile: Profile
    files: list[FileAssessment]

    @property
    def conformant(self) -> bool:
        return all(f.status == "conformant" for f in self.files)

    def count(self, status: FileStatus) -> int:
        return sum(1 for f in self.files if f.status == status)

    def rule_summaries(self) -> list[RuleSummary]:
        out = []
        for rule in self.profile.rules:
            counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
            for f in self.files:
                for r in f.results:
                    if r.rule == rule.id:
                        counts[r.status] += 1
            out.append(
                RuleSummary(
                    rule, counts["pass"], counts["fail"], counts["error"], counts["not-applicable"]
                )
            )
        return out

    def summary(self) -> dict[str, Any]:
        rules = self.rule_summaries()
        checks = {
            "applicable": sum(r.applicable for r in rules),
            "passed": sum(r.passed for r in rules),
            "failed": sum(r.failed for r in rules),
            "errors": sum(r.errors for r in rules),
            "not_applicable": sum(r.not_applicable for r in rules),
        }
        n = len(self.files)
        return {
            "files": n,
            "conformant": self.count("conformant"),
            "nonconformant": self.count("nonconformant"),
            "inconclusive": self.count("inconclusive"),
            "unreadable": self.count("unreadable"),
            "conformant_pct": _pct(self.count("conformant"), n),
            "score_pct": _pct(checks["passed"], checks["applicable"]),
            "checks": checks,
            "failed_errors": sum(len(f.failures("error")) for f in self.files),
            "failed_warnings": sum(len(f.failures("warning")) for f in self.files),
            "rules": [r.to_dict() for r in rules],
        }

    def to_dict(self, *, sections: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "profile": {
                "id": self.profile.id,
                "version": self.profile.version,
                "title": {"en": self.profile.title_en, "zh": self.profile.title_zh},
                "source": self.profile.source,
                "rules": [r.to_dict() for r in self.profile.rules],
            },
            "summary": self.summary(),
            "files": [f.to_dict() for f in self.files],
        }
        if sections:
            doc["sections"] = [s.to_dict() for s in self.sections()]
        return doc

    def sections(self) -> list[Section]:
        """The result as report sections: headline figures, the pass rate per rule (chart and
        table), files by media kind, and every failing check."""
        s = self.summary()
        rules = self.rule_summaries()
        n = s["files"]
        bad = s["nonconformant"] + s["unreadable"]
        status: SectionStatus = (
            "fail" if bad else "warn" if s["inconclusive"] or s["failed_warnings"] else "pass"
        )
        score = s["score_pct"]
        score_text = "—" if score is None else f"{score:.1f} %"
        pct = s["conformant_pct"]
        summary = (
            f"{s['conformant']} of {n} files conform to {self.profile.title_en}"
            + (f" ({pct:.0f} %)" if pct is not None else "")
            + f"; {score_text} of the applicable checks passed."
        )
        metrics = {
            "Profile": self.profile.ref,
            "Files": str(n),
            "Conformant files": f"{s['conformant']}" + (f" ({pct:.0f} %)" if n else ""),
            "Check score": score_text,
            "Failed checks (error)": str(s["failed_errors"]),
            "Failed checks (warning)": str(s["failed_warnings"]),
        }
        if s["unreadable"]:
            metrics["Unreadable files"] = str(s["unreadable"])
        if s["inconclusive"]:
            metrics["Inconclusive files"] = str(s["inconclusive"])
        used = [r for r in rules if r.applicable]
        charts = []
        if used:
            charts.append(
                Chart(
                    "Pass rate per rule",
                    "hbar",
                    [r.rule.id for r in used],
                    {"pass %": [round(r.pass_pct or 0.0, 1) for r in used]},
                    unit="%",
                    max_value=100.0,
                )
            )
        kinds = [k for k in KINDS if any(f.kind == k for f in self.files)]
        if kinds:
            charts.append(
                Chart(
                    "Files by media kind",
                    "stacked",
                    kinds,
                    {
                        "conformant": [
                            float(sum(f.kind == k and f.status == "conformant" for f in self.files))
                            for k in kinds
                        ],
                        "not conformant": [
                            float(sum(f.kind == k and f.status != "conformant" for f in self.files))
                            for k in kinds
                        ],
                    },
                    unit="files",
                    colours={"conformant": colour("pass"), "not conformant": colour("fail")},
                )
            )
        rule_rows = []
        rule_status: list[SectionStatus] = []
        for rs in rules:
            rp = rs.pass_pct
            rule_rows.append(
                [
                    rs.rule.id,
                    f"{rs.rule.title_en} / {rs.rule.title_zh}",
                    rs.rule.clause,
                    rs.rule.severity,
                    str(rs.passed),
                    str(rs.failed),
                    str(rs.errors),
                    str(rs.not_applicable),
                    "—" if rp is None else f"{rp:.1f} %",
                ]
            )
            if not rs.applicable:
                rule_status.append("info")
            elif rs.failed or rs.errors:
                rule_status.append("fail" if rs.rule.severity == "error" else "warn")
            else:
                rule_status.append("pass")
        tables = [
            Table(
                "Rules",
                [
                    "Rule",
                    "Title",
                    "Clause",
                    "Severity",
                    "Passed",
                    "Failed",
                    "Errors",
                    "N/A",
                    "Pass rate",
                ],
                rule_rows,
                rule_status,
            )
        ]
        fail_rows: list[list[str]] = []
        fail_status: list[SectionStatus] = []
        for f in self.files:
            if f.error:
                fail_rows.append([f.path, "—", "error", "—", "—", f.error])
                fail_status.append("fail")
            for r in f.failures():
                fail_rows.append(
                    [
                        f.path,
                        r.rule,
                        r.severity + (" (not judged)" if r.status == "error" else ""),
                        _text(r.measured),
                        _text(r.expected),
                        r.message,
                    ]
                )
                fail_status.append(
                    "fail" if r.severity == "error" and r.status == "fail" else "warn"
                )
        notes = list(METHOD_NOTES)
        if len(fail_rows) > MAX_TABLE_ROWS:
            notes.insert(
                0,
                f"The table lists the first {MAX_TABLE_ROWS} of {len(fail_rows)} failing "
                "checks; the JSON result has them all.",
            )
        tables.append(
            Table(
                "Failing checks",
                ["File", "Rule", "Severity", "Measured", "Expected", "Finding"],
                fail_rows[:MAX_TABLE_ROWS],
                fail_status[:MAX_TABLE_ROWS],
            )
        )
        return [
            Section(
                title=f"Conformance: {self.profile.title_en}",
                kind="assess",
                status=status,
                summary=summary,
                metrics=metrics,
                charts=charts,
                tables=tables,
                notes=notes,
            )
        ]


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ---------------------------------------------------------------------------------------------
# Running the checks


def _needs(rule: Rule) -> frozenset[str]:
    return CHECKS[rule.check].needs(rule.params)


def _file_status(results: list[CheckResult]) -> FileStatus:
    errors = [r for r in results if r.severity == "error"]
    if any(r.status == "fail" for r in errors):
        return "nonconformant"
    if any(r.status == "error" for r in errors):
        return "inconclusive"
    return "conformant"


def _is_video(path: Path, fmt: str) -> bool:
    from synthlabel.label import _ffmpeg as ff

    try:
        return ff.probe(path, ff.demuxer_for(fmt), timeout=30.0).first("video") is not None
    except SynthlabelError:
        return True  # the detectors will say what is wrong


def assess_file(
    path: str | Path,
    profile: Profile | str | Path | None = None,
    options: AssessOptions | None = None,
) -> FileAssessment:
    """Assess one file. Never raises for a bad file: an unreadable one has ``status``
    ``unreadable`` and ``error``; a check that cannot judge gives an ``error`` outcome."""
    from synthlabel.detect.base import Asset, DetectOptions
    from synthlabel.detect.run import DetectionRun, run_detectors
    from synthlabel.formats import registry
    from synthlabel.pipeline.inspecting import InspectOptions, inspect_file
    from synthlabel.pipeline.io import STREAM_THRESHOLD, read_file

    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    opts = options or AssessOptions()
    started = time.monotonic()
    p = Path(path)
    out = FileAssessment(str(p))
    wants_c2pa = opts.c2pa and any("c2pa" in _needs(r) for r in prof.rules)
    report = inspect_file(
        p,
        InspectOptions(
            trust_file=opts.trust_file,
            key_home=opts.key_home,
            c2pa=wants_c2pa,
            c2pa_trust_anchors=opts.c2pa_trust_anchors,
            verify=True,
        ),
    )
    out.format, out.kind = report.format, report.media_kind
    if report.error:
        out.status, out.error = "unreadable", report.error
        out.seconds = time.monotonic() - started
        return out
    data: bytes | None = None
    try:
        if p.stat().st_size <= STREAM_THRESHOLD:
            data = read_file(p)
        else:
            out.notes.append("large file: checks that decode pixels or samples read it in place")
    except (SynthlabelError, OSError) as exc:
        out.status = "unreadable"
        out.error = str(exc) if isinstance(exc, SynthlabelError) else f"{p}: {exc.strerror}"
        out.seconds = time.monotonic() - started
        return out
    kind = report.media_kind
    if kind == "video" and not _is_video(p, report.format):
        kind = "audio"  # an MP4/MKV holding only sound is judged as audio
        out.notes.append("no video stream: judged as audio")
    out.kind = kind
    rules = [r for r in prof.rules if kind in r.applies_to]
    detectors = frozenset().union(*(_needs(r) for r in rules)) - {"c2pa"}
    if kind == "video":
        detectors -= {"visible"}  # video frames are read by the caption checks themselves
    try:
        handler = registry.get(report.format) if report.format else None
    except SynthlabelError:
        handler = None
    asset = Asset(str(p), handler, report, data, p)
    run = DetectionRun()
    if detectors:
        run = run_detectors(
            asset,
            DetectOptions(
                max_cost="expensive",
                only=detectors,
                time_budget=opts.time_budget,
                text_watermark_key=opts.text_watermark_key,
                extra={"visible": {"threads": opts.ocr_threads}},
            ),
        )
    ocr = asset.memo.get("ocr")
    rgb = asset.memo.get("visible.rgb")
    wms = asset.memo.get("watermarks")
    ctx = FileContext(
        path=str(p),
        kind=kind,
        format=report.format,
        report=report,
        findings=list(run.findings),
        ocr=ocr[1] if ocr and ocr[0] else None,
        image=rgb[1][0] if rgb and rgb[0] else None,
        watermarks=wms[1] if wms and wms[0] else None,
        detector_errors=dict(run.errors),
        detector_skipped=dict(run.skipped),
        file=p,
        ocr_threads=opts.ocr_threads,
    )
    for rule in prof.rules:
        outcome = _run_rule(rule, ctx)
        out.results.append(
            CheckResult(
                rule.id,
                rule.check,
                rule.severity,
                outcome.status,
                outcome.message,
                outcome.measured,
                outcome.expected,
                dict(outcome.details),
            )
        )
    out.status = _file_status(out.results)
    out.seconds = time.monotonic() - started
    return out


def _run_rule(rule: Rule, ctx: FileContext) -> Outcome:
    if ctx.kind not in rule.applies_to:
        return not_applicable(f"applies to {', '.join(rule.applies_to)} files")
    try:
        return CHECKS[rule.check].fn(ctx, rule.params)
    except SynthlabelError as exc:
        return check_error(str(exc))
    except Exception as exc:  # a broken check must not end a run over thousands of files
        return check_error(f"check {rule.check} failed: {type(exc).__name__}: {exc}")


def _sniffable(path: Path) -> bool:
    from synthlabel.formats import registry

    try:
        with open(path, "rb") as fh:
            head = fh.read(registry.max_sniff_bytes())
        registry.sniff(head, name=path.name)
        return True
    except (OSError, SynthlabelError):
        return False


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files to assess: files named explicitly (even missing or unsupported ones: they are
    reported), and in directories (recursive) every file a format plug-in recognises, except
    ``.aigc.json`` sidecars (read with the file they describe)."""
    from synthlabel.pipeline.io import SIDECAR_SUFFIX, iter_inputs

    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            out.append(p)
            continue
        for f, _base in iter_inputs([p]):
            if f.name.endswith(SIDECAR_SUFFIX) or not _sniffable(f):
                continue
            out.append(f)
    return out


def _job(path: str, shared: tuple[Profile, AssessOptions]) -> FileAssessment:
    return assess_file(path, shared[0], shared[1])


def assess(
    paths: Iterable[str | Path],
    profile: Profile | str | Path | None = None,
    *,
    options: AssessOptions | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int | None = None,
    on_result: Callable[[FileAssessment], None] | None = None,
) -> AssessResult:
    """Assess files and directories against ``profile`` (a :class:`Profile`, a built-in name
    such as ``gb45438`` — the default — or a YAML path; ``overrides``:
    ``{rule: {param: value}}``). Files are assessed in parallel processes (``workers``,
    default: every core) when there are several; ``on_result`` sees each file as it is done.
    Raises :class:`ProfileError` for a bad profile; bad files are reported in the result."""
    from synthlabel.pipeline.parallel import run_jobs

    if isinstance(profile, Profile):
        if overrides:
            raise ProfileError("overrides apply when the profile is loaded: use load_profile")
        prof = profile
    else:
        prof = load_profile(profile, overrides=overrides)
    files = [str(p) for p in collect_files(paths)]
    results = run_jobs(
        _job,
        files,
        (prof, options or AssessOptions()),
        workers=workers,
        on_result=on_result,
        min_parallel=4,
        warm_key=lambda f: Path(f).suffix.lower(),
    )
    return AssessResult(prof, results)
