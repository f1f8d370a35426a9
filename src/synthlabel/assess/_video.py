"""How long a video caption stays on screen from the start, measured on decoded frames.

The OCR detector finds the caption on the opening frames and gives its box; here the first
``seconds`` of the video are decoded at ``fps`` frames per second (ffmpeg's ``fps`` filter:
frame k shows time k/fps), scaled to the size the detector read, and the caption's box is
read again on every frame (recognition only, a few milliseconds each). The caption is shown
on the run of frames from the first one that reads both elements to the last one before two
consecutive frames that do not (a single unreadable frame is taken for an OCR miss):
``shown_s`` = frames in the run / fps (exact for captions whose end falls on a sampled
instant, at most 1/fps long otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthlabel.detect import _ocr
from synthlabel.detect._ocr import Box

#: Never decode more than this many frames for one measurement.
MAX_FRAMES = 400
#: Frames are read with the long side scaled down to this (as the OCR detector does).
MAX_SIDE = 1920


@dataclass(frozen=True)
class VideoRun:
    first_seen_s: float | None  # first sampled time the caption reads; None: never
    shown_s: float  # length of the run from first_seen_s
    sampled_s: float  # how much of the video was read
    fps: float
    duration_s: float | None  # the video's duration, when known
    until_end: bool  # the run lasts until the last decoded frame of a video that ended
    frames: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_seen_s": self.first_seen_s,
            "shown_s": round(self.shown_s, 3),
            "sampled_s": round(self.sampled_s, 3),
            "sample_fps": self.fps,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "frames_read": self.frames,
        }


def _frames(
    path: Path, fmt: str, size: tuple[int, int], seconds: float, fps: float
) -> tuple[list[np.ndarray], float | None]:
    from synthlabel.label import _ffmpeg as ff

    demuxer = ff.demuxer_for(fmt)
    info = ff.probe(path, demuxer, timeout=30.0)
    w, h = size
    limit = min(MAX_FRAMES, round(seconds * fps))
    proc = ff.run_ffmpeg(
        [
            *ff.input_args(path, demuxer),
            "-map",
            "0:v:0",
            "-t",
            f"{seconds + 0.5 / fps:.3f}",
            "-vf",
            f"fps={fps:g},scale={w}:{h}",
            "-frames:v",
            str(limit),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ],
        timeout=120.0,
        what="decoding the opening frames",
    )
    n = w * h * 3
    raw = proc.stdout
    frames = [np.frombuffer(raw, np.uint8, n, i * n).reshape(h, w, 3) for i in range(len(raw) // n)]
    v = info.first("video")
    duration = info.duration or (v.duration if v is not None else None)
    return frames, duration


def video_geometry(path: Path, fmt: str) -> tuple[tuple[int, int], float | None]:
    """(frame size as read: upright, long side <= MAX_SIDE, even; duration in seconds)."""
    from synthlabel.errors import MalformedInput
    from synthlabel.label import _ffmpeg as ff

    info = ff.probe(path, ff.demuxer_for(fmt), timeout=30.0)
    v = info.first("video")
    if v is None or v.width <= 0 or v.height <= 0:
        raise MalformedInput(f"{path}: no video stream to read")
    w, h = (v.height, v.width) if v.rotation in (90, 270) else (v.width, v.height)
    scale = min(1.0, MAX_SIDE / max(w, h))
    size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
    return size, info.duration or v.duration


def frame_at(path: Path, fmt: str, t: float, size: tuple[int, int]) -> np.ndarray | None:
    """The frame shown at ``t`` seconds, scaled to ``size`` (None past the end)."""
    from synthlabel.label import _ffmpeg as ff

    w, h = size
    proc = ff.run_ffmpeg(
        [
            *ff.input_args(path, ff.demuxer_for(fmt), "-ss", f"{t:.3f}"),
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-vf",
            f"scale={w}:{h}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ],
        timeout=60.0,
        what=f"decoding the frame at {t:.2f} s",
    )
    n = w * h * 3
    if len(proc.stdout) < n:
        return None
    return np.frombuffer(proc.stdout, np.uint8, n).reshape(h, w, 3)


def shows(frame: np.ndarray, box: Box) -> bool:
    """Whether the caption's place in ``frame`` reads both elements."""
    text = "".join(b.text for b in _ocr.ocr_crop(frame, box))
    return _ocr.elements(text).both


def caption_run(
    path: Path, fmt: str, box: Box, size: tuple[int, int], *, seconds: float, fps: float = 10.0
) -> VideoRun:
    """Measure how long the caption at ``box`` (in a frame of ``size``) is shown from the start,
    reading the first ``seconds`` of the video at ``fps``."""
    frames, duration = _frames(path, fmt, size, seconds, fps)
    first: int | None = None
    last = -1
    misses = 0
    for i, fr in enumerate(frames):
        if shows(fr, box):
            if first is None:
                first = i
            last, misses = i, 0
        elif first is not None:
            misses += 1  # one unreadable frame inside the run is an OCR miss, two end it
            if misses >= 2:
                break
    run = 0 if first is None else last - first + 1
    ended = duration is not None and len(frames) < round(seconds * fps)
    until_end = first is not None and ended and last == len(frames) - 1
    return VideoRun(
        first_seen_s=None if first is None else round(first / fps, 3),
        shown_s=run / fps,
        sampled_s=len(frames) / fps,
        fps=fps,
        duration_s=duration,
        until_end=until_end,
        frames=len(frames),
    )
