"""Video attacks through ffmpeg: H.264/H.265 re-encodes, scaling, frame-rate change, trims,
metadata stripping. File-level only (video never fits the in-memory form)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synthlabel.assess.attacks.base import Attack, AttackError, AttackSet, ffmpeg

_X265_QUIET = ["-x265-params", "log-level=error"]


def reencode_args(
    *,
    codec: str = "libx264",
    crf: int = 23,
    preset: str | None = "veryfast",
    scale: float | None = None,
    fps: float | None = None,
    start: float | None = None,
    duration: float | None = None,
    input_seek: bool = False,
    audio: str = "copy",
) -> tuple[list[str], list[str]]:
    """(input options, output options) of a re-encode. ``scale`` multiplies both sides
    (rounded down to even); ``start``/``duration`` cut an excerpt, seeking on the input side
    when ``input_seek`` (fast, keyframe-bound) or the output side (frame-accurate);
    ``audio``: ``copy``, ``aac`` or ``none``."""
    pre: list[str] = []
    out: list[str] = []
    if start:
        (pre if input_seek else out).extend(["-ss", f"{start:g}"])
    if duration:
        out += ["-t", f"{duration:g}"]
    if scale:
        out += ["-vf", f"scale=trunc(iw*{scale:g}/2)*2:trunc(ih*{scale:g}/2)*2"]
    if fps:
        out += ["-r", f"{fps:g}"]
    out += ["-c:v", codec]
    if preset:
        out += ["-preset", preset]
    out += ["-crf", str(crf)]
    if codec == "libx265":
        out += _X265_QUIET
    out += {"copy": ["-c:a", "copy"], "aac": ["-c:a", "aac", "-b:a", "128k"], "none": ["-an"]}[
        audio
    ]
    return pre, out


def _run_reencode(src: Path, base: Path, rng: np.random.Generator, **p: Any) -> Path:
    dest = base.with_name(base.name + ".mp4")
    pre, args = reencode_args(**p)
    try:
        return ffmpeg(src, dest, args, pre=pre)
    except AttackError:
        if p.get("audio", "copy") != "copy":
            raise
        # an audio codec MP4 cannot hold (Vorbis from a WebM): transcode the audio instead
        pre, args = reencode_args(**{**p, "audio": "aac"})
        return ffmpeg(src, dest, args, pre=pre)


def _run_strip(src: Path, base: Path, rng: np.random.Generator, **_: Any) -> Path:
    dest = base.with_name(base.name + (src.suffix.lower() or ".mp4"))
    args = ["-map", "0", "-map_metadata", "-1", "-c", "copy", "-fflags", "+bitexact"]
    return ffmpeg(src, dest, args)


def reencode_attack(
    attack_id: str, description: str, *, family: str = "codec", **params: Any
) -> Attack:
    """A re-encode with :func:`reencode_args` parameters; writes MP4."""
    return Attack(attack_id, "video", description, _run_reencode, params, None, family)


ATTACKS = AttackSet(
    "synthlabel-video",
    (
        Attack(
            "video.strip", "video",
            "metadata strip: remux without global tags (streams copied)",
            _run_strip, {}, None, "metadata",
        ),
        reencode_attack("video.h264_crf23", "H.264 CRF 23 re-encode", crf=23),
        reencode_attack("video.h264_crf28", "H.264 CRF 28 re-encode", crf=28),
        reencode_attack(
            "video.h265_crf28", "H.265 CRF 28 re-encode", codec="libx265", crf=28
        ),
        reencode_attack(
            "video.scale_half", "half resolution, H.264 CRF 23", scale=0.5, family="geometry"
        ),
        reencode_attack(
            "video.fps24", "frame rate to 24 fps, H.264 CRF 23", fps=24.0, family="geometry"
        ),
        reencode_attack(
            "video.trim", "excerpt from 1 s, 2 s long, H.264 CRF 23", start=1.0, duration=2.0,
            family="geometry",
        ),
        reencode_attack(
            "video.combo", "excerpt from 0.5 s + half resolution + H.264 CRF 28", start=0.5,
            scale=0.5, crf=28, family="composite",
        ),
    ),
)  # fmt: skip
