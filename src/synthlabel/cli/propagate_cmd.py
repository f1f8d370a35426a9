"""``synthlabel propagate``: a platform's update of the AIGC record on publication (LM Art. 6).

Exit codes: 0 every file was propagated, labelled or left alone with no trace; 1 at least one
file failed or was refused (an invalid record without ``--replace-invalid``); 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthlabel.cli._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    C2paTrustOpt,
    DeclaredOpt,
    HomeOpt,
    InPlaceOpt,
    JsonOpt,
    OutDirOpt,
    OutputOpt,
    PolicyOpt,
    RegistryPathOpt,
    TrustOpt,
    WorkersOpt,
    err,
    fail,
    out,
    plan_jobs,
    progress,
    run_jobs_with_progress,
)
from synthlabel.cli._common import emit_json as _emit_json
from synthlabel.errors import SynthlabelError

_NOTICE_HELP = (
    'Visible notice text per Label, e.g. --notice-text "2=可能由AI生成" (repeatable) '
    "[default: 1=AI生成, 2=可能为AI生成, 3=疑似AI生成]."
)


def _notice_texts(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for v in values or []:
        lab, sep, text = v.partition("=")
        if not sep or lab.strip() not in ("1", "2", "3") or not text.strip():
            fail(f"--notice-text takes LABEL=TEXT with LABEL 1, 2 or 3, not {v!r}")
        out.append((lab.strip(), text.strip()))
    return tuple(out)


def propagate(
    inputs: Annotated[
        list[Path], typer.Argument(help="Files or directories (recursive).", show_default=False)
    ],
    platform: Annotated[
        str,
        typer.Option(
            "--platform",
            "-P",
            help="Provider code (27 characters) of the publishing platform (ContentPropagator).",
            envvar="SYNTHLABEL_PLATFORM",
        ),
    ],
    output: OutputOpt = None,
    out_dir: OutDirOpt = None,
    in_place: InPlaceOpt = False,
    propagate_id: Annotated[
        str | None,
        typer.Option("--propagate-id", help="PropagateID (one input only) [default: a new ULID]."),
    ] = None,
    allow_name: Annotated[
        bool, typer.Option("--allow-name", help="Accept an ASCII platform name instead of a code.")
    ] = False,
    sign: Annotated[
        str | None,
        typer.Option(
            "--sign", help="Sign ReservedCode2: key id/name in the key store, or a PEM key file."
        ),
    ] = None,
    trust: TrustOpt = None,
    declared: DeclaredOpt = False,
    force_label: Annotated[
        str | None,
        typer.Option(
            "--force-label",
            help="Label (2 or 3) to write when no trace is found [default: leave such files].",
        ),
    ] = None,
    replace_invalid: Annotated[
        bool,
        typer.Option(
            "--replace-invalid",
            help="Replace a tampered or malformed record with one from the verdict.",
        ),
    ] = False,
    notice: Annotated[
        bool,
        typer.Option(
            "--notice", help="Draw a visible notice (AI生成 / 可能为AI生成 / 疑似AI生成)."
        ),
    ] = False,
    notice_text: Annotated[
        list[str] | None, typer.Option("--notice-text", help=_NOTICE_HELP)
    ] = None,
    position: Annotated[
        str | None, typer.Option("--position", help="Where the notice goes (as for label).")
    ] = None,
    language: Annotated[
        str, typer.Option("--language", help="Text notices: auto, zh, en, zh+en.")
    ] = "auto",
    c2pa: Annotated[
        str | None,
        typer.Option(
            "--c2pa", help="Add the platform's C2PA manifest signed with CERT.pem,KEY.pem."
        ),
    ] = None,
    c2pa_trust: C2paTrustOpt = None,
    unknown_producer: Annotated[
        str,
        typer.Option(
            "--unknown-producer",
            help="ContentProducer/ProduceID of a new Label 1 record when no evidence names one.",
        ),
    ] = "unknown",
    policy: PolicyOpt = None,
    watermarks: Annotated[
        bool,
        typer.Option(
            "--watermarks/--no-watermarks",
            help="Look for robust watermarks in files without a record.",
        ),
    ] = True,
    hash_registry: RegistryPathOpt = None,
    workers: WorkersOpt = 0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish as a platform: complete the file's AIGC record with ContentPropagator and
    PropagateID (signed in ReservedCode2 with --sign), keeping the producer's fields and
    signature valid; add a record with Label 1/2/3 from the verdict when there is none."""
    from synthlabel.model.policy import load_policy
    from synthlabel.pipeline.propagating import (
        NO_TRACE,
        PropagateOptions,
        PropagateResult,
        check_options,
        propagate_many,
    )

    if force_label is not None and force_label not in ("2", "3"):
        fail(f"--force-label takes 2 or 3, not {force_label!r}")
    if hash_registry is not None and not hash_registry.is_file():
        fail(f"{hash_registry}: no such registry file")
    jobs, skipped = plan_jobs(inputs, output, out_dir, in_place)
    options = PropagateOptions(
        platform=platform,
        propagate_id=propagate_id,
        allow_name=allow_name,
        sign_key=sign,
        key_home=str(home) if home else None,
        trust_file=str(trust) if trust else None,
        declared=declared,
        force_label=force_label,
        replace_invalid=replace_invalid,
        notice=notice,
        notice_texts=_notice_texts(notice_text),
        notice_position=position,
        language=language,
        c2pa=c2pa,
        c2pa_trust_anchors=str(c2pa_trust) if c2pa_trust else None,
        unknown_producer=unknown_producer,
        policy=policy,
        watermarks=watermarks,
        registry_path=str(hash_registry) if hash_registry else None,
    )
    try:
        load_policy(policy)
        for w in check_options(options):
            err.print(f"warning: {w}", markup=False)
        if notice:
            from synthlabel.label.visible import check_label_text

            for lab in ("1", "2", "3"):
                problems = check_label_text(options.notice_text(lab))
                if problems:
                    err.print(f"warning: notice text for Label {lab}: {'; '.join(problems)}")
    except SynthlabelError as exc:
        fail(str(exc))

    results: list[PropagateResult] = run_jobs_with_progress(
        propagate_many, jobs, options, workers=workers, what="propagating", enabled=not as_json
    )
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    bad = [r for r in results if not r.ok]
    summary = {
        "propagated": counts.get("propagated", 0),
        "labelled": counts.get("labelled", 0),
        "replaced": counts.get("replaced", 0),
        "no_trace": counts.get(NO_TRACE, 0),
        "refused": counts.get("refused", 0),
        "failed": counts.get("failed", 0),
        "skipped": skipped,
    }
    if as_json:
        _emit_json(
            {
                "schema": "synthlabel.propagate/1",
                "results": [r.to_dict() for r in results],
                "summary": summary,
            }
        )
    else:
        if progress(len(jobs), True) is None:  # no live bar printed the failures already
            for r in bad:
                err.print(f"✗ {r.error}", markup=False)
        for r in results:
            if not r.ok:
                continue
            if r.status == NO_TRACE:
                out.print(f"- {r.path}  [{r.format}; no trace: left alone]", markup=False)
                continue
            flags = ", ".join(
                x
                for x, on in (
                    (f"producer signature {r.producer_signature}", bool(r.producer_signature)),
                    ("signed", r.signed),
                    ("notice", r.notice),
                    ("c2pa", r.c2pa),
                )
                if on
            )
            pid = r.record.propagate_id if r.record else ""
            out.print(
                f"✓ {r.output}  [{r.format}; {r.status}; verdict {r.verdict or '-'}; "
                f"Label {r.label}; PropagateID {pid}" + (f"; {flags}" if flags else "") + "]",
                markup=False,
            )
            for w in r.warnings:
                out.print(f"  note: {w}")
        total_s = sum(r.seconds for r in results)
        out.print(
            ", ".join(
                f"{v} {k.replace('_', '-')}" for k, v in summary.items() if v or k == "failed"
            )
            + f" ({total_s:.2f} s of work)"
        )
    raise typer.Exit(EXIT_PROBLEM if bad else EXIT_OK)
