"""How long a video caption stays on screen from the start, measured on decoded frames.

The OCR detector finds the caption on the opening frames and gives its box; here the first
``seconds`` of the video are decoded at ``fps`` frames per second (frame k shows time k/fps;
the decoding is the detector's, :mod:`synthlabel.detect._frames`), scaled to the size the
detector read, and the caption's box is read again on every frame (recognition only, a few
milliseconds each). The caption is shown
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
from synthlabel.detect._frames import decode_frames, video_geometry
from synthlabel.detect._ocr import Box


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


def shows(frame: np.ndarray, box: Box) -> bool:
    """Whether the caption's place in ``frame`` reads both elements."""
    text = "".join(b.text for b in _ocr.ocr_crop(frame, box))
    return _ocr.elements(text).both


def caption_run(
    path: Path, fmt: str, box: Box, size: tuple[int, int], *, seconds: float, fps: float = 10.0
) -> VideoRun:
    """Measure how long the caption at ``box`` (in a frame of ``size``) is shown from the start,
    reading the first ``seconds`` of the video at ``fps``."""
    _size, duration = video_geometry(path, fmt)
    frames = [fr for _t, fr in decode_frames(path, fmt, size, seconds=seconds, fps=fps)]
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
