"""``synthlabel drill``: attack labelled files and report which labels survive.

Exit codes: 0 the drill ran (whatever survived: survival is the measurement, not a
failure); 1 at least one attack could not be applied; 2 usage error; 3 at least one input
could not be read. Registered in ``cli/main.py`` as ``app.command("drill")(drill)``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from synthlabel.cli._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNREADABLE,
    C2paTrustOpt,
    DeepOpt,
    HomeOpt,
    JsonOpt,
    PolicyOpt,
    RegistryPathOpt,
    TrustOpt,
    WorkersOpt,
    _sniffable,
    emit_json,
    fail,
    progress,
    write_json_result,
)
from synthlabel.errors import SynthlabelError

if TYPE_CHECKING:
    from synthlabel.assess.drill import DrillResult

# Literal output (no markup): paths may contain brackets.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _Bars:
    """One bar for the originals, then one for the attacked copies (stderr, terminals)."""

    def __init__(self, enabled: bool) -> None:
        self.bar = progress(2, enabled)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bars:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def start(self, what: str, total: int) -> None:
        if self.bar is not None:
            self.tasks[what] = self.bar.add_task(what, total=total)

    def tick(self, what: str) -> Callable[[Any], None]:
        def advance(_r: Any) -> None:
            if self.bar is not None and what in self.tasks:
                self.bar.advance(self.tasks[what])

        return advance


def _list_attacks(as_json: bool) -> None:
    from synthlabel.assess import attacks as A

    rows = A.attacks()
    if as_json:
        emit_json(
            {
                "attacks": [a.to_dict() for a in rows],
                "suites": {k: list(v) for k, v in A.SUITES.items()},
                "load_errors": A.load_errors(),
            }
        )
        return
    table = Table(header_style="bold", title="Attacks")
    for col in ("Id", "Kind", "Family", "What it does", "In suites"):
        table.add_column(col, overflow="fold")
    for a in rows:
        suites = ", ".join(k for k, v in A.SUITES.items() if a.id in v)
        table.add_row(a.id, a.kind, a.family, a.description, suites)
    out.print(table)
    for e in A.load_errors():
        err.print(f"warning: attack plug-in failed to load: {e}", markup=False)


def _style(rate: float | None) -> str:
    if rate is None:
        return "dim"
    return "green" if rate >= 0.999 else "red" if rate <= 0.001 else "yellow"


def _cell(c: Any) -> str:
    return "—" if not c.present else f"{c.survived}/{c.present}"


def _print(result: DrillResult) -> None:
    from rich.markup import escape

    from synthlabel.assess.drill import baseline_kinds

    for b in result.baselines:
        kinds = baseline_kinds(b.observation, result.detectors)
        what = ", ".join(kinds) if kinds else "no label"
        line = f"{b.path}  [{b.media_kind or '?'}; {what}; verdict {b.observation.verdict or '—'}]"
        out.print(f"✗ {b.path}: {b.error}" if b.error else line, markup=False)
    for mk in result.media_kinds():
        cells = result.table(mk)
        kinds = [*result.label_kinds(mk), "any"]
        table = Table(header_style="bold", title=f"{mk}: labels surviving each attack")
        table.add_column("Attack", no_wrap=True)
        for k in kinds:
            table.add_column(k.replace("detector:", ""), justify="right", no_wrap=True)
        for attack, row in cells.items():
            table.add_row(
                escape(attack.split(".", 1)[-1]),
                *(f"[{_style(row[k].rate)}]{_cell(row[k])}[/]" for k in kinds),
            )
        out.print(table)
    for t in result.errors():
        err.print(f"✗ {t.path}: {t.attack}: {t.error}", markup=False)
    for note in result.notes:
        err.print(f"note: {note}", markup=False)
    n = len([t for t in result.trials if not t.error])
    lost = result.untraceable()
    out.print(
        f"{n - len(lost)}/{n} attacked copies keep at least one label"
        + (f"; {len(result.errors())} attacks failed" if result.errors() else "")
        + f" ({result.seconds:.1f} s)",
        markup=False,
    )


def drill(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Labelled files or directories (our outputs).", show_default=False),
    ] = None,
    attacks: Annotated[
        str | None,
        typer.Option(
            "--attacks",
            "-a",
            help="Comma-separated attack ids, or kinds (image, audio, video, text) for all of "
            "a kind [default: the suite's].",
        ),
    ] = None,
    suite: Annotated[
        str, typer.Option("--suite", help="Attack suite: default, quick or all.")
    ] = "default",
    detector: Annotated[
        list[str] | None,
        typer.Option(
            "--detector",
            help="Also follow this detector plug-in's findings (repeatable; see "
            "`synthlabel detectors`).",
        ),
    ] = None,
    generate: Annotated[
        bool,
        typer.Option(
            "--generate",
            help="Make labelled samples of each kind first (image, audio, video, text) and "
            "drill them too.",
        ),
    ] = False,
    sample_kinds: Annotated[
        str,
        typer.Option("--sample-kinds", help="Kinds --generate makes (comma-separated)."),
    ] = "image,audio,video,text",
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="Signing key for --generate (key id/name or PEM file) [default: a new SM2 "
            "key in the work directory].",
        ),
    ] = None,
    c2pa: Annotated[
        str | None,
        typer.Option("--c2pa", help="--generate: also add C2PA manifests (CERT.pem,KEY.pem)."),
    ] = None,
    text_wm_key: Annotated[
        Path | None,
        typer.Option(
            "--text-wm-key",
            help="File holding your secret text-watermark key [default: the public key].",
        ),
    ] = None,
    hash_registry: RegistryPathOpt = None,
    deep: DeepOpt = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random attack.")] = 0,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            help="Keep generated samples and attacked copies here [default: a temporary "
            "directory, removed].",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the result JSON here.")
    ] = None,
    list_attacks: Annotated[
        bool, typer.Option("--list", help="List the attacks and suites, then exit.")
    ] = False,
    trust: TrustOpt = None,
    c2pa_trust: C2paTrustOpt = None,
    policy: PolicyOpt = None,
    workers: WorkersOpt = 0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attack labelled files (re-encode, resize, crop, rotate, flip, screenshot, overlay,
    metadata strip; audio codecs, resample, speed, noise; video re-encode, scale, trim; text
    substitutions, copy-paste) and report which labels survive, per attack and label kind."""
    from synthlabel.assess import attacks as A
    from synthlabel.assess.drill import DrillOptions, run_drill
    from synthlabel.assess.samples import generate_samples
    from synthlabel.detect import registry as det_registry
    from synthlabel.pipeline.io import iter_inputs

    if list_attacks:
        _list_attacks(as_json)
        raise typer.Exit(EXIT_OK)
    if not inputs and not generate:
        fail("give labelled files to attack, or --generate to make samples (see --help)")
    try:
        chosen = A.select(attacks, suite)
        for d in detector or []:
            det_registry.get(d)
        if policy:
            from synthlabel.model.policy import load_policy

            load_policy(policy)
    except SynthlabelError as exc:
        fail(exc.message)
    if not chosen:
        fail("no attacks selected")
    kinds = [k.strip() for k in sample_kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in A.KINDS]
    if bad:
        fail(f"--sample-kinds: unknown kind(s) {', '.join(bad)} (image, audio, video, text)")
    if hash_registry is not None and not hash_registry.is_file():
        fail(f"{hash_registry}: no such registry file")
    text_key = None
    if text_wm_key is not None:
        try:
            text_key = text_wm_key.read_bytes().strip()
        except OSError as exc:
            fail(f"{text_wm_key}: cannot read the key file: {exc.strerror}")
        if len(text_key) < 16:
            fail(f"{text_wm_key}: a text-watermark key needs at least 16 bytes")
    files: list[Path] = []
    for p in inputs or []:
        if not p.exists():
            fail(f"{p}: no such file or directory", EXIT_UNREADABLE)
        # files named explicitly are always attempted; directory walks take recognised ones
        files.extend(f for f, _ in iter_inputs([p]) if f == p or _sniffable(f))
    if inputs and not files:
        fail("no supported files found in the inputs")

    tmp: tempfile.TemporaryDirectory[str] | None = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="synthlabel-drill-")
        base = Path(tmp.name)
    else:
        base = work_dir
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"{base}: cannot create the work directory: {exc.strerror}", EXIT_PROBLEM)
    try:
        key_home = str(home) if home else None
        if generate:
            if not as_json:
                err.print("making labelled samples: " + ", ".join(kinds), markup=False)
            try:
                samples, sample_home = generate_samples(
                    base / "samples",
                    kinds=kinds,
                    sign_key=key,
                    key_home=key_home,
                    c2pa=c2pa,
                    text_key=text_key,
                    seed=seed,
                )
            except SynthlabelError as exc:
                fail(str(exc), EXIT_PROBLEM)
            files = samples + files
            key_home = sample_home or key_home
        options = DrillOptions(
            attacks=tuple(a.id for a in chosen),
            detectors=tuple(dict.fromkeys(detector or [])),
            deep=deep,
            seed=seed,
            registry_path=str(hash_registry) if hash_registry else None,
            trust_file=str(trust) if trust else None,
            key_home=key_home,
            c2pa_trust_anchors=str(c2pa_trust) if c2pa_trust else None,
            text_watermark_key=text_key,
            policy=policy,
            work_dir=str(base / "attacked"),
            keep=work_dir is not None,
        )
        try:
            with _Bars(not as_json) as bars:
                bars.start("inspecting originals", len(files))
                result = run_drill(
                    files,
                    options,
                    workers=workers or None,
                    on_baseline=bars.tick("inspecting originals"),
                    on_plan=lambda n: bars.start("attacking", n),
                    on_trial=bars.tick("attacking"),
                )
        except SynthlabelError as exc:
            fail(str(exc))
    finally:
        if tmp is not None:
            tmp.cleanup()
    data = result.to_dict()
    if output is not None:
        write_json_result(output, data)
    if as_json:
        emit_json(data)
    else:
        _print(result)
        if output is not None:
            out.print(f"result: {output}", markup=False)
    if any(b.error for b in result.baselines):
        raise typer.Exit(EXIT_UNREADABLE)
    if result.errors():
        raise typer.Exit(EXIT_PROBLEM)
    raise typer.Exit(EXIT_OK)
