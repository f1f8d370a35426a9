"""Audio/video metadata benchmark: implicit labelling throughput against a plain file copy.

    python bench/bench_av_metadata.py [--runs 3] [--minutes 10] [--video-seconds 60]

Generates (ffmpeg, under bench/work/av/, not committed) a 10-minute WAV, MP3 and FLAC and a
60 s 1080p MP4 and MKV, then measures per file (median of --runs):

- label: ``label_file`` with ``--no-visible`` (read, sniff, parse, record, write the native
  carrier losslessly, verify-after-write, atomic write with fsync);
- copy: the baseline in the same run, a plain read + atomic write of the same bytes.

Goal: label within 2x of the copy. Results: bench/results/av_metadata.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "work" / "av"
RESULTS = ROOT / "results"
PRODUCER = "001191110000MA0000000H10001"


def generate(minutes: float, video_seconds: float) -> list[Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    ff = shutil.which("ffmpeg")
    if not ff:
        raise SystemExit("ffmpeg is required (make install puts it in place)")
    secs = str(int(minutes * 60))
    tone = [
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:duration={secs}:sample_rate=44100",
        "-ac",
        "2",
    ]
    video = [
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=1920x1080:rate=30:duration={video_seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=330:duration={video_seconds}",
    ]
    recipes = {
        "long.wav": [*tone, "-c:a", "pcm_s16le"],
        "long.mp3": [*tone, "-b:a", "192k"],
        "long.flac": [*tone],
        "hd.mp4": [
            *video,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "8M",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
        ],
    }
    out = []
    for name, args in recipes.items():
        p = WORK / name
        if not p.exists():
            print(f"generating {name} ...", flush=True)
            subprocess.run([ff, "-v", "error", "-y", *args, str(p)], check=True)
        out.append(p)
    mkv = WORK / "hd.mkv"
    if not mkv.exists():
        subprocess.run(
            [ff, "-v", "error", "-y", "-i", str(WORK / "hd.mp4"), "-c", "copy", str(mkv)],
            check=True,
        )
    out.append(mkv)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--video-seconds", type=float, default=60)
    args = ap.parse_args()

    from synthlabel.pipeline.io import atomic_write, read_file
    from synthlabel.pipeline.labeling import LabelOptions, label_file

    files = generate(args.minutes, args.video_seconds)
    tmp = Path(tempfile.mkdtemp(prefix="synthlabel-avbench-"))
    opts = LabelOptions(producer=PRODUCER, visible=False)
    rows = []
    for f in files:
        mb = f.stat().st_size / 1e6
        t_label, t_copy = [], []
        for _ in range(args.runs):  # interleaved, so load changes hit both alike
            t0 = time.perf_counter()
            atomic_write(tmp / ("copy-" + f.name), read_file(f), like=f)
            t_copy.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            r = label_file(f, tmp / f.name, opts)
            t_label.append(time.perf_counter() - t0)
            if r.error:
                raise SystemExit(r.error)
        ml, mc = statistics.median(t_label), statistics.median(t_copy)
        rows.append(
            {
                "file": f.name,
                "mb": round(mb, 1),
                "label_s": ml,
                "copy_s": mc,
                "label_mb_s": mb / ml,
                "copy_mb_s": mb / mc,
                "ratio": ml / mc,
                "runs_label": t_label,
                "runs_copy": t_copy,
            }
        )
        print(
            f"{f.name}: label {mb / ml:.0f} MB/s, copy {mb / mc:.0f} MB/s, ratio {ml / mc:.2f}",
            flush=True,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "av_metadata.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "# Audio/video metadata benchmark",
        "",
        f"Median of {args.runs} interleaved runs, 2 cores (shared). Command: "
        "`python bench/bench_av_metadata.py`. label = implicit record only (`--no-visible`), "
        "verify-after-write and fsync included; copy = read + atomic write of the same bytes.",
        "",
        "| file | MB | label MB/s | copy MB/s | label / copy | goal |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['mb']} | {r['label_mb_s']:.0f} | {r['copy_mb_s']:.0f} "
            f"| {r['ratio']:.2f} | ≤ 2 |"
        )
    (RESULTS / "av_metadata.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT.parent / "src"))
    raise SystemExit(main())
