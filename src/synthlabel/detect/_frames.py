"""Video frames for OCR, decoded by ffmpeg: the one place the detector (``inspect --deep``) and
the conformance checks (``synthlabel assess``) read frames from.

Frames come upright (ffmpeg applies the stream's rotation), scaled so the long side is at most
:data:`MAX_SIDE` (even sizes), as RGB arrays.

:func:`decode_frames` seeks on the input (``-ss`` before ``-i``), which makes the first frame
at or after ``start`` the output's time 0; the ``fps`` filter then samples from there, so
frame ``k`` shows time ``start + k / fps``. (Giving the filter ``start_time=start`` as well, as
the detector once did, dropped every frame after a seek: the timestamps it saw began at 0.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from synthlabel.errors import MalformedInput

#: Frames are read with the long side scaled down to this.
MAX_SIDE = 1920
#: Never decode more than this many frames in one call.
MAX_FRAMES = 400

Frame = npt.NDArray[np.uint8]


def video_geometry(path: Path, fmt: str) -> tuple[tuple[int, int], float | None]:
    """(frame size as read: upright, long side <= MAX_SIDE, even; duration in seconds)."""
    from synthlabel.label import _ffmpeg as ff

    info = ff.probe(path, ff.demuxer_for(fmt), timeout=30.0)
    v = info.first("video")
    if v is None or v.width <= 0 or v.height <= 0:
        raise MalformedInput(f"{path}: no video stream to read")
    w, h = (v.height, v.width) if v.rotation in (90, 270) else (v.width, v.height)
    scale = min(1.0, MAX_SIDE / max(w, h))
    size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2))
    return size, info.duration or v.duration


def _split(raw: bytes, size: tuple[int, int], limit: int) -> list[Frame]:
    w, h = size
    n = w * h * 3
    count = min(limit, len(raw) // n)
    return [np.frombuffer(raw, np.uint8, n, i * n).reshape(h, w, 3) for i in range(count)]


def decode_frames(
    path: Path,
    fmt: str,
    size: tuple[int, int],
    *,
    start: float = 0.0,
    seconds: float,
    fps: float,
    limit: int | None = None,
    timeout: float = 120.0,
) -> list[tuple[float, Frame]]:
    """(time, frame) from ``start`` for ``seconds`` at ``fps`` frames per second, scaled to
    ``size``: ``limit`` frames (default ``round(seconds * fps)``, never more than
    :data:`MAX_FRAMES`), fewer when the video ends first."""
    from synthlabel.label import _ffmpeg as ff

    w, h = size
    limit = max(0, min(round(seconds * fps) if limit is None else limit, MAX_FRAMES))
    if limit == 0:
        return []
    seek = ("-ss", f"{start:.3f}") if start > 0 else ()
    proc = ff.run_ffmpeg(
        [
            *ff.input_args(path, ff.demuxer_for(fmt), *seek),
            "-map",
            "0:v:0",
            "-t",
            f"{seconds + 0.5 / fps:.3f}",
            "-vf",
            f"fps={fps:g}:start_time=0:round=up,scale={w}:{h}",
            "-frames:v",
            str(limit),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ],
        timeout=timeout,
        what=f"decoding video frames from {start:.2f} s",
    )
    return [(start + i / fps, fr) for i, fr in enumerate(_split(proc.stdout, size, limit))]


def frame_at(path: Path, fmt: str, t: float, size: tuple[int, int]) -> Frame | None:
    """The frame shown at ``t`` seconds, scaled to ``size`` (None past the end)."""
    from synthlabel.label import _ffmpeg as ff

    w, h = size
    seek = ("-ss", f"{t:.3f}") if t > 0 else ()
    proc = ff.run_ffmpeg(
        [
            *ff.input_args(path, ff.demuxer_for(fmt), *seek),
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
    frames = _split(proc.stdout, size, 1)
    return frames[0] if frames else None
