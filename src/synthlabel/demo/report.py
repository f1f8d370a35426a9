"""The demo's sample assessment report: every issue-8 tool on the demo's own outputs.

:func:`build_demo_report` runs, on what ``make demo`` made in ``root``:

1. **conformance** (``synthlabel assess``, GB 45438 profile) on a chosen set of the labelled
   outputs (images, audio, one short video, text and documents) and on the tampered and
   re-uploaded copies, which fail on purpose;
2. an **attack drill** (``synthlabel drill``, the quick suite) on the watermarked image and
   audio clip;
3. the **verdicts** of the labelled, tampered and re-uploaded files (``synthlabel inspect``);
4. the **TC260** harness with the built-in demo bank against a simulated model served on
   127.0.0.1 (:mod:`synthlabel.demo.simulated_model`): a mechanics demo, skipped when it
   cannot finish in time;
5. the **biometric checklist** from the demo answers shipped in ``demo/biometric/``;

keeps each result as JSON in ``root/results/`` and builds ``report.html`` and ``report.pdf``
from them (plus any other result file a user drops in ``results/``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from synthlabel.assess.sections import Section

#: The demo outputs the conformance step reads (relative to the demo's root), chosen to
#: cover every media kind and to include failures while staying quick: OCR of pictures and
#: video frames is most of the time (about 1 s per image, 6 s for the 4 s clip on 2 cores).
CONFORMANCE_FILES = (
    "labelled/sample.png",
    "labelled/voice.wav",
    "labelled/clip.mp4",
    "labelled/answer.md",
    "labelled/answer.txt",
    "labelled/page.html",
    "labelled/report.pdf",
    "labelled/report.docx",
    "tampered/changed-field.png",  # ProduceID edited: the signature no longer verifies
    "tampered/moved-label.jpg",  # a signed label moved onto another picture without caption
    "reuploaded/screenshot.jpg",  # metadata stripped: no record left
)
#: The drill's inputs: labelled with the robust watermark, so the drill shows what survives.
DRILL_FILES = ("watermarked/sample.jpg", "watermarked/voice.wav")
TC260_SEED = 20250901
#: The TC260 mechanics demo is dropped when it takes longer than this (a loaded machine).
TC260_LIMIT_S = 20.0
DEMO_NOTE = (
    "Mechanics demo: the answers (and the E3 judge's verdicts) come from a simulated model "
    "that make demo serves on 127.0.0.1 (synthlabel.demo.simulated_model), not from a real "
    "service; E1 stays open because nobody reviewed the answers; the built-in demo "
    "bank (61 harmless questions, 34 placeholder keywords) fails every coverage check on "
    "purpose. Load your own full banks and point --endpoint at your service for an assessment."
)
BIOMETRIC_NOTE = (
    "Demo: the service, its answers and its evidence are invented (synthlabel/demo/biometric/"
    "answers.yaml) to show each status; the label samples are the demo's own outputs, one of "
    "them the tampered copy without a caption."
)


@dataclass
class DemoReport:
    html: Path
    pdf: Path | None
    status: str
    results: list[Path]
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _write_json(path: Path, doc: Any) -> Path:
    from synthlabel.assess.report import write_text_atomic

    return write_text_atomic(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def _existing(root: Path, names: Sequence[str]) -> list[Path]:
    return [root / n for n in names if (root / n).is_file()]


def _short(text: str, limit: int = 90) -> str:
    """``text`` cut at a word boundary with an ellipsis (the report has the whole message)."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def _rel(path: str | Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def conformance_step(root: Path, home: Path, log: Callable[[str], None]) -> Any:
    """``assess`` with the GB 45438 profile on :data:`CONFORMANCE_FILES`; the result is kept
    as ``results/conformance.json``. Returns the :class:`AssessResult` (or None)."""
    from synthlabel.assess.conformance import AssessOptions, assess

    files = _existing(root, CONFORMANCE_FILES)
    if not files:
        log("   note: no demo outputs to assess")
        return None
    result = assess(files, "gb45438", options=AssessOptions(key_home=str(home)))
    _write_json(root / "results" / "conformance.json", result.to_dict())
    s = result.summary()
    log(
        f"   {s['conformant']}/{s['files']} files conformant, score {s['score_pct']:.1f} % of "
        f"the applicable checks; {s['failed_errors']} failed error checks, "
        f"{s['failed_warnings']} failed warnings"
    )
    for f in result.files:
        for r in f.failures():
            log(f"   ✗ {_rel(f.path, root)}: {r.rule} [{r.severity}]: {_short(r.message)}")
    return result


def drill_step(root: Path, home: Path, log: Callable[[str], None]) -> Path | None:
    """The quick attack suite on the watermarked image and audio clip (``results/drill.json``)."""
    from synthlabel.assess import attacks
    from synthlabel.assess.drill import DrillOptions, run_drill

    files = _existing(root, DRILL_FILES)
    if not files:
        log("   note: no watermarked outputs to drill")
        return None
    kinds = {"image", "audio"}
    ids = tuple(a.id for a in attacks.suite("quick") if a.kind in kinds)
    result = run_drill(files, DrillOptions(attacks=ids, key_home=str(home)))
    out = _write_json(root / "results" / "drill.json", result.to_dict())
    traceable = sum(t.traceable for t in result.trials)
    log(
        f"   {len(ids)} attacks ({', '.join(ids)}): {traceable}/{len(result.trials)} attacked "
        "copies still identifiable as AI-generated"
    )
    for t in result.trials:
        kept = [k for k, ok in t.survived.items() if ok]
        log(f"   {t.attack:18} kept: {', '.join(kept) or 'nothing'}")
    return out


def verdict_step(root: Path, home: Path, log: Callable[[str], None]) -> Path:
    """The verdicts of the labelled, tampered and re-uploaded files (watermarks are looked
    for only in the re-uploaded copies: the others carry their record)."""
    from synthlabel.assess.inspect_sections import verdict_section
    from synthlabel.pipeline.inspecting import InspectOptions, inspect_many
    from synthlabel.pipeline.io import iter_inputs

    def files(*folders: str) -> list[Path]:
        return [p for f in folders if (root / f).is_dir() for p, _ in iter_inputs([root / f])]

    opts = InspectOptions(key_home=str(home), detect=True)
    reports = inspect_many(files("labelled", "tampered"), opts)
    stripped = files("reuploaded")
    if stripped:
        reports += inspect_many(
            stripped, InspectOptions(key_home=str(home), detect=True, watermarks=True)
        )
    section = verdict_section(
        reports, group=lambda d: Path(str(d.get("path", ""))).parent.name, group_name="folder"
    )
    log(f"   {section.summary}")
    return _write_json(
        root / "results" / "verdicts.json",
        {"tool": "synthlabel.demo", "sections": [section.to_dict()]},
    )


def tc260_step(
    root: Path, log: Callable[[str], None], limit_s: float = TC260_LIMIT_S
) -> Path | None:
    """The TC260 harness, demo bank, against the simulated model (``results/tc260.json``)."""
    from synthlabel.assess.tc260 import (
        DEMO_REF,
        EndpointConfig,
        RunConfig,
        load_banks,
        load_profile,
        run_async,
    )
    from synthlabel.assess.tc260.runner import run_blocking
    from synthlabel.demo.simulated_model import JUDGE_NAME, MODEL_NAME, SimulatedEndpoint

    work = root / "tc260"
    work.mkdir(parents=True, exist_ok=True)
    run_file = work / "demo.run.jsonl"
    run_file.unlink(missing_ok=True)
    banks = load_banks([DEMO_REF])
    with SimulatedEndpoint() as ep:
        url = ep.url
        config = RunConfig(
            endpoint=EndpointConfig(url, MODEL_NAME, timeout_s=10.0, max_retries=1),
            profile=load_profile(),
            run_file=run_file,
            concurrency=8,
            seed=TC260_SEED,
            # E3: the model classifier, with the simulated endpoint playing the judge
            safety_classifier="model",
            judge=EndpointConfig(url, JUDGE_NAME, timeout_s=10.0, max_retries=1),
        )
        try:
            result = run_blocking(asyncio.wait_for(run_async(banks, config), limit_s))
        except TimeoutError:
            log(f"   skipped: the TC260 demo did not finish in {limit_s:.0f} s on this machine")
            return None
    doc = result.to_dict()
    doc["demo"] = DEMO_NOTE
    sections = [_mark_demo(Section.from_dict(s)) for s in doc["sections"]]
    doc["sections"] = [s.to_dict() for s in sections]
    out = _write_json(root / "results" / "tc260.json", doc)
    gates = ", ".join(
        f"{g.gate.id} {g.rate * 100:.0f} %" if g.rate is not None else f"{g.gate.id} —"
        for g in result.gates
    )
    log(
        f"   {len(result.items)} questions asked at {url} ({MODEL_NAME}); {gates}; "
        f"{len(result.shortfalls)} coverage shortfalls (expected: a demo bank)"
    )
    return out


def _mark_demo(section: Section) -> Section:
    """The TC260 section, marked as a demo; of the demo bank's coverage shortfalls (one per
    risk and aspect: three pages) only the totals are shown, the JSON keeps them all."""
    tables = []
    notes = [DEMO_NOTE]
    for t in section.tables:
        if "shortfalls" in t.title and "Scope" in t.columns:
            scope = t.columns.index("Scope")
            keep = [i for i, row in enumerate(t.rows) if row[scope] == "total"]
            if keep and len(keep) < len(t.rows):
                notes.append(
                    f"Coverage: the demo bank misses all {len(t.rows)} size and coverage "
                    f"requirements; the table shows the {len(keep)} totals, results/tc260.json "
                    "lists every risk and aspect."
                )
                t = replace(
                    t,
                    rows=[t.rows[i] for i in keep],
                    row_status=[t.row_status[i] for i in keep] if t.row_status else None,
                )
        tables.append(t)
    return replace(
        section,
        title=section.title + " — mechanics demo (simulated model)",
        summary="Mechanics demo with a simulated model, not an assessment. " + section.summary,
        tables=tables,
        notes=[*notes, *section.notes],
    )


def biometric_step(root: Path, conformance: Any, log: Callable[[str], None]) -> Path | None:
    """The biometric checklist answered by the shipped demo answers (``results/biometric.json``).
    Sample outputs already assessed by the conformance step are not assessed again."""
    from synthlabel.assess.biometric import (
        conformance_runner,
        evaluate,
        load_answers,
        load_checklist,
    )

    folder = root / "biometric"
    if folder.exists():
        shutil.rmtree(folder)
    src = resources.files("synthlabel.demo") / "biometric"
    with resources.as_file(src) as src_dir:
        shutil.copytree(src_dir, folder)
    draw_consent_prompt(folder / "evidence" / "consent-prompt.png")

    known: dict[Path, Any] = {}
    if conformance is not None:
        known = {Path(f.path).resolve(): f for f in conformance.files}
    fallback = conformance_runner()

    def runner(files: list[Path]) -> list[tuple[str, bool, list[str]]]:
        out: list[tuple[str, bool, list[str]]] = []
        rest = [f for f in files if f.resolve() not in known]
        for f in files:
            fa = known.get(f.resolve())
            if fa is not None:
                problems = [f"{r.rule}: {r.message}" for r in fa.failures("error")]
                out.append((str(f), fa.status == "conformant", problems))
        if rest and fallback is not None:
            out += fallback(rest)
        return out

    checklist = load_checklist()
    result = evaluate(checklist, load_answers(folder / "answers.yaml", checklist), runner=runner)
    doc = result.to_dict()
    doc["demo"] = BIOMETRIC_NOTE
    sections = [_mark_biometric(Section.from_dict(s)) for s in doc["sections"]]
    doc["sections"] = [s.to_dict() for s in sections]
    c = result.counts
    log(
        f"   {c['pass']} pass, {c['fail']} fail, {c['needs-evidence']} need evidence, "
        f"{c['not-applicable']} not applicable (answers: {_rel(folder / 'answers.yaml', root)})"
    )
    return _write_json(root / "results" / "biometric.json", doc)


def _mark_biometric(section: Section) -> Section:
    return replace(
        section,
        title=section.title + " — demo answers",
        notes=[BIOMETRIC_NOTE, *section.notes],
    )


def draw_consent_prompt(path: Path) -> None:
    """A stand-in screenshot of a consent prompt (the demo's evidence file)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (480, 270), (236, 239, 243))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((40, 30, 440, 240), 12, fill=(255, 255, 255), outline=(160, 170, 180))
    lines = (
        "Before you edit this face or voice",
        "",
        "Tell the person you are editing and get",
        "their separate consent (DSP Art. 14).",
        "",
        "[x] I have their separate consent",
    )
    for i, line in enumerate(lines):
        d.text((64, 52 + 22 * i), line, fill=(30, 40, 50))
    d.rounded_rectangle((300, 196, 420, 226), 6, fill=(37, 99, 235))
    d.text((336, 204), "Continue", fill=(255, 255, 255))
    d.text((64, 214), "DEMO EVIDENCE", fill=(200, 60, 60))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG")


def build_demo_report(
    root: Path,
    home: Path,
    *,
    org: str,
    pdf: bool = True,
    log: Callable[[str], None] = print,
    tc260_limit_s: float = TC260_LIMIT_S,
) -> DemoReport:
    """Run every step, then build ``root/report.html`` (and ``report.pdf`` when ``pdf`` and
    Chromium is there) from the result files in ``root/results/``, in the order of the steps,
    then any other result file found there."""
    from synthlabel.assess.report import ReportError, build_report_files, find_chromium

    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    notes: list[str] = []
    ordered: list[Path] = []

    def timed(name: str, title: str, fn: Callable[[], Any]) -> Any:
        log(f"   - {title}")
        t0 = time.monotonic()
        value = fn()
        seconds[name] = round(time.monotonic() - t0, 2)
        log(f"     done in {seconds[name]:.1f} s")
        return value

    conformance = timed(
        "conformance",
        "conformance (synthlabel assess, GB 45438 profile) of labelled, tampered and "
        "re-uploaded files",
        lambda: conformance_step(root, home, log),
    )
    if conformance is not None:
        ordered.append(results_dir / "conformance.json")
    drill = timed(
        "drill",
        "attack drill (quick suite) on the watermarked image and audio clip",
        lambda: drill_step(root, home, log),
    )
    verdicts = timed(
        "verdicts", "verdicts of the demo's files (inspect)", lambda: verdict_step(root, home, log)
    )
    tc260 = timed(
        "tc260",
        "TC260 harness, demo bank, simulated model on 127.0.0.1 (mechanics demo)",
        lambda: tc260_step(root, log, tc260_limit_s),
    )
    if tc260 is None:
        notes.append("TC260 section skipped")
    biometric = timed(
        "biometric",
        "biometric checklist from the demo answers",
        lambda: biometric_step(root, conformance, log),
    )
    ordered += [p for p in (drill, verdicts, tc260, biometric) if p is not None]
    extra = sorted(p for p in results_dir.glob("*.json") if p not in ordered)
    ordered += extra

    pdf_path: Path | None = root / "report.pdf" if pdf else None
    if pdf_path is not None:
        try:
            find_chromium()
        except ReportError as exc:
            log(f"   note: {exc}; writing the HTML report only")
            notes.append(str(exc))
            pdf_path = None
    t0 = time.monotonic()
    _html, sections = build_report_files(
        ordered,
        html_path=root / "report.html",
        pdf_path=pdf_path,
        title="synthlabel sample assessment report (demo)",
        org=org,
    )
    seconds["report"] = round(time.monotonic() - t0, 2)
    from synthlabel.assess.report import overall_status

    status = overall_status(sections) or "info"
    log(
        f"   report: {len(sections)} sections from {len(ordered)} result files, overall "
        f"{status} ({seconds['report']:.1f} s)"
    )
    return DemoReport(root / "report.html", pdf_path, status, ordered, seconds, notes)
