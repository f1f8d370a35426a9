"""Video caption benchmark: captioning vs ffmpeg's own re-encode with the same settings.

    python bench/bench_video_caption.py [--runs 3] [--seconds 60] [--size 1280x720] [--fps 30]

A deterministic clip (``testsrc2`` + a sine tone; H.264 CRF 23 "veryfast" + AAC 128 kbit/s in
MP4) is generated once under ``bench/work/video/``. Then, interleaved, ``--runs`` times each:

- ``caption``: :func:`synthlabel.label.video.render_video_caption` on the file bytes (write a
  temp file, probe, decode the opening frame, render the label, overlay + encode once, read
  back and probe the result);
- ``baseline``: the ffmpeg command line alone, re-encoding the same file to the same encoder
  arguments (:func:`synthlabel.label.video.video_encoder_args`: libx264, CRF 18, preset
  medium, VBV cap, same pixel format), audio copied, same muxer flags, no overlay.

Both wall-clock and CPU seconds (user + system, this process and its ffmpeg children) are
recorded; on a shared machine the CPU ratio is the stable one. ``ratio`` = median caption /
median baseline (goal <= 1.1). Results:
bench/results/video_caption.json and bench/results/video_caption.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from synthlabel.label import _ffmpeg as ff  # noqa: E402
from synthlabel.label.video import (  # noqa: E402
    VideoCaptionOptions,
    render_video_caption,
    video_encoder_args,
)

RESULTS = ROOT / "results"
WORK = ROOT / "work" / "video"


def make_clip(path: Path, seconds: int, size: str, fps: int) -> None:
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            ff.tool("ffmpeg"),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s={size}:r={fps}:d={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=f=440:d={seconds}:r=48000",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-shortest",
            str(path),
        ],
        check=True,
    )


def baseline_argv(src: Path, out: Path, options: VideoCaptionOptions) -> list[str]:
    """ffmpeg re-encoding ``src`` with exactly the encoder settings the caption run uses."""
    info = ff.probe(src, "mov")
    v = info.first("video")
    assert v is not None
    br = v.bit_rate
    vargs, _encoder, _how, _notes = video_encoder_args(v, br, options)
    den = v.time_base.partition("/")[2]
    return [
        ff.tool("ffmpeg"),
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-f",
        "mov",
        "-i",
        str(src),
        "-map",
        "0:v:0",
        "-map",
        "0:a?",
        *vargs,
        "-c:a",
        "copy",
        "-fps_mode:v:0",
        "passthrough",
        "-map_metadata",
        "0",
        "-f",
        "mp4",
        "-video_track_timescale",
        den,
        "-y",
        str(out),
    ]


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args()
    clip = WORK / f"clip_{args.size}_{args.fps}_{args.seconds}s.mp4"
    make_clip(clip, args.seconds, args.size, args.fps)
    data = clip.read_bytes()
    options = VideoCaptionOptions()
    base_out = WORK / "baseline.mp4"
    argv = baseline_argv(clip, base_out, options)
    caption_s: list[float] = []
    baseline_s: list[float] = []
    result = None
    caption_cpu: list[float] = []
    baseline_cpu: list[float] = []
    for _ in range(args.runs):
        c, t = cpu_seconds(), time.perf_counter()
        subprocess.run(argv, check=True)
        baseline_s.append(time.perf_counter() - t)
        baseline_cpu.append(cpu_seconds() - c)
        c, t = cpu_seconds(), time.perf_counter()
        result = render_video_caption(data, "mp4", options)
        caption_s.append(time.perf_counter() - t)
        caption_cpu.append(cpu_seconds() - c)
    assert result is not None
    (WORK / "captioned.mp4").write_bytes(result.data)
    cap_med, base_med = statistics.median(caption_s), statistics.median(baseline_s)
    cap_cpu, base_cpu = statistics.median(caption_cpu), statistics.median(baseline_cpu)
    major, minor = ff.ffmpeg_version()
    doc: dict[str, Any] = {
        "clip": {
            "seconds": args.seconds,
            "size": args.size,
            "fps": args.fps,
            "bytes": len(data),
            "codec": "h264 crf 23 veryfast + aac 128k",
        },
        "settings": result.crf_or_bitrate,
        "encoder": result.encoder,
        "runs": args.runs,
        "caption_s": [round(x, 3) for x in caption_s],
        "baseline_s": [round(x, 3) for x in baseline_s],
        "caption_median_s": round(cap_med, 3),
        "baseline_median_s": round(base_med, 3),
        "ratio": round(cap_med / base_med, 3),
        "caption_cpu_s": [round(x, 3) for x in caption_cpu],
        "baseline_cpu_s": [round(x, 3) for x in baseline_cpu],
        "caption_cpu_median_s": round(cap_cpu, 3),
        "baseline_cpu_median_s": round(base_cpu, 3),
        "cpu_ratio": round(cap_cpu / base_cpu, 3),
        "caption_fps": round(args.seconds * args.fps / cap_med, 1),
        "output_bytes": len(result.data),
        "baseline_bytes": base_out.stat().st_size,
        "text_px": result.text_px,
        "box": list(result.box),
        "machine": {
            "python": platform.python_version(),
            "ffmpeg": f"{major}.{minor}",
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "video_caption.json").write_text(json.dumps(doc, indent=2) + "\n")
    md = [
        "# Video caption benchmark",
        "",
        f"Python {doc['machine']['python']}, ffmpeg {doc['machine']['ffmpeg']}, "
        f"{doc['machine']['cpus']} CPUs (shared). Median of {args.runs} interleaved runs.",
        "",
        f"Clip: {args.seconds} s {args.size} {args.fps} fps testsrc2, H.264 CRF 23 veryfast + "
        f"AAC 128 kbit/s ({len(data) / 1e6:.1f} MB). *caption* = `render_video_caption` "
        "end to end (temp file, probe, opening frame, label PNG, overlay + one encode, "
        "read-back probe); *baseline* = the same ffmpeg encode (same encoder arguments, audio "
        "copied, same muxer) without the overlay.",
        "",
        "| settings | measure | caption s | baseline s | ratio |",
        "|---|---|---:|---:|---:|",
        f"| {result.encoder} {result.crf_or_bitrate} | wall clock | {cap_med:.2f} | "
        f"{base_med:.2f} | {cap_med / base_med:.3f} |",
        f"| | CPU (user+sys) | {cap_cpu:.2f} | {base_cpu:.2f} | {cap_cpu / base_cpu:.3f} |",
        "",
        f"Output {len(result.data) / 1e6:.2f} MB (baseline {base_out.stat().st_size / 1e6:.2f} "
        f"MB); caption throughput {doc['caption_fps']} frames/s wall clock.",
        "",
        f"Runs (s): caption {doc['caption_s']}, baseline {doc['baseline_s']}; CPU caption "
        f"{doc['caption_cpu_s']}, baseline {doc['baseline_cpu_s']}. "
        f"Caption text height {result.text_px} px (>= 5 % of {args.size.split('x')[1]} px).",
        "",
    ]
    (RESULTS / "video_caption.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
