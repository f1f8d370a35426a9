"""The ``synthlabel`` command line: a thin shell over :mod:`synthlabel.pipeline`.

Exit codes (also in docs/cli.md):

- 0: success (label: every file labelled; inspect: every file read, no broken label;
  verify: every file has a valid, intact signature);
- 1: at least one file failed (label), carries a non-compliant or tampered label (inspect),
  or does not verify (verify);
- 2: usage error (bad option, missing argument);
- 3: at least one input could not be read or parsed (inspect/verify);
- 4: ``--require-label`` was given and at least one file has no AIGC record.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from synthlabel import __version__
from synthlabel.cli._common import (
    EXIT_NO_LABEL,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNREADABLE,
    EXIT_VERDICT,
    C2paTrustOpt,
    DeclaredOpt,
    DeepOpt,
    HomeOpt,
    InPlaceOpt,
    JsonOpt,
    NoC2paOpt,
    OnlyOpt,
    OutDirOpt,
    OutputOpt,
    PolicyOpt,
    RegistryPathOpt,
    SkipOpt,
    TrustOpt,
    WorkersOpt,
    emit_json,
    err,
    fail,
    out,
    plan_jobs,
    progress,
    run_jobs_with_progress,
)
from synthlabel.cli.assess_cmd import assess as assess_command
from synthlabel.cli.biometric_cmd import biometric_app
from synthlabel.cli.demo_data_cmd import demo_data
from synthlabel.cli.drill_cmd import drill as drill_command
from synthlabel.cli.propagate_cmd import propagate as propagate_command
from synthlabel.cli.registry_cmd import registry_app
from synthlabel.cli.report_cmd import report_app
from synthlabel.cli.scan_cmd import scan as scan_command
from synthlabel.cli.serve_cmd import audit_app, db_app, serve, users_app
from synthlabel.cli.tc260_cmd import tc260_app
from synthlabel.cli.worker_cmd import retention_app, worker
from synthlabel.errors import SynthlabelError
from synthlabel.model.findings import Verdict
from synthlabel.model.results import (
    SCHEMA_VERSION,
    BindingStatus,
    Compliance,
    InspectionReport,
    LabelResult,
    SignatureCheck,
    SignatureStatus,
)

app = typer.Typer(
    name="synthlabel",
    help="Label, inspect and verify AI-generated content (GB 45438-2025, C2PA, IPTC).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
keys_app = typer.Typer(help="Manage signing keys and the trust file.", no_args_is_help=True)
trust_app = typer.Typer(
    help="Public keys you trust (identity, not just integrity).", no_args_is_help=True
)
keys_app.add_typer(trust_app, name="trust")
app.add_typer(keys_app, name="keys")
app.add_typer(registry_app, name="registry")
app.add_typer(tc260_app, name="tc260")
app.add_typer(biometric_app, name="biometric")
app.add_typer(report_app, name="report")
# The supervision service (needs [service]; cli/serve_cmd.py imports it lazily).
app.command("serve")(serve)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.command("worker")(worker)
app.add_typer(retention_app, name="retention")
app.command("demo-data")(demo_data)

_emit_json = emit_json
_progress = progress


# --------------------------------------------------------------------------------- label
@app.command()
def label(
    inputs: Annotated[
        list[Path], typer.Argument(help="Files or directories (recursive).", show_default=False)
    ],
    producer: Annotated[
        str,
        typer.Option(
            "--producer",
            "-p",
            help="Provider code (27 characters) of the generation service.",
            envvar="SYNTHLABEL_PRODUCER",
        ),
    ],
    output: OutputOpt = None,
    out_dir: OutDirOpt = None,
    in_place: InPlaceOpt = False,
    produce_id: Annotated[
        str | None,
        typer.Option("--produce-id", help="ProduceID (one input only) [default: a new ULID]."),
    ] = None,
    visible: Annotated[
        bool, typer.Option("--visible/--no-visible", help="Draw the visible label.")
    ] = True,
    text: Annotated[
        str | None, typer.Option("--text", help='Visible label text [default: "AI生成"].')
    ] = None,
    position: Annotated[
        str | None,
        typer.Option(
            "--position",
            help="top-left, top, top-right, left, right, bottom-left, bottom, bottom-right.",
        ),
    ] = None,
    sign: Annotated[
        str | None,
        typer.Option("--sign", help="Key id/name in the key store, or a PEM private key file."),
    ] = None,
    c2pa: Annotated[
        str | None,
        typer.Option("--c2pa", help="Also add a C2PA manifest signed with CERT.pem,KEY.pem."),
    ] = None,
    edited: Annotated[
        bool,
        typer.Option(
            "--edited", help="AI edit of an original (compositeWithTrainedAlgorithmicMedia)."
        ),
    ] = False,
    allow_name: Annotated[
        bool, typer.Option("--allow-name", help="Accept an ASCII provider name instead of a code.")
    ] = False,
    replace_bad_xmp: Annotated[
        bool,
        typer.Option(
            "--replace-malformed-xmp",
            help="Discard an existing malformed XMP packet instead of failing.",
        ),
    ] = False,
    audio_prompt: Annotated[
        str, typer.Option("--audio-prompt", help="Audio/video voice prompt: voice or rhythm.")
    ] = "voice",
    prompt_at: Annotated[
        str,
        typer.Option("--prompt-at", help="Audio prompt places: start,end,interval:SECONDS."),
    ] = "start",
    caption_seconds: Annotated[
        float, typer.Option("--caption-seconds", help="Video opening caption length (>= 2 s).")
    ] = 3.0,
    persistent_corner: Annotated[
        bool, typer.Option("--persistent-corner", help="Video: keep a corner label throughout.")
    ] = False,
    end_caption: Annotated[
        bool, typer.Option("--end-caption", help="Video: also caption the closing seconds.")
    ] = False,
    video_voice: Annotated[
        bool, typer.Option("--video-voice", help="Video: also put the voice prompt on the audio.")
    ] = False,
    language: Annotated[
        str, typer.Option("--language", help="Notices and voice prompts: auto, zh, en, zh+en.")
    ] = "auto",
    sidecar: Annotated[
        bool,
        typer.Option(
            "--sidecar",
            help="Where a file has no metadata slot (plain text), write OUTPUT.aigc.json.",
        ),
    ] = False,
    watermark: Annotated[
        bool,
        typer.Option(
            "--watermark/--no-watermark",
            help="Embed a robust invisible watermark carrying the record's watermark key.",
        ),
    ] = False,
    wm_algorithm: Annotated[
        str,
        typer.Option(
            "--wm-algorithm", help="Watermark algorithm id (see `synthlabel watermarks`)."
        ),
    ] = "auto",
    wm_strength: Annotated[
        float,
        typer.Option("--wm-strength", help="Watermark strength (1.0 = the measured default)."),
    ] = 1.0,
    workers: WorkersOpt = 0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add the explicit label (caption, voice/rhythm prompt, notice) and the implicit
    (metadata) record to images, audio, video, text and documents."""
    from synthlabel.pipeline.labeling import LabelOptions, label_many, load_signer

    jobs, skipped = plan_jobs(inputs, output, out_dir, in_place)
    options = LabelOptions(
        producer=producer,
        produce_id=produce_id,
        edited=edited,
        allow_name=allow_name,
        visible=visible,
        text=text,
        position=position,
        sign_key=sign,
        key_home=str(home) if home else None,
        c2pa=c2pa,
        replace_malformed_xmp=replace_bad_xmp,
        sidecar=sidecar,
        audio_mode=audio_prompt,
        audio_where=tuple(x.strip() for x in prompt_at.split(",") if x.strip()),
        language=language,
        caption_seconds=caption_seconds,
        persistent_corner=persistent_corner,
        end_caption=end_caption,
        voice_on_video=video_voice,
        watermark=wm_algorithm if watermark else None,
        watermark_strength=wm_strength,
    )
    # Fail fast on option errors that would otherwise fail every file.
    try:
        if watermark:
            if not 0.1 <= wm_strength <= 10.0:
                fail(f"--wm-strength must be between 0.1 and 10, not {wm_strength}")
            if wm_algorithm != "auto":
                from synthlabel.watermark import registry as wm_registry

                wm_registry.get(wm_algorithm)
        from synthlabel.label.implicit import check_producer

        check_producer(producer, allow_name=allow_name)
        if sign:
            load_signer(sign, options.key_home)
        if c2pa:
            from synthlabel.label.c2pa import load_credentials

            load_credentials(c2pa)
        if visible:
            from synthlabel.label.visible import check_label_text

            # Building the options validates text and position once, before any file.
            problems = check_label_text(options.visible_options().text)
            if problems:
                err.print(f"warning: label text: {'; '.join(problems)}")
    except SynthlabelError as exc:
        fail(str(exc))

    results: list[LabelResult] = run_jobs_with_progress(
        label_many, jobs, options, workers=workers, what="labelling", enabled=not as_json
    )
    ok = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    if as_json:
        _emit_json(
            {
                "schema": "synthlabel.label/1",
                "results": [r.to_dict() for r in results],
                "summary": {"labelled": len(ok), "failed": len(bad), "skipped": skipped},
            }
        )
    else:
        if progress(len(jobs), True) is None:  # no live bar printed the failures already
            for r in bad:
                err.print(f"✗ {r.error}", markup=False)
        for r in ok:
            assert r.record is not None
            flags = ", ".join(
                x
                for x, on in (
                    ("explicit", r.visible),
                    ("no implicit slot", not r.implicit),
                    ("signed", r.signed),
                    ("c2pa", r.c2pa),
                    ("sidecar", bool(r.sidecar)),
                    (_wm_flag(r.watermark), bool(r.watermark)),
                )
                if on
            )
            out.print(
                f"✓ {r.output}  [{r.format}; ProduceID {r.record.produce_id}; "
                f"{flags or 'metadata only'}]",
                markup=False,
            )
            for w in r.warnings:
                out.print(f"  note: {w}")
        total_s = sum(r.seconds for r in results)
        out.print(
            f"{len(ok)} labelled, {len(bad)} failed"
            + (f", {skipped} skipped (unsupported)" if skipped else "")
            + f" ({total_s:.2f} s of work)"
        )
    raise typer.Exit(EXIT_PROBLEM if bad else EXIT_OK)


app.command("propagate")(propagate_command)
app.command("scan")(scan_command)
app.command("assess")(assess_command)
app.command("drill")(drill_command)


def _wm_flag(info: dict[str, Any] | None) -> str:
    if not info:
        return ""
    quality = ""
    if info.get("psnr_db") is not None:
        quality = f" {info['psnr_db']} dB"
    elif info.get("snr_db") is not None:
        quality = f" SNR {info['snr_db']} dB"
    return f"watermark {info['algorithm']}{quality}"


# ------------------------------------------------------------------------------- inspect
def _sig_text(check: SignatureCheck | None) -> str:
    if check is None:
        return "—"
    s = str(check.status.value)
    if check.status is SignatureStatus.VALID:
        s += " (trusted)" if check.trusted else " (key not trusted)"
    return s


def _binding_text(report: InspectionReport) -> str:
    for r in report.records:
        if (
            r.producer_signature is not None
            and r.producer_signature.binding is not BindingStatus.ABSENT
        ):
            return r.producer_signature.binding.value
    return "—"


def _read_key_file(path: Path) -> bytes:
    """A secret key file: its bytes, without surrounding whitespace (a trailing newline)."""
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        fail(f"{path}: cannot read the key file: {exc.strerror}")
    if len(key) < 16:
        fail(f"{path}: a text-watermark key needs at least 16 bytes, found {len(key)}")
    return key


def _inspect_paths(
    paths: Sequence[Path],
    trust: Path | None,
    home: Path | None,
    c2pa: bool,
    c2pa_trust: Path | None,
    *,
    verify: bool = True,
    watermarks: bool = False,
    text_key: bytes | None = None,
    detection: dict[str, Any] | None = None,
) -> list[InspectionReport]:
    from synthlabel.pipeline.inspecting import InspectOptions, inspect_many
    from synthlabel.pipeline.io import iter_inputs

    files: list[Path] = []
    for p in paths:
        if not p.exists():
            files.append(p)  # reported as unreadable, not a crash
            continue
        files.extend(f for f, _ in iter_inputs([p]))
    options = InspectOptions(
        trust_file=str(trust) if trust else None,
        key_home=str(home) if home else None,
        c2pa=c2pa,
        c2pa_trust_anchors=str(c2pa_trust) if c2pa_trust else None,
        verify=verify,
        watermarks=watermarks,
        text_watermark_key=text_key,
        **(detection or {}),
    )
    progress = _progress(len(files), True)
    if progress:
        with progress:
            task = progress.add_task("inspecting", total=len(files))
            return inspect_many(files, options, on_result=lambda _r: progress.advance(task))
    return inspect_many(files, options)


def _wm_text(rep: InspectionReport) -> str:
    found = [w for w in rep.watermarks if w.get("present")]
    if not found:
        return "none found" if rep.watermarks else "—"
    parts = []
    for w in found:
        m = w.get("matches_record")
        key = f" #{w['payload'][:8]}" if w.get("payload") else ""
        link = " =record" if m is True else " ≠record" if m is False else key
        parts.append(f"{w['algorithm']}{link}")
    return "; ".join(parts)


_VERDICT_STYLE = {"confirmed": "bold red", "possible": "yellow", "suspected": "cyan"}


def _verdict_text(rep: InspectionReport) -> str:
    if rep.decision is None:
        return "—"
    v = rep.decision.verdict.value
    style = _VERDICT_STYLE.get(v)
    text = v.replace("_", " ")
    return f"[{style}]{text}[/]" if style else text


def _print_reports(reports: list[InspectionReport], verbose: bool = False) -> None:
    table = Table(show_lines=False, header_style="bold")
    cols = [
        "File",
        "Format",
        "Verdict",
        "Label",
        "Producer",
        "Compliance",
        "Signature",
        "Binding",
        "IPTC DST",
        "C2PA",
        "Watermark",
    ]
    if verbose:
        cols[5:5] = ["ProduceID", "Propagator"]
    # Columns that would be all dashes are left out (narrow terminals).
    hide = set()
    if not verbose and not any(r.digital_source_types for r in reports):
        hide.add("IPTC DST")
    if not verbose and not any(r.c2pa for r in reports):
        hide.add("C2PA")
    if not any(r.watermarks for r in reports):
        hide.add("Watermark")
    if not any(r.decision for r in reports):
        hide.add("Verdict")
    if not verbose and not any(r.records for r in reports):
        hide.update({"Label", "Producer", "Signature", "Binding"})  # no record anywhere
    keep = [i for i, c in enumerate(cols) if c not in hide]
    for i in keep:
        table.add_column(cols[i], overflow="fold")
    for rep in reports:
        rec = rep.record
        dst = ", ".join(d.rsplit("/", 1)[-1] for d in rep.digital_source_types) or "—"
        c2 = "—"
        if rep.c2pa is not None:
            c2 = (
                "present"
                if not rep.c2pa.checked
                else (
                    ("AI claim" if rep.c2pa.ai_claim else "no AI claim")
                    + f", {rep.c2pa.validation_state or 'unknown'}"
                )
            )
        comp = rep.compliance.value
        style = {"compliant": "green", "noncompliant": "red", "inconclusive": "yellow"}.get(
            comp, ""
        )
        sig = _sig_text(rep.records[0].producer_signature) if rep.records else "—"
        row = [
            rep.path,
            rep.format or "?",
            _verdict_text(rep),
            (rec.label if rec else "—"),
            (rec.content_producer if rec else "—"),
            f"[{style}]{comp}[/]" if style else comp,
            sig,
            _binding_text(rep),
            dst,
            c2,
            _wm_text(rep),
        ]
        if verbose:
            row[5:5] = [
                rec.produce_id if rec else "—",
                (rec.content_propagator or "—") if rec else "—",
            ]
        table.add_row(*(row[i] for i in keep))
    out.print(table)
    for rep in reports:
        lines = []
        if rep.error:
            lines.append(f"error: {rep.error}")
        for r in rep.records:
            lines += [f"error: {e}" for e in r.errors]
            lines += [f"note: {w}" for w in r.warnings]
            for chk in (r.producer_signature, r.propagator_signature):
                if chk is None or chk.status is SignatureStatus.UNSIGNED or not chk.reason:
                    continue
                explained = chk.status is SignatureStatus.INVALID or (
                    chk.binding is BindingStatus.BROKEN
                )  # already listed as errors
                if verbose or (not explained and (not chk.ok or not chk.trusted)):
                    lines.append(chk.reason)
        if rep.decision and (verbose or (len(reports) <= 20 and rep.evidence)):
            d = rep.decision
            lines.append(f"verdict {d.verdict.value} ({d.policy})")
            lines += [f"  because {r}" for r in d.reasons]
            for f in rep.evidence:
                where = f" @ {f.location}" if f.location else ""
                lines.append(f"  [{f.strength.value}] {f.code}: {f.summary}{where}")
        if verbose and rep.detectors.get("skipped"):
            lines += [f"skipped {k}: {v}" for k, v in rep.detectors["skipped"].items()]
        lines += [f"detector {k} failed: {v}" for k, v in rep.detectors.get("errors", {}).items()]
        lines += [f"note: {w}" for w in rep.warnings]
        if rep.c2pa and rep.c2pa.validation_errors:
            lines += [f"c2pa: {e}" for e in rep.c2pa.validation_errors[:5]]
        if lines:
            out.print(f"[bold]{rep.path}[/]")
            for line in lines:
                out.print(f"  {line}", markup=False)


def _summary(reports: list[InspectionReport]) -> dict[str, int]:
    s = {c.value: 0 for c in Compliance}
    for r in reports:
        s[r.compliance.value] += 1
    if any(r.decision for r in reports):
        for v in Verdict:
            s[f"verdict_{v.value}"] = sum(1 for r in reports if r.verdict is v)
    s["files"] = len(reports)
    return s


@app.command()
def inspect(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or directories (recursive).", show_default=False)
    ],
    trust: TrustOpt = None,
    no_c2pa: NoC2paOpt = False,
    c2pa_trust: C2paTrustOpt = None,
    require_label: Annotated[
        bool, typer.Option("--require-label", help="Exit 4 when a file has no AIGC record.")
    ] = False,
    no_verify: Annotated[
        bool,
        typer.Option("--no-verify", help="Read records only; skip signature and binding checks."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Explain every signature, not only problems.")
    ] = False,
    watermarks: Annotated[
        bool,
        typer.Option(
            "--watermarks/--no-watermarks",
            help="Look for robust watermarks (decodes pixels and samples; slower).",
        ),
    ] = True,
    text_wm_key: Annotated[
        Path | None,
        typer.Option(
            "--text-wm-key",
            help="File holding your secret text-watermark key [default: the public key].",
        ),
    ] = None,
    detect: Annotated[
        bool,
        typer.Option(
            "--detect/--no-detect",
            help="Run the detectors and give the Labeling Measures' verdict with evidence.",
        ),
    ] = True,
    deep: DeepOpt = False,
    policy: PolicyOpt = None,
    declared: DeclaredOpt = False,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            help="Exit 5 when a file's verdict is at least this: confirmed, possible, suspected.",
        ),
    ] = None,
    only: OnlyOpt = None,
    skip: SkipOpt = None,
    hash_registry: RegistryPathOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show every label and trace in each file: AIGC records, signatures, binding, IPTC, C2PA,
    watermarks, generator traces, and the Labeling Measures' verdict with its evidence."""
    text_key = _read_key_file(text_wm_key) if text_wm_key else None
    fail_class = _verdict_arg(fail_on) if fail_on else None
    detection = _detection_options(
        detect, deep, policy, declared, only, skip, hash_registry, watermarks
    )
    reports = _inspect_paths(
        paths,
        trust,
        home,
        not no_c2pa,
        c2pa_trust,
        verify=not no_verify,
        watermarks=watermarks,
        text_key=text_key,
        detection=detection,
    )
    if as_json:
        _emit_json(
            {
                "schema": SCHEMA_VERSION,
                "results": [r.to_dict() for r in reports],
                "summary": _summary(reports),
            }
        )
    else:
        _print_reports(reports, verbose)
    if any(r.error for r in reports):
        raise typer.Exit(EXIT_UNREADABLE)
    if fail_class is not None and any(
        r.verdict is not None and r.verdict.rank >= fail_class.rank for r in reports
    ):
        raise typer.Exit(EXIT_VERDICT)
    if any(r.compliance is Compliance.NONCOMPLIANT for r in reports):
        raise typer.Exit(EXIT_PROBLEM)
    if require_label and any(r.compliance is Compliance.NOT_FOUND for r in reports):
        raise typer.Exit(EXIT_NO_LABEL)
    raise typer.Exit(EXIT_OK)


def _verdict_arg(value: str) -> Verdict:
    try:
        v = Verdict(value.strip().lower())
    except ValueError:
        v = Verdict.NO_TRACE
    if v is Verdict.NO_TRACE:
        fail(f"--fail-on takes confirmed, possible or suspected, not {value!r}")
    return v


def _ids(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(x.strip() for x in value.split(",") if x.strip())


def _detection_options(
    detect: bool,
    deep: bool,
    policy: str | None,
    declared: bool,
    only: str | None,
    skip: str | None,
    hash_registry: Path | None,
    watermarks: bool,
) -> dict[str, Any]:
    from synthlabel.detect import registry as det_registry
    from synthlabel.model.policy import load_policy

    if not detect:
        if policy or declared or only or deep:
            fail("--policy, --declared, --only and --deep need the detectors (drop --no-detect)")
        return {}
    try:
        load_policy(policy)  # fail early, before any file is read
    except SynthlabelError as exc:
        fail(exc.message)
    known = {d.id for d in det_registry.detectors()}
    for opt, ids in (("--only", _ids(only)), ("--skip", _ids(skip))):
        unknown = sorted((ids or set()) - known)
        if unknown:
            names = ", ".join(sorted(known))
            fail(f"{opt}: unknown detector(s) {', '.join(unknown)} (known: {names})")
    if hash_registry is not None and not hash_registry.is_file():
        fail(f"{hash_registry}: no such registry file")
    if only is not None and "watermark" in (_ids(only) or set()) and not watermarks:
        fail("--only watermark contradicts --no-watermarks")
    return {
        "detect": True,
        "max_cost": "expensive" if deep else "medium",
        "only": _ids(only),
        "skip": _ids(skip) or frozenset(),
        "policy": policy,
        "declared": declared,
        "registry_path": str(hash_registry) if hash_registry else None,
    }


@app.command()
def verify(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or directories (recursive).", show_default=False)
    ],
    trust: TrustOpt = None,
    require_trusted: Annotated[
        bool,
        typer.Option(
            "--require-trusted", help="Also require the signing key to be in the trust file."
        ),
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check that each file's label is signed, unaltered and bound to this content."""
    reports = _inspect_paths(paths, trust, home, False, None)
    rows = []
    worst = EXIT_OK
    for rep in reports:
        verdict, why = _verify_verdict(rep, require_trusted)
        rows.append((rep, verdict, why))
        if rep.error:
            worst = max(worst, EXIT_UNREADABLE)
        elif verdict != "ok":
            worst = max(worst, EXIT_PROBLEM)
    if as_json:
        _emit_json(
            {
                "schema": "synthlabel.verify/1",
                "results": [
                    {"path": r.path, "verdict": v, "reason": w, "report": r.to_dict()}
                    for r, v, w in rows
                ],
            }
        )
    else:
        for rep, verdict, why in rows:
            mark = "✓" if verdict == "ok" else "✗"
            out.print(f"{mark} {rep.path}: {verdict} — {why}", markup=False)
    raise typer.Exit(worst)


def _verify_verdict(rep: InspectionReport, require_trusted: bool) -> tuple[str, str]:
    if rep.error:
        return "unreadable", rep.error
    if not rep.records or rep.record is None:
        return "no-label", "no AIGC record found"
    rr = next(r for r in rep.records if r.record is not None)
    chk = rr.producer_signature
    if chk is None or chk.status is SignatureStatus.UNSIGNED:
        return "unsigned", "the record carries no signature"
    if chk.status is not SignatureStatus.VALID:
        return chk.status.value, chk.reason
    if chk.binding is BindingStatus.BROKEN:
        return "binding-broken", "the label was moved to other content or the content was changed"
    if rr.errors:
        return "invalid", "; ".join(rr.errors)
    if require_trusted and not chk.trusted:
        return "untrusted", f"signature valid but key {chk.key_id} is not in the trust file"
    prop = rr.propagator_signature
    if prop is not None and prop.status is SignatureStatus.INVALID:
        return "invalid", f"propagator signature: {prop.reason}"
    who = (
        f"trusted key {chk.trusted_name or chk.key_id}"
        if chk.trusted
        else f"embedded key {chk.key_id} (not in trust file)"
    )
    return "ok", f"{chk.algorithm} signature valid, binding {chk.binding.value}, {who}"


# ---------------------------------------------------------------------------------- keys
def _store(home: Path | None) -> Any:
    from synthlabel.model.keys import KeyStore

    return KeyStore(home)


@keys_app.command("generate")
def keys_generate(
    alg: Annotated[
        str, typer.Option("--alg", help="sm2 (default), ed25519 or ecdsa-p256.")
    ] = "sm2",
    name: Annotated[str, typer.Option("--name", help="A name for the key.")] = "",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key pair; it becomes the active signing key (older keys keep verifying)."""
    try:
        info = _store(home).generate(algorithm=alg, name=name)
    except SynthlabelError as exc:
        fail(str(exc))
    if as_json:
        _emit_json(_key_dict(info))
    else:
        out.print(
            f"created {info.algorithm} key {info.key_id}"
            + (f" ({info.name})" if info.name else ""),
            markup=False,
        )


def _key_dict(info: Any) -> dict[str, Any]:
    """KeyInfo and TrustedKey both serialise with ``to_dict``."""
    return dict(info.to_dict())


@keys_app.command("list")
def keys_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List the keys in the key store."""
    try:
        infos = _store(home).list()
    except SynthlabelError as exc:
        fail(str(exc))
    if as_json:
        _emit_json([_key_dict(i) for i in infos])
        return
    if not infos:
        out.print("no keys yet: run `synthlabel keys generate`")
        return
    table = Table(header_style="bold")
    for col in ("Key id", "Algorithm", "Name", "Created", "Active"):
        table.add_column(col)
    for i in infos:
        table.add_row(
            i.key_id,
            i.algorithm,
            i.name or "",
            str(getattr(i, "created", "")),
            "yes" if getattr(i, "active", False) else "",
        )
    out.print(table)


@keys_app.command("export-public")
def keys_export_public(
    ref: Annotated[
        str | None, typer.Argument(help="Key id, prefix or name [default: the active key].")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Print a public key as PEM (give it to platforms and verifiers)."""
    try:
        store = _store(home)
        sys.stdout.write(str(store.export_public(ref)))
    except SynthlabelError as exc:
        fail(str(exc))


@trust_app.command("add")
def trust_add(
    pem: Annotated[Path, typer.Argument(help="Public key file (PEM or DER).")],
    name: Annotated[str, typer.Option("--name", help="Who this key belongs to.")] = "",
    trust: Annotated[
        Path | None, typer.Option("--trust", help="Trust file [default: the key store's].")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Trust a public key."""
    try:
        store = _trust_store(trust, home)
        key_id = store.add(pem.read_bytes(), name=name)
    except OSError as exc:
        fail(f"{pem}: {exc.strerror}")
    except SynthlabelError as exc:
        fail(str(exc))
    out.print(f"trusted key {key_id}" + (f" ({name})" if name else ""), markup=False)


@trust_app.command("list")
def trust_list(
    trust: Annotated[Path | None, typer.Option("--trust")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List trusted public keys."""
    store = _trust_store(trust, home)
    keys = store.list()
    if as_json:
        _emit_json([_key_dict(k) for k in keys])
        return
    for k in keys:
        out.print(
            f"{k.key_id}  {getattr(k, 'algorithm', '')}  {getattr(k, 'name', '')}", markup=False
        )


@trust_app.command("remove")
def trust_remove(
    key_id: Annotated[str, typer.Argument()],
    trust: Annotated[Path | None, typer.Option("--trust")] = None,
    home: HomeOpt = None,
) -> None:
    """Stop trusting a key."""
    try:
        _trust_store(trust, home).remove(key_id)
    except SynthlabelError as exc:
        fail(str(exc))
    out.print(f"removed {key_id}")


def _trust_store(trust: Path | None, home: Path | None) -> Any:
    from synthlabel.model.keys import TrustStore

    if trust:
        return TrustStore(trust)
    return _store(home).trust


# ------------------------------------------------------------------------------- formats
@app.command()
def formats(as_json: JsonOpt = False) -> None:
    """List the supported containers (format plug-ins)."""
    from synthlabel.formats import registry

    hs = registry.handlers()
    if as_json:
        _emit_json(
            [
                {
                    "id": h.id,
                    "name": h.name,
                    "media_kind": h.media_kind.value,
                    "extensions": list(h.extensions),
                    "mime_types": list(h.mime_types),
                }
                for h in hs
            ]
        )
        return
    table = Table(header_style="bold")
    for col in ("Id", "Format", "Kind", "Extensions", "MIME types"):
        table.add_column(col)
    for h in hs:
        table.add_row(
            h.id, h.name, h.media_kind.value, ", ".join(h.extensions), ", ".join(h.mime_types)
        )
    out.print(table)
    for e in registry.load_errors():
        err.print(f"warning: plug-in failed to load: {e}", markup=False)


@app.command()
def watermarks(as_json: JsonOpt = False) -> None:
    """List the robust watermark algorithms (watermark plug-ins) and the defaults."""
    from synthlabel.watermark import registry as wm_registry

    algos = wm_registry.algorithms()
    rows = [
        {
            "id": a.id,
            "name": a.name,
            "media_kind": a.media_kind,
            "payload_bits": a.payload_bits,
            "default": wm_registry.DEFAULTS.get(a.media_kind) == a.id,
        }
        for a in algos
    ]
    if as_json:
        _emit_json({"algorithms": rows, "load_errors": wm_registry.load_errors()})
        return
    table = Table(header_style="bold")
    for col in ("Id", "Algorithm", "Kind", "Payload bits", "Default"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["name"]),
            str(r["media_kind"]),
            str(r["payload_bits"]),
            "yes" if r["default"] else "",
        )
    out.print(table)
    for e in wm_registry.load_errors():
        err.print(f"warning: watermark plug-in failed to load: {e}", markup=False)


@app.command()
def detectors(
    policy: Annotated[
        str | None,
        typer.Option("--policy", help="Also show this policy's rules (name or TOML file)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the detector plug-ins and the verdict policy's rules."""
    from synthlabel.detect import registry as det_registry
    from synthlabel.model.policy import load_policy

    try:
        pol = load_policy(policy)
    except SynthlabelError as exc:
        fail(exc.message)
    rows = [
        {
            "id": d.id,
            "name": d.name,
            "media_kinds": sorted(d.media_kinds) if d.media_kinds else ["all"],
            "cost": d.cost,
        }
        for d in det_registry.detectors()
    ]
    if as_json:
        _emit_json(
            {"detectors": rows, "load_errors": det_registry.load_errors(), "policy": pol.to_dict()}
        )
        return
    table = Table(header_style="bold", title="Detectors")
    for col in ("Id", "Detector", "Media", "Cost"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), str(r["name"]), ", ".join(r["media_kinds"]), str(r["cost"]))
    out.print(table)
    rules = Table(header_style="bold", title=f"Policy {pol.ref}")
    for col in ("Verdict", "Rule", "Finding codes", "Min strength"):
        rules.add_column(col, overflow="fold")
    for rule in pol.rules:
        rules.add_row(rule.verdict.value, rule.name, ", ".join(rule.when), rule.min_strength.value)
    rules.add_row(pol.declaration.value, "uploader's declaration", "--declared", "")
    out.print(rules)
    for e in det_registry.load_errors():
        err.print(f"warning: detector plug-in failed to load: {e}", markup=False)


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"synthlabel {__version__}")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: never shows a traceback for expected errors."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        app(args=list(argv) if argv is not None else None, prog_name="synthlabel")
    except SynthlabelError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_PROBLEM)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
