"""Coverage-guided fuzzing (atheris) of every container parser and the record/XMP parsers.

    python tests/fuzz/run_fuzz.py                      # all targets, 60 s each
    python tests/fuzz/run_fuzz.py --target png --seconds 300
    python tests/fuzz/run_fuzz.py --target jpeg --runs 2000   # bounded (used by the test suite)

A finding is any exception other than SynthlabelError, a hang (> 5 s on one input) or memory
over 2 GiB; atheris then writes the crashing input to crash-* in the working directory.
Seeds are the generated samples of tests/fixtures/images.py (other media: every fixture
family in tests/fixtures), labelled and unlabelled.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def targets() -> list[str]:
    from synthlabel.formats import registry

    return [h.id for h in registry.handlers()] + ["record", "xmp"]


def write_seeds(target: str, folder: Path) -> None:
    from synthlabel.formats import _xmp, registry
    from synthlabel.formats.base import LabelWrite, XmpContainer
    from synthlabel.model.aigc import AIGCRecord
    from tests import fixtures
    from tests.fixtures import images as fx

    rec = AIGCRecord(
        content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
    )
    folder.mkdir(parents=True, exist_ok=True)
    if target == "record":
        for i, s in enumerate(
            [
                rec.to_json(),
                rec.to_json(wrapped=True),
                "AIGC" + rec.to_json(),
                rec.to_json().replace('"', "&quot;"),
            ]
        ):
            (folder / f"seed{i}").write_text(s)
        return
    if target == "xmp":
        (folder / "seed0").write_bytes(_xmp.new_packet(rec.to_json()))
        return
    h = registry.get(target)
    if isinstance(h, XmpContainer):
        samples = fx.all_samples()
    else:  # other media families: the fixture modules listed in tests/fixtures/__init__.py
        samples = [(s.format_id, s.name, s.make) for s in fixtures.all_samples()]
    for fid, name, make in samples:
        if fid != target:
            continue
        data = make()
        (folder / f"{name}-plain").write_bytes(data)
        with contextlib.suppress(Exception):
            if isinstance(h, XmpContainer):
                out = h.write_xmp(data, _xmp.new_packet(rec.to_json()))
            else:
                out = h.write_label(data, LabelWrite(rec.to_json()))
            (folder / f"{name}-labelled").write_bytes(out)


def run_one(target: str) -> None:
    """Runs inside the fuzzing subprocess."""
    import atheris

    with atheris.instrument_imports():
        from synthlabel.errors import SynthlabelError
        from synthlabel.formats import _xmp, registry
        from synthlabel.formats.base import LabelWrite, XmpContainer
        from synthlabel.model.aigc import parse_record

    packet = _xmp.new_packet('{"Label":"1","ContentProducer":"x","ProduceID":"y"}')
    if target == "record":

        def test(data: bytes) -> None:
            with contextlib.suppress(SynthlabelError):
                parse_record(data)
    elif target == "xmp":

        def test(data: bytes) -> None:
            try:
                _xmp.read_fields(data)
                _xmp.update_packet(data, aigc_json="{}")
            except SynthlabelError:
                pass
    else:
        h = registry.get(target)
        label = LabelWrite('{"Label":"1","ContentProducer":"x","ProduceID":"y"}')

        def test(data: bytes) -> None:
            try:
                meta = h.read(data)
                for c in meta.xmp:
                    _xmp.read_fields(c.data)
                h.content_digest(data)
                if isinstance(h, XmpContainer):
                    h.write_xmp(data, packet)
                else:
                    h.write_label(data, label)
            except SynthlabelError:
                pass

    atheris.Setup(sys.argv, test)
    atheris.Fuzz()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", action="append", help="format id, 'record' or 'xmp' (repeatable)")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=0, help="stop after N inputs (bounded runs)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.child:
        sys.argv = [sys.argv[0], *rest]
        run_one(args.child)
        return 0
    failed = []
    for target in args.target or targets():
        with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as tmp:
            corpus = Path(tmp) / "corpus"
            write_seeds(target, corpus)
            cmd = [
                sys.executable,
                __file__,
                "--child",
                target,
                f"-max_total_time={args.seconds}",
                "-timeout=5",
                "-rss_limit_mb=2048",
                "-max_len=262144",
                "-print_final_stats=1",
                str(corpus),
            ]
            if args.runs:
                cmd.insert(4, f"-runs={args.runs}")
            print(f"fuzzing {target} ...", flush=True)
            rc = subprocess.run(cmd, cwd=tmp, env={**os.environ, "PYTHONHASHSEED": "0"}).returncode
            crashes = (
                list(Path(tmp).glob("crash-*"))
                + list(Path(tmp).glob("timeout-*"))
                + list(Path(tmp).glob("oom-*"))
            )
            if rc != 0 or crashes:
                keep = ROOT / "tests" / "fuzz" / "findings"
                keep.mkdir(exist_ok=True)
                for c in crashes:
                    (keep / f"{target}-{c.name}").write_bytes(c.read_bytes())
                failed.append(target)
    if failed:
        print("findings in: " + ", ".join(failed) + " (inputs saved in tests/fuzz/findings/)")
        return 1
    print("no findings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
