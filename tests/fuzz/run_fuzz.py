"""Coverage-guided fuzzing (atheris) of every container parser and the record/XMP parsers.

    python tests/fuzz/run_fuzz.py                      # all targets, 60 s each
    python tests/fuzz/run_fuzz.py --target png --seconds 300
    python tests/fuzz/run_fuzz.py --target jpeg --runs 2000   # bounded (used by the test suite)

A finding is any exception other than SynthlabelError, a hang (> 5 s on one input) or memory
over 2 GiB; atheris then writes the crashing input to crash-* in the working directory.
Seeds are the generated samples of tests/fixtures/images.py (other media: every fixture
family in tests/fixtures), labelled and unlabelled.

Targets beyond the containers (:data:`EXTRA`): ``iim`` (IPTC-IIM and Photoshop 8BIM in JPEG,
TIFF, PSD and raw), ``traces`` (the trace rules' field collection and JSON/text matching),
``c2pa`` (the JUMBF pre-scan and c2pa-python's read of what it lets through), ``policy``
(the verdict policy TOML parser) and ``inspect`` (``inspect_file`` end to end with the
detectors and watermarks on: a detector error that is not a SynthlabelError is a finding).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def targets() -> list[str]:
    from synthlabel.formats import registry

    return [h.id for h in registry.handlers()] + ["record", "xmp", *EXTRA]


#: Targets that are not a container format.
EXTRA = ("iim", "traces", "c2pa", "policy", "inspect")
_PRODUCER = "001191110000MA0000000H10001"


def _extra_seeds(target: str) -> list[bytes]:
    """Seeds of the targets in EXTRA."""
    from tests.fixtures import images as fx

    if target == "iim":
        from tests.detect import test_iptc as ip

        dst = b"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
        stream = ip.iim((25, b"AI"), (120, b"caption " + dst), (65, b"Generator"))
        res = ip.resource(0x0404, stream) + ip.resource(0x040C, b"\0" * 10, b"thumb")
        return [
            ip.jpeg_with_app13(res),
            ip.jpeg_with_app13(res, split=17),
            ip.tiff_with_iptc(stream),
            ip.psd_with_resources(res),
            stream,
            res,
        ]
    if target in ("traces", "inspect"):
        from tests.fixtures import traces as tfx

        cases = [c for c in tfx.positives() if not c.needs][:: 3 if target == "inspect" else 1]
        seeds = []
        for c in cases:
            with contextlib.suppress(Exception):
                data = c.make()
                if len(data) <= 256 * 1024:
                    seeds.append(data)
        if target == "inspect":
            import synthlabel

            for _, _, make in fx.all_samples()[:6]:
                with contextlib.suppress(Exception):
                    seeds.append(make())
                    seeds.append(synthlabel.label_bytes(make(), producer=_PRODUCER)[0])
            seeds.append("# Title\n\nAI-generated text, \u7531AI\u751f\u6210.\n".encode())
        return seeds
    if target == "c2pa":
        try:
            from tests.detect.test_c2pa_deep import CREATED_AI, sign
            from tests.helpers.c2pa_ca import make_pki

            pki = make_pki()
            return [
                sign(fx.jpeg(), "image/jpeg", pki, CREATED_AI),
                sign(fx.png(), "image/png", pki, CREATED_AI),
            ]
        except Exception:  # c2pa-python missing: the probe alone, on a hand-made box
            return [b"\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa" + bytes(12)]
    if target == "policy":
        from importlib import resources

        root = resources.files("synthlabel.model").joinpath("policies")
        return [
            root.joinpath(f"{n}.toml").read_text("utf-8").encode()
            for n in ("default", "measures-strict")
        ]
    raise ValueError(target)


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
    if target in EXTRA:
        for i, seed in enumerate(_extra_seeds(target)):
            (folder / f"seed{i}").write_bytes(seed)
        return
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
    if target in EXTRA:
        test = _extra_test(target)
    elif target == "record":

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


_PY_ERROR = re.compile(r"^[A-Za-z_.]*(Error|Exception|Exit|Interrupt|Warning|error): ")


def _extra_test(target: str) -> Callable[[bytes], None]:
    """The test function of a target in EXTRA (imports instrumented by the caller)."""
    import atheris

    with atheris.instrument_imports():
        from synthlabel.errors import SynthlabelError

    if target == "iim":
        with atheris.instrument_imports():
            from synthlabel.formats import _iim

        def test(data: bytes) -> None:
            for block in _iim.find_iim(data):
                for ds in block.datasets:
                    block.text(ds)
                    _ = ds.name
            _iim.parse_iim(data)
            _iim.parse_8bim(data)

        return test
    if target == "traces":
        with atheris.instrument_imports():
            from synthlabel.detect import traces
            from synthlabel.detect.base import Asset, DetectOptions
            from synthlabel.formats import registry
            from synthlabel.model.results import InspectionReport

        det = traces.TracesDetector()
        cheap = DetectOptions(max_cost="cheap", time_budget=None)
        medium = DetectOptions(max_cost="medium", time_budget=None)

        def test(data: bytes) -> None:
            try:
                handler = registry.sniff(data[: registry.max_sniff_bytes()], "x")
            except SynthlabelError:
                handler = None
            asset = Asset("x", handler, InspectionReport(path="x"), data)
            det.detect(asset, medium if len(data) % 32 == 0 else cheap)
            text = data.decode("utf-8", "replace")
            traces.bounded_json(text)
            traces.json_depth_ok(text)

        return test
    if target == "c2pa":
        with atheris.instrument_imports():
            from synthlabel.formats import registry
            from synthlabel.formats._c2pa import looks_like_c2pa
            from synthlabel.inspect.c2pa import read_c2pa
            from synthlabel.inspect.reader import mime_type

        def test(data: bytes) -> None:
            if not looks_like_c2pa(data):
                return
            try:
                handler = registry.sniff(data[: registry.max_sniff_bytes()], "x")
                mime = mime_type(handler, data)
            except SynthlabelError:
                mime = "image/jpeg"
            summary = read_c2pa(data, mime)
            if summary.present and summary.error:
                assert isinstance(summary.error, str)

        return test
    if target == "policy":
        with atheris.instrument_imports():
            from synthlabel.model.findings import Finding, Strength
            from synthlabel.model.policy import PolicyError, parse_policy

        findings = [
            Finding("t", code, "s", Strength.STRONG, "w", "src")
            for code in ("aigc.record.valid", "trace.a1111.parameters", "c2pa.ai.untrusted")
        ]

        def test(data: bytes) -> None:
            try:
                policy = parse_policy(data.decode("utf-8", "replace"))
            except PolicyError:
                return
            policy.decide(findings, declared=True)
            policy.to_dict()

        return test
    if target == "inspect":
        import tempfile

        with atheris.instrument_imports():
            from synthlabel.pipeline.inspecting import InspectOptions, inspect_file

        folder = Path(tempfile.mkdtemp(prefix="fuzz-inspect-"))
        opts = InspectOptions(detect=True, watermarks=True, time_budget=4.0)
        exts = ["png", "jpg", "webp", "md", "txt", "pdf", "mp3", "wav", "bin"]

        def test(data: bytes) -> None:
            path = folder / f"in.{exts[len(data) % len(exts)]}"
            path.write_bytes(data)
            report = inspect_file(path, opts)
            for det_id, msg in (report.detectors or {}).get("errors", {}).items():
                if _PY_ERROR.match(msg):
                    raise RuntimeError(f"detector {det_id} crashed: {msg}")

        return test
    raise ValueError(target)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--target",
        action="append",
        help="format id, 'record', 'xmp' or one of " + ", ".join(EXTRA) + " (repeatable)",
    )
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
