"""Inspect throughput on mixed files against exiftool and c2pa-python, in the same run.

    python bench/bench_inspect.py [--n 1000] [--runs 3] [--full-runs 3] [--profile 120]

Generates ``--n`` mixed files under bench/work/inspect/ (git-ignored; kept between runs):
JPEG/PNG/WebP images of 0.3-1 MP (some labelled with ``synthlabel.label_bytes``, some of
them watermarked, some with A1111/ComfyUI text chunks, some C2PA-signed with a throw-away
PKI), WAV/MP3 of a few seconds, small MP4s, Markdown and PDF. Then, on the same files:

* (a) ``exiftool -j -fast`` over all files, one process (as a user would run it);
* (b) c2pa-python ``Reader`` on every file, one process (import not counted);
* (c) synthlabel inspect, metadata detectors (aigc, c2pa, iptc, traces, visible-text) at the
  default max_cost (the traces pixel checks decode images) and (c') at ``max_cost=cheap``;
* (d) the full inspect without OCR (detectors + watermarks, default max_cost medium);
* (e) decode only: every image's pixels (Pillow) and every audio/video stream (ffmpeg), no
  analysis -- the floor under any check that looks at the content;

each synthlabel mode with ``inspect_many`` on every core and on one core; median of the
runs (wall clock, process start-up included for exiftool). Writes bench/results/inspect.md
and .json. ``--profile N``: cProfile of (d) on N files in one process.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
WORK = ROOT / "bench" / "work" / "inspect"
RESULTS = ROOT / "bench" / "results"
PRODUCER = "001191110000MA0000000H10001"
TESTSRC = ["-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=15"]
META_ONLY = frozenset({"aigc", "c2pa", "iptc", "traces", "visible-text"})


# ---------------------------------------------------------------------------------- corpus
def _image(seed: int) -> np.ndarray:
    import cv2
    from bench import _gen_media as g

    rng = np.random.default_rng(seed)
    mp = rng.uniform(0.3, 1.0) * 1e6
    aspect = rng.choice([1.0, 4 / 3, 3 / 2, 16 / 9])
    h = int((mp / aspect) ** 0.5)
    w = int(h * aspect)
    _, arr = g.image(seed)
    return cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA)


def _encode(arr: np.ndarray, fmt: str, pnginfo: object = None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(arr)
    if fmt == "jpg":
        im.save(buf, "JPEG", quality=88)
    elif fmt == "png":
        im.save(buf, "PNG", pnginfo=pnginfo, compress_level=6)
    else:
        im.save(buf, "WEBP", quality=85)
    return buf.getvalue()


def _ffmpeg(args: list[str], out: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args, str(out)], check=True
    )


def build(n: int) -> list[Path]:
    """The corpus (cached: rebuilt only when the manifest is missing or smaller)."""
    manifest = WORK / "manifest.json"
    if manifest.is_file():
        names = json.loads(manifest.read_text())
        if len(names) >= n and all((WORK / x).is_file() for x in names[:n]):
            return [WORK / x for x in names[:n]]
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    from PIL import PngImagePlugin
    from tests.fixtures import documents
    from tests.fixtures import traces as tfx

    import synthlabel

    plan = (
        ["image"] * int(n * 0.62)
        + ["wav"] * int(n * 0.06)
        + ["mp3"] * int(n * 0.06)
        + ["mp4"] * int(n * 0.04)
        + ["md"] * int(n * 0.12)
    )
    plan += ["pdf"] * (n - len(plan))
    rng = np.random.default_rng(6)
    names: list[str] = []
    signer = None
    for i, kind in enumerate(plan):
        if kind == "image":
            fmt = ("jpg", "png", "webp")[i % 3]
            arr = _image(i)
            roll = rng.random()
            info = None
            if fmt == "png" and roll < 0.25:
                info = PngImagePlugin.PngInfo()
                if roll < 0.12:
                    info.add_text("parameters", tfx.A1111_INFOTEXT)
                else:
                    info.add_text("prompt", json.dumps({"3": {"class_type": "KSampler"}}))
                    info.add_text("workflow", json.dumps({"nodes": [], "links": []}))
            data = _encode(arr, fmt, info)
            if 0.25 <= roll < 0.45:  # labelled, a quarter of them watermarked
                data = synthlabel.label_bytes(
                    data, producer=PRODUCER, visible=False, watermark=roll < 0.30
                )[0]
            elif 0.45 <= roll < 0.50 and fmt != "webp":
                signer = signer or _signer()
                data = signer(data, "image/jpeg" if fmt == "jpg" else "image/png")
            name = f"{i:04d}.{fmt}"
            (WORK / name).write_bytes(data)
        elif kind in ("wav", "mp3"):
            secs = 2 + i % 4
            name = f"{i:04d}.{kind}"
            _ffmpeg(
                ["-f", "lavfi", "-i", f"sine=frequency={200 + i % 700}:duration={secs}"]
                + (["-ar", "22050"] if kind == "wav" else ["-b:a", "96k"]),
                WORK / name,
            )
            if i % 3 == 0:
                p = WORK / name
                p.write_bytes(synthlabel.label_bytes(p.read_bytes(), producer=PRODUCER)[0])
        elif kind == "mp4":
            name = f"{i:04d}.mp4"
            _ffmpeg(
                [*TESTSRC, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
                WORK / name,
            )
            if i % 3 == 0:
                p = WORK / name
                p.write_bytes(synthlabel.label_bytes(p.read_bytes(), producer=PRODUCER)[0])
        elif kind == "md":
            name = f"{i:04d}.md"
            body = f"# Note {i}\n\n" + "Some text about the weather. " * (20 + i % 200) + "\n"
            if i % 4 == 0:
                body += "\n本文由AI生成 (AI-generated).\n"
            (WORK / name).write_text(body, encoding="utf-8")
        else:
            name = f"{i:04d}.pdf"
            data = documents.pdf()
            if i % 2 == 0:
                data = synthlabel.label_bytes(data, producer=PRODUCER)[0]
            (WORK / name).write_bytes(data)
        names.append(name)
    manifest.write_text(json.dumps(names))
    return [WORK / x for x in names]


def _signer():  # type: ignore[no-untyped-def]
    import c2pa
    from tests.helpers.c2pa_ca import make_pki

    from synthlabel.formats._c2pa import c2pa_settings

    pki = make_pki()
    trained = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    definition = {
        "claim_generator_info": [{"name": "bench", "version": "1"}],
        "title": "bench",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": trained}]},
            }
        ],
    }

    def sign(data: bytes, mime: str) -> bytes:
        info = c2pa.C2paSignerInfo(pki.alg.encode(), pki.chain_pem, pki.signer_key_pem, None)
        signer = c2pa.Signer.from_info(info)
        ctx = c2pa.Context.from_dict(c2pa_settings())
        try:
            out = io.BytesIO()
            c2pa.Builder(definition, context=ctx).sign(signer, mime, io.BytesIO(data), out)
            return out.getvalue()
        finally:
            signer.close()
            ctx.close()

    return sign


# ---------------------------------------------------------------------------------- runners
def run_exiftool(paths: list[Path]) -> float:
    argfile = WORK / "args.txt"
    argfile.write_text("\n".join(str(p) for p in paths) + "\n")
    t0 = time.perf_counter()
    subprocess.run(
        ["exiftool", "-j", "-fast", "-@", str(argfile)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - t0


def run_c2pa(paths: list[Path]) -> tuple[float, int]:
    import c2pa

    from synthlabel.formats._c2pa import normalize_mime

    found = 0
    t0 = time.perf_counter()
    for p in paths:
        mime = normalize_mime(p.suffix.lstrip("."))
        if p.suffix == ".md":
            mime = "text/markdown"
        try:
            with open(p, "rb") as fh, c2pa.Reader(mime, fh) as reader:
                reader.json()
                found += 1
        except Exception:  # no manifest / unsupported type: what a caller would catch
            pass
    return time.perf_counter() - t0, found


def run_synthlabel(paths: list[Path], mode: str, workers: int) -> tuple[float, dict[str, int]]:
    from synthlabel.pipeline.inspecting import inspect_many

    opts = options(mode)
    t0 = time.perf_counter()
    reports = inspect_many(paths, opts, workers=workers)
    took = time.perf_counter() - t0
    verdicts: dict[str, int] = {}
    for r in reports:
        v = r.decision.verdict.value if r.decision else ("error" if r.error else "none")
        verdicts[v] = verdicts.get(v, 0) + 1
    return took, verdicts


def decode_only(path: str, _shared: object) -> int:
    """The floor under any content check: decode the file's pixels or samples and nothing
    else (Pillow for images, ffmpeg for audio and video, bytes for the rest)."""
    p = Path(path)
    if p.suffix in (".jpg", ".png", ".webp"):
        from PIL import Image

        with Image.open(p) as im:
            return int(np.asarray(im.convert("RGB")).size)
    if p.suffix in (".wav", ".mp3", ".mp4"):
        out = subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-i", str(p), "-f", "f32le", "-"],
            capture_output=True,
            check=False,
        )
        return len(out.stdout)
    return len(p.read_bytes())


def run_decode(paths: list[Path], workers: int) -> float:
    from synthlabel.pipeline.parallel import run_jobs

    t0 = time.perf_counter()
    run_jobs(decode_only, [str(p) for p in paths], None, workers=workers, min_parallel=16)
    return time.perf_counter() - t0


def options(mode: str):  # type: ignore[no-untyped-def]
    from synthlabel.pipeline.inspecting import InspectOptions

    if mode == "meta":
        return InspectOptions(detect=True, only=META_ONLY)
    if mode == "meta-cheap":
        return InspectOptions(detect=True, only=META_ONLY, max_cost="cheap")
    return InspectOptions(detect=True, watermarks=True)


def profile(paths: list[Path]) -> list[str]:
    from synthlabel.pipeline.inspecting import inspect_file

    opts = options("full")
    inspect_file(paths[0], opts)
    prof = cProfile.Profile()
    prof.enable()
    for p in paths:
        inspect_file(p, opts)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(28)
    return out.getvalue().splitlines()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--full-runs", type=int, default=3, help="runs of (d) (the slow one)")
    ap.add_argument("--profile", type=int, default=120)
    args = ap.parse_args()
    t0 = time.perf_counter()
    paths = build(args.n)
    print(f"corpus: {len(paths)} files ({time.perf_counter() - t0:.0f} s)", flush=True)
    size = sum(p.stat().st_size for p in paths)
    kinds: dict[str, int] = {}
    for p in paths:
        kinds[p.suffix] = kinds.get(p.suffix, 0) + 1
    cores = os.cpu_count() or 1
    times: dict[str, list[float]] = {}
    extra: dict[str, object] = {}
    for r in range(args.runs):
        times.setdefault("exiftool", []).append(run_exiftool(paths))
        took, found = run_c2pa(paths)
        times.setdefault("c2pa-python", []).append(took)
        extra["c2pa_manifests_read"] = found
        for w in (cores, 1):
            times.setdefault(f"decode-only/{w}", []).append(run_decode(paths, w))
        for mode in ("meta", "meta-cheap", "full"):
            if mode == "full" and r >= args.full_runs:
                continue
            for w in (cores, 1):
                key = f"{mode}/{w}"
                took, verdicts = run_synthlabel(paths, mode, w)
                times.setdefault(key, []).append(took)
                extra[f"verdicts/{mode}"] = verdicts
                print(f"run {r} {key}: {took:.1f} s", flush=True)
        print(f"run {r} exiftool {times['exiftool'][-1]:.1f} s, c2pa {took:.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: len(paths) / v for k, v in med.items()}
    prof = profile(paths[:: max(1, len(paths) // args.profile)]) if args.profile else []
    doc = {
        "files": len(paths),
        "bytes": size,
        "kinds": kinds,
        "cores": cores,
        "runs": times,
        "median_s": med,
        "files_per_s": rate,
        "ratio_to_exiftool": {k: rate[k] / rate["exiftool"] for k in rate},
        **extra,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "inspect.json").write_text(json.dumps(doc, indent=1))
    if prof:
        (RESULTS / "inspect-profile.txt").write_text("\n".join(prof) + "\n")
    for k in med:
        print(f"{k:16s} {med[k]:7.2f} s  {rate[k]:7.1f} files/s  x{rate[k] / rate['exiftool']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
