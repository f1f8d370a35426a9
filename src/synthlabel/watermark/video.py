"""``sl-vid-1``: a frame-relative spread-spectrum luma mark, streamed, voted over frames.

Design
------
**One static pattern for the whole video.** The mark is a grid of *chips* laid over the frame
in frame-relative coordinates: :data:`GRID_SHORT` chips along the short side and
``round(GRID_SHORT * long / short)`` along the long side (36 x 64 for 16:9: a chip is 20 px at
720p, 10 px at 360p). Every chip holds ``a * S + b * PN * c`` with ``S`` a keyed +-1 pilot,
``PN`` keyed +-1 spreading signs and ``c`` one of the 258 channel bits of
:func:`synthlabel.watermark._ecc.frame` (64 payload bits + CRC-16, rate-1/3 K=7 convolutional
code), each bit spread over ~9 chips by a keyed permutation. Chips are rendered with a smooth
raised-cosine interpolation (``A_y @ chips @ A_x.T``), *once per resolution*; each frame then
only gets ``pattern * gain`` added to its Y plane (chroma bytes pass through untouched).

* The same pattern in every frame is the temporal redundancy: trimming to any excerpt,
  frame-rate changes (dropped, duplicated, blended frames) and cuts keep it, and inter-frame
  codecs keep it too (P/B frames predict a static pattern from their reference instead of
  re-quantising it away).
* Frame-relative chips make scaling a non-event: a half-resolution copy has the same grid in
  the same place, so no synchronisation search is needed (and none is paid for in the p-value).
* The chips are coarse on purpose: the image watermark's luma pattern (``sl-img-1``, 128 chips
  on the short side, 2.8 px at 360p) was tried first through its ``luma_embedder``/``read_luma``
  API; after H.264 CRF 28 its sync z-score fell from 12.7 to 4.3 and nothing decoded. Coarse
  chips survive the quantiser and downscaling (bench/results/wm_video.md has the numbers).
* Gain: ``sqrt(activity^2 + FLOOR^2)`` with a high floor, so the mark is nearly uniform with a
  boost on strong texture and edges, normalised per frame to :data:`TARGET_PSNR`. Flat regions
  (synthetic video has many) are where the reader sees the mark best after whitening;
  measured, a texture-only mask lost 40 % of the post-CRF-28 signal. A clipping guard shifts
  the delta away from 0/255 where the frame comes close.

**Reading** (:class:`_Reader`): ffmpeg decodes the first ``max_seconds`` of the displayed
video, keeps about :data:`SAMPLE_FPS` frames per second and area-scales them to
:data:`READ_PX` pixels per chip in grey. Each frame is whitened (luminance minus a local mean,
divided by the local deviation, clipped), integrated over each chip with the adjoint of the
rendering, high-passed on the chip grid (minus the mean of the 8 neighbours) and normalised;
the frames are summed (soft voting: the mark adds coherently, moving host content and codec
noise do not), then limited to +-2 median magnitudes so text edges and scene cuts cannot
dominate.

**Decision**: the pilot correlation ``z = <R, S> / ||R||`` is a Rademacher sum in the keyed
pilot for an unmarked input, so Hoeffding's inequality bounds its tail exactly
(``P[z >= t] <= exp(-t^2 / 2)``, no Gaussian assumption). The data chips give soft bits for one
soft-Viterbi decode and a CRC-16 check (a decoded word of an unmarked input passes it with
probability 2^-16, independent of the pilot since ``PN`` and ``S`` are independent keys). The
reported p-value is ``exp(-z^2/2) * 2^-16 * looks`` (``looks``: the early-stop checkpoints, a
Bonferroni correction); ``present`` needs the CRC and ``p <= DEFAULT_P_THRESHOLD``.

Streaming (:meth:`VideoMark.embed_file`): one ffmpeg decodes the first video stream to raw
planar YUV on a pipe (the source's own 8-bit planar format when it has one, else
``yuv420p``), Python changes the Y plane of one frame at a time, and a second ffmpeg encodes
it and copies audio, subtitles, attachments, chapters and metadata from the source
(``-map 1:a? -c:a copy``). Both run concurrently with the numpy work; memory is a few frames.
The output goes to a temporary file next to ``dest`` and is renamed over it. Every ffmpeg has
a watchdog timeout.

Output: the container of ``dest`` (by its suffix: .mp4/.m4v, .mov, .mkv, .webm; another
suffix keeps the source's container). The codec family of the source is kept where the
container allows it: H.264 -> libx264 CRF :data:`DEFAULT_CRF` (``veryfast``), HEVC -> libx265
CRF :data:`X265_CRF`, VP9 (and VP8, AV1 in WebM) -> libvpx-vp9 CRF :data:`VP9_CRF`; anything
else (MPEG-4 part 2, ProRes, MJPEG, AV1 outside WebM) -> libx264. Audio is copied when the
output container can hold it, else re-encoded (Opus for WebM, AAC otherwise) with a note.
Resolution, frame rate, 8-bit planar pixel format and colour tags are kept; a variable-rate
source is re-timed to constant rate; a rotated source is stored upright.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from synthlabel.watermark import _ecc
from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    Detection,
    WatermarkCapacityError,
    WatermarkError,
    absent,
)
from synthlabel.watermark.payload import bits_to_bytes, bytes_to_bits

__all__ = [
    "ALGORITHM",
    "DEFAULT_CRF",
    "DETECT_SECONDS",
    "GRID_SHORT",
    "MIN_FRAMES",
    "MIN_SIDE",
    "SAMPLE_FPS",
    "VideoMark",
    "grid_shape",
    "open_source",
    "render_pattern",
]

ALGORITHM_ID = "sl-vid-1"
PAYLOAD_BITS = 64
CRC_WIDTH = 16
CODED_BITS = _ecc.coded_length(PAYLOAD_BITS + CRC_WIDTH)  # 258
_KEY = b"synthlabel/sl-vid-1/v1"

#: Chips along the short side of the frame (the long side gets the same chip pitch).
GRID_SHORT = 36
#: Energy of the pilot; the data gets the rest (a^2 + b^2 = 1).
PILOT_AMP = math.sqrt(0.1)
DATA_AMP = math.sqrt(0.9)
#: Luma PSNR of the mark itself (before encoding) at strength 1.
TARGET_PSNR = 43.0
#: Gain floor (grey levels of local activity below which the gain is flat).
GAIN_FLOOR = 24.0
#: Smallest short side (pixels) that can be marked: chips of ~3.5 px and more.
MIN_SIDE = 128
#: Smallest short side the detector reads (a half-size copy of a MIN_SIDE video reads fine).
MIN_READ_SIDE = 36
#: A video needs at least this many frames (one picture is the image watermark's job).
MIN_FRAMES = 10
#: Strength factors of the embed's read-back check: as asked, then 3 dB stronger.
SELF_CHECK_GAINS = (1.0, 1.41)
#: How much of the output the read-back check reads (the detector's default window).
SELF_CHECK_SECONDS = 10.0

#: x264 constant-quality setting of the marked output (18: visually transparent).
DEFAULT_CRF = 18
DEFAULT_PRESET = "veryfast"
X265_CRF = 20
VP9_CRF = 24

#: Detection reads the first this many seconds by default.
DETECT_SECONDS = 10.0
#: Frames per second the detector samples (every frame of a low-rate source).
SAMPLE_FPS = 10.0
#: Reading resolution: pixels per chip after the detector's downscale.
READ_PX = 4
#: Sampled frames after which the detector may stop early (plus the final look).
CHECKPOINTS = (30,)
#: Stop early once the (look-corrected) p-value is below this.
EARLY_STOP_P = 1e-12

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

# 8-bit planar YUV formats passed through as they are: (chroma width divisor, height divisor)
_PLANAR = {
    "yuv420p": (2, 2),
    "yuvj420p": (2, 2),
    "yuv422p": (2, 1),
    "yuvj422p": (2, 1),
    "yuv444p": (1, 1),
    "yuvj444p": (1, 1),
    "yuv440p": (1, 2),
    "yuvj440p": (1, 2),
    "yuv411p": (4, 1),
    "yuv410p": (4, 4),
}
_X264_PIX = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}
_X265_PIX = {"yuv420p", "yuv422p", "yuv444p"}
_VP9_PIX = {"yuv420p", "yuv422p", "yuv440p", "yuv444p"}

_Container = Literal["mp4", "mov", "matroska", "webm"]
_SUFFIX: dict[str, _Container] = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".qt": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
}
# audio codecs each output container takes as they are (Matroska takes everything)
_AUDIO_OK: dict[str, set[str] | None] = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac", "mp2"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_s16be", "mp2"},
    "matroska": None,
    "webm": {"opus", "vorbis"},
}


# ---------------------------------------------------------------------------------------------
# The pattern


def _rng(label: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(_KEY + b"/" + label.encode()).digest()[:8], "big")
    return np.random.default_rng(seed)


def grid_shape(height: int, width: int) -> tuple[int, int]:
    """Chip rows and columns for a frame of this size (frame-relative, same for any scale)."""
    if height <= 0 or width <= 0:
        raise WatermarkError(f"bad frame size {width}x{height}")
    if height <= width:
        return GRID_SHORT, max(GRID_SHORT, round(GRID_SHORT * width / height))
    return max(GRID_SHORT, round(GRID_SHORT * height / width)), GRID_SHORT


@dataclass(frozen=True)
class _Keys:
    pilot: F64  # (ny, nx) +-1
    pn: F64  # (ny, nx) +-1
    bit_of_chip: npt.NDArray[np.intp]  # (ny, nx) channel bit index of each chip


@functools.lru_cache(maxsize=16)
def _keys(ny: int, nx: int) -> _Keys:
    n = ny * nx
    if n < 4 * CODED_BITS:
        raise WatermarkCapacityError(f"a {nx}x{ny} chip grid is too small for {CODED_BITS} bits")
    tag = f"{ny}x{nx}"
    pilot = _rng("pilot/" + tag).choice([-1.0, 1.0], size=(ny, nx))
    pn = _rng("pn/" + tag).choice([-1.0, 1.0], size=(ny, nx))
    bit = (_rng("perm/" + tag).permutation(n) % CODED_BITS).reshape(ny, nx).astype(np.intp)
    return _Keys(pilot, pn, bit)


def _interp_matrix(n_px: int, n_chips: int) -> F64:
    """(n_px, n_chips) raised-cosine weights: chip ``k`` centred at ``(k + 0.5) * n_px / n``.

    A smooth (C1) partition of unity between neighbouring chip centres, clamped at the borders;
    defined relative to the frame, so a scaled frame gets the scaled pattern.
    """
    u = (np.arange(n_px, dtype=np.float64) + 0.5) * (n_chips / n_px) - 0.5
    k0 = np.floor(u)
    f = u - k0
    w0 = 0.5 * (1.0 + np.cos(np.pi * f))
    a = np.zeros((n_px, n_chips), dtype=np.float64)
    rows = np.arange(n_px)
    k = k0.astype(np.int64)
    np.add.at(a, (rows, np.clip(k, 0, n_chips - 1)), w0)
    np.add.at(a, (rows, np.clip(k + 1, 0, n_chips - 1)), 1.0 - w0)
    return a


def _chip_values(payload: bytes, keys: _Keys) -> F64:
    if not isinstance(payload, (bytes, bytearray)) or len(payload) != PAYLOAD_BITS // 8:
        n = len(payload) if isinstance(payload, (bytes, bytearray)) else type(payload).__name__
        raise WatermarkError(
            f"{ALGORITHM_ID} payload must be {PAYLOAD_BITS // 8} bytes ({PAYLOAD_BITS} bits), "
            f"got {n}"
        )
    coded = _ecc.frame(bytes_to_bits(bytes(payload), PAYLOAD_BITS), CRC_WIDTH)
    signs = 2.0 * coded.astype(np.float64)[keys.bit_of_chip] - 1.0
    out: F64 = PILOT_AMP * keys.pilot + DATA_AMP * keys.pn * signs
    return out


def render_pattern(height: int, width: int, payload: bytes) -> F32:
    """The unit-amplitude mark pattern at ``height`` x ``width`` (float32)."""
    if min(height, width) < MIN_SIDE:
        raise WatermarkCapacityError(
            f"frames of {width}x{height} are too small for a {PAYLOAD_BITS}-bit video watermark "
            f"(the short side needs at least {MIN_SIDE} px)"
        )
    ny, nx = grid_shape(height, width)
    chips = _chip_values(payload, _keys(ny, nx))
    out: F32 = (_interp_matrix(height, ny) @ chips @ _interp_matrix(width, nx).T).astype(np.float32)
    return out


class _FrameMarker:
    """Adds the pattern to Y planes of one size at video rate (~5 ms per 720p frame).

    The pattern is rendered once; per frame, the gain (local activity with a high floor, see
    the module docstring) is computed on a copy area-downscaled by an integer factor to a short
    side of about 180 px, upsampled bilinearly and normalised so that the delta lands at the
    target PSNR. The clipping guard only runs on frames whose luma comes close to 0 or 255.
    """

    def __init__(self, height: int, width: int, payload: bytes, strength: float) -> None:
        self.h, self.w = height, width
        self.pattern = render_pattern(height, width, payload)
        self.target = 255.0 * 10.0 ** (-TARGET_PSNR / 20.0) * strength
        k = max(1, min(height, width) // 180)
        self.k = k
        self.crop = (height - height % k, width - width % k)
        self.low = (self.crop[1] // k, self.crop[0] // k)  # cv2 (w, h)
        p2 = np.ascontiguousarray(self.pattern[: self.crop[0], : self.crop[1]] ** 2)
        self.p2_low = cv2.resize(p2, self.low, interpolation=cv2.INTER_AREA)
        self.peak = float(np.max(np.abs(self.pattern))) or 1.0

    def __call__(self, y: U8) -> U8:
        ch, cw = self.crop
        ys = cv2.resize(y[:ch, :cw], self.low, interpolation=cv2.INTER_AREA).astype(np.float32)
        hp = ys - cv2.GaussianBlur(ys, (0, 0), 1.0)
        act2 = cv2.GaussianBlur(hp * hp, (0, 0), 2.5)
        g = np.sqrt(act2 + GAIN_FLOOR * GAIN_FLOOR)
        rms = math.sqrt(float(np.mean(self.p2_low * g * g))) or 1.0
        g *= self.target / rms
        reach = 2.0 * self.peak * float(g.max())
        gain = cv2.resize(g, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        d = self.pattern * gain
        if float(ys.min()) < reach or float(ys.max()) > 255.0 - reach:
            env = 2.0 * self.peak * g
            hi = np.clip(ys + env - 255.0, 0.0, None)
            lo = np.clip(env - ys, 0.0, None)
            shift = cv2.GaussianBlur(lo - hi, (0, 0), 2.0)
            d += cv2.resize(shift, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        out: U8 = np.asarray(cv2.add(y, d, dtype=cv2.CV_8U), dtype=np.uint8)
        return out


# ---------------------------------------------------------------------------------------------
# Reading


class _Reader:
    """Accumulates whitened chip readings of grey frames at READ_PX pixels per chip."""

    def __init__(self, ny: int, nx: int) -> None:
        self.ny, self.nx = ny, nx
        self.keys = _keys(ny, nx)
        self.ay = _interp_matrix(ny * READ_PX, ny)
        self.ax = _interp_matrix(nx * READ_PX, nx)
        self.norm = np.outer(self.ay.sum(axis=0), self.ax.sum(axis=0))
        self.acc = np.zeros((ny, nx), dtype=np.float64)
        self.frames = 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) the frames are read at."""
        return self.nx * READ_PX, self.ny * READ_PX

    def add(self, y: U8) -> None:
        yf = y.astype(np.float32)
        hp = yf - cv2.GaussianBlur(yf, (0, 0), 1.5 * READ_PX)
        dev = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 1.0 * READ_PX))
        r = np.clip(hp / (dev + 0.5), -2.0, 2.0).astype(np.float64)
        c = self.ay.T @ r @ self.ax / self.norm
        nb = cv2.blur(c, (3, 3), borderType=cv2.BORDER_REFLECT) * 9.0 - c
        c = c - nb / 8.0
        sd = float(np.std(c))
        if sd > 1e-9:
            self.acc += c / sd
        self.frames += 1

    def evidence(self) -> tuple[float, F64]:
        """(pilot z-score, soft channel values) of the frames read so far."""
        acc = self.acc
        m = float(np.median(np.abs(acc)))
        if m > 0:
            acc = np.clip(acc, -2.0 * m, 2.0 * m)
        norm = float(np.sqrt(np.sum(acc * acc)))
        if norm <= 0:
            return 0.0, np.zeros(CODED_BITS)
        z = float(np.sum(acc * self.keys.pilot)) / norm
        data = (acc * self.keys.pn).ravel()
        soft = np.bincount(self.keys.bit_of_chip.ravel(), weights=data, minlength=CODED_BITS)
        return z, np.asarray(soft, dtype=np.float64)


def _log10_p(z: float, crc_ok: bool, looks: int) -> float:
    """log10 of the p-value bound: Hoeffding on the pilot, times 2^-16 for the CRC, times looks."""
    lp = -(z * z) / 2.0 / math.log(10.0) if z > 0 else 0.0
    if crc_ok:
        lp -= CRC_WIDTH * math.log10(2.0)
    return min(0.0, lp + math.log10(looks))


# ---------------------------------------------------------------------------------------------
# ffmpeg and ffprobe (own small helpers: the watermark layer does not import label/)


def _tool(name: str) -> str:
    env = {"ffmpeg": "SYNTHLABEL_FFMPEG", "ffprobe": "SYNTHLABEL_FFPROBE"}[name]
    override = os.environ.get(env)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise WatermarkError(
            f"the video watermark needs ffmpeg ({name}): {env}={override!r} is not a program"
        )
    found = shutil.which(name)
    if not found:
        raise WatermarkError(
            f"the video watermark needs ffmpeg ({name} is not installed; "
            "Debian/Ubuntu: apt-get install ffmpeg)"
        )
    return found


def _stderr_tail(text: str, lines: int = 6, chars: int = 1200) -> str:
    kept = [ln.rstrip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    tail = " | ".join(kept[-lines:])
    return tail if len(tail) <= chars else "…" + tail[-chars:]


def _input_args(path: Path, demuxer: str) -> list[str]:
    """Forced demuxer, local files only (a crafted input cannot open other files or URLs)."""
    return ["-f", demuxer, "-protocol_whitelist", "file,pipe", "-i", "file:" + str(path)]


def _timeout(seconds: float | None, factor: float) -> float:
    return 60.0 + factor * (seconds if seconds and seconds > 0 else 600.0)


def _ffmpeg_argv(*args: str) -> list[str]:
    return [_tool("ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", *args]


@functools.lru_cache(maxsize=4)
def _encoders(exe: str) -> frozenset[str]:
    try:
        out = subprocess.run(
            [exe, "-hide_banner", "-encoders"], capture_output=True, timeout=30, check=False
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(m[1] for m in re.finditer(r"^\s*[VAS][\w.]{5}\s+(\S+)", out, re.M))


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _rate(text: str) -> float | None:
    n, _, d = text.partition("/")
    num, den = _num(n), _num(d or "1")
    return num / den if num and den and num > 0 and den > 0 else None


@dataclass(frozen=True)
class _Stream:
    kind: str
    codec: str
    width: int = 0
    height: int = 0
    pix_fmt: str = ""
    r_rate: str = ""
    avg_rate: str = ""
    time_base: str = ""
    start_time: float | None = None
    duration: float | None = None
    nb_frames: int | None = None
    rotation: int = 0
    color: dict[str, str] = field(default_factory=dict)
    attached_pic: bool = False


def _parse_stream(s: dict[str, Any]) -> _Stream:
    rotation = 0
    for sd in s.get("side_data_list") or ():
        if isinstance(sd, dict) and _num(sd.get("rotation")) is not None:
            rotation = int(_num(sd.get("rotation")) or 0) % 360
    tags = s.get("tags") or {}
    if not rotation and _num(tags.get("rotate")) is not None:
        rotation = -int(_num(tags.get("rotate")) or 0) % 360
    nb = _num(s.get("nb_frames"))
    return _Stream(
        kind=str(s.get("codec_type") or ""),
        codec=str(s.get("codec_name") or ""),
        width=int(_num(s.get("width")) or 0),
        height=int(_num(s.get("height")) or 0),
        pix_fmt=str(s.get("pix_fmt") or ""),
        r_rate=str(s.get("r_frame_rate") or ""),
        avg_rate=str(s.get("avg_frame_rate") or ""),
        time_base=str(s.get("time_base") or ""),
        start_time=_num(s.get("start_time")),
        duration=_num(s.get("duration")),
        nb_frames=int(nb) if nb else None,
        rotation=rotation,
        color={
            k: str(s[k])
            for k in ("color_range", "color_space", "color_primaries", "color_transfer")
            if s.get(k) and s.get(k) != "unknown"
        },
        attached_pic=bool((s.get("disposition") or {}).get("attached_pic")),
    )


def _sniff(path: Path) -> _Container | None:
    """Container family from the first bytes (never trusts the file name alone)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mov" if head[4:8] == b"ftyp" and head[8:12] == b"qt  " else "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head else "matroska"
    return None


@dataclass(frozen=True)
class VideoSource:
    """What the marker and the detector need to know about an input video."""

    path: Path
    container: _Container
    demuxer: str
    video: _Stream
    audio: tuple[_Stream, ...]
    subtitles: int
    tags: dict[str, str]
    width: int  # displayed (auto-rotated) frame size
    height: int
    fps: float
    rate_text: str  # the exact rate for ffmpeg ("30000/1001")
    variable_rate: bool
    duration: float
    frames_estimate: int | None


def open_source(path: Path, *, what: str) -> VideoSource:
    """Probe ``path``; raise WatermarkError with a clear message when it is not usable video."""
    if not path.is_file():
        raise WatermarkError(f"{what}: {path} is not a file")
    container = _sniff(path)
    if container is None:
        raise WatermarkError(
            f"{what}: {path.name} is not an MP4/MOV or Matroska/WebM file (unknown signature)"
        )
    demuxer = "mov" if container in ("mp4", "mov") else "matroska"
    argv = [
        _tool("ffprobe"), "-hide_banner", "-loglevel", "error", "-f", demuxer,
        "-protocol_whitelist", "file,pipe", "-print_format", "json", "-show_format",
        "-show_streams", "file:" + str(path),
    ]  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise WatermarkError(f"{what}: probing {path.name} took longer than 60 s") from None
    except OSError as e:
        raise WatermarkError(f"{what}: cannot run ffprobe: {e}") from None
    err = _stderr_tail(proc.stderr.decode("utf-8", "replace"))
    if proc.returncode != 0:
        raise WatermarkError(f"{what}: cannot read {path.name} as video: {err or 'ffprobe failed'}")
    try:
        doc = json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError as e:
        raise WatermarkError(f"{what}: ffprobe printed invalid JSON for {path.name}: {e}") from None
    streams = [_parse_stream(s) for s in doc.get("streams") or () if isinstance(s, dict)]
    v = next((s for s in streams if s.kind == "video" and not s.attached_pic), None)
    if v is None:
        raise WatermarkError(f"{what}: {path.name} has no video stream")
    if v.width <= 0 or v.height <= 0:
        raise WatermarkError(f"{what}: {path.name}: the video stream has no frame size")
    w, h = (v.height, v.width) if v.rotation in (90, 270) else (v.width, v.height)
    r, avg = _rate(v.r_rate), _rate(v.avg_rate)
    variable = bool(r and avg and abs(r - avg) > 0.01 * r)
    if variable and avg:
        fps, rate_text = avg, v.avg_rate
    elif r and r <= 240:
        fps, rate_text = r, v.r_rate
    elif avg:
        fps, rate_text = avg, v.avg_rate
    else:
        fps, rate_text = 25.0, "25"
    fmt = doc.get("format") or {}
    duration = v.duration or _num(fmt.get("duration")) or 0.0
    frames = v.nb_frames if v.nb_frames else (round(duration * fps) if duration > 0 else None)
    return VideoSource(
        path=path,
        container=container,
        demuxer=demuxer,
        video=v,
        audio=tuple(s for s in streams if s.kind == "audio"),
        subtitles=sum(1 for s in streams if s.kind == "subtitle"),
        tags={str(k): str(x) for k, x in (fmt.get("tags") or {}).items()},
        width=w,
        height=h,
        fps=fps,
        rate_text=rate_text,
        variable_rate=variable,
        duration=duration,
        frames_estimate=frames,
    )


def _raw_format(pix_fmt: str) -> str:
    """The raw pipe format: the source's own 8-bit planar YUV when possible."""
    return pix_fmt if pix_fmt in _PLANAR else "yuv420p"


def _frame_bytes(raw_fmt: str, width: int, height: int) -> int:
    dx, dy = _PLANAR[raw_fmt]
    cw, ch = -(-width // dx), -(-height // dy)
    return width * height + 2 * cw * ch


class _Proc:
    """An ffmpeg child with stderr in a temporary file (no pipe to fill up and deadlock)."""

    def __init__(self, argv: list[str], *, stdin: bool, stdout: bool) -> None:
        self.err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.p = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                stderr=self.err,
                bufsize=0,
            )
        except OSError as e:
            self.err.close()
            raise WatermarkError(f"cannot start ffmpeg: {e}") from None

    def stderr_tail(self) -> str:
        self.err.seek(0)
        return _stderr_tail(self.err.read().decode("utf-8", "replace"))

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()

    def close(self) -> None:
        self.kill()
        for s in (self.p.stdin, self.p.stdout):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.p.wait(timeout=10)
        self.err.close()


def _read_exact(stream: IO[bytes], buf: bytearray) -> bool:
    """Fill ``buf`` from ``stream``; False at a clean end of stream (0 bytes)."""
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            if got == 0:
                return False
            raise WatermarkError(f"decoder stopped mid-frame ({got} of {len(buf)} bytes)")
        got += n
    return True


@contextlib.contextmanager
def _watchdog(seconds: float, procs: list[_Proc]) -> Iterator[threading.Event]:
    """Kill ``procs`` when the job runs longer than ``seconds``; the event tells it happened."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        for p in procs:
            p.kill()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


# ---------------------------------------------------------------------------------------------
# Output settings


def _out_container(src: VideoSource, dest: Path) -> _Container:
    return _SUFFIX.get(dest.suffix.lower(), src.container)


def _encoder_args(
    src: VideoSource, container: _Container, raw_fmt: str
) -> tuple[list[str], dict[str, Any]]:
    """Video codec arguments for the output, and a description of them."""
    have = _encoders(_tool("ffmpeg"))
    codec = src.video.codec
    if container == "webm" or (codec == "vp9" and container == "matroska"):
        family = "vp9"
    elif codec == "hevc" and "libx265" in have:
        family = "hevc"
    else:
        family = "h264"
    if family == "vp9" and "libvpx-vp9" in have:
        pix = raw_fmt if raw_fmt in _VP9_PIX else "yuv420p"
        args = [
            "-c:v:0", "libvpx-vp9", "-crf", str(VP9_CRF), "-b:v:0", "0",
            "-deadline", "good", "-cpu-used", "5", "-row-mt", "1",
        ]  # fmt: skip
        desc: dict[str, Any] = {"encoder": "libvpx-vp9", "crf": VP9_CRF, "preset": "cpu-used 5"}
    elif family == "hevc":
        pix = raw_fmt if raw_fmt in _X265_PIX else "yuv420p"
        args = [
            "-c:v:0", "libx265", "-crf", str(X265_CRF), "-preset", DEFAULT_PRESET,
            "-x265-params", "log-level=error",
        ]  # fmt: skip
        if container in ("mp4", "mov"):
            args += ["-tag:v:0", "hvc1"]
        desc = {"encoder": "libx265", "crf": X265_CRF, "preset": DEFAULT_PRESET}
    else:
        pix = raw_fmt if raw_fmt in _X264_PIX else "yuv420p"
        args = ["-c:v:0", "libx264", "-crf", str(DEFAULT_CRF), "-preset", DEFAULT_PRESET]
        desc = {"encoder": "libx264", "crf": DEFAULT_CRF, "preset": DEFAULT_PRESET}
    args += ["-pix_fmt:v:0", pix]
    desc["pix_fmt"] = pix
    names = {"bt470bg": "gamma28", "bt470m": "gamma22", "bt2020ncl": "bt2020nc"}
    for key, opt in (
        ("color_range", "-color_range"),
        ("color_space", "-colorspace"),
        ("color_primaries", "-color_primaries"),
        ("color_transfer", "-color_trc"),
    ):
        if key in src.video.color:
            value = src.video.color[key]
            args += [f"{opt}:v:0", names.get(value, value) if key == "color_transfer" else value]
    return args, desc


def _stream_args(src: VideoSource, container: _Container, notes: list[str]) -> list[str]:
    """Maps and codecs of the non-video streams (copied when the container takes them)."""
    args = ["-map", "0:v:0"]
    ok = _AUDIO_OK[container]
    if src.audio:
        args += ["-map", "1:a?"]
        if ok is None or all(a.codec in ok for a in src.audio):
            args += ["-c:a", "copy"]
        else:
            enc = ["-c:a", "libopus", "-b:a", "160k"] if container == "webm" else ["-c:a", "aac"]
            args += enc
            codecs = ", ".join(sorted({a.codec for a in src.audio}))
            notes.append(f"audio ({codecs}) re-encoded with {enc[1]}: {container} cannot hold it")
    same = (container in ("mp4", "mov")) == (src.container in ("mp4", "mov"))
    if src.subtitles:
        if same and container != "webm":
            args += ["-map", "1:s?", "-c:s", "copy"]
        else:
            notes.append("subtitle streams dropped (not portable to the output container)")
    if src.demuxer == "matroska" and container == "matroska":
        args += ["-map", "1:t?", "-c:t", "copy"]
    return args


def _muxer_args(src: VideoSource, container: _Container) -> list[str]:
    if container in ("mp4", "mov"):
        args = ["-f", container]
        brand = src.tags.get("major_brand", "").strip()
        if brand and container == "mp4" and src.container == "mp4":
            args += ["-brand", brand]
        den = src.video.time_base.partition("/")[2]
        if src.container in ("mp4", "mov") and den.isdigit() and 0 < int(den) < 2**31:
            args += ["-video_track_timescale", den]
        return args
    return ["-f", container]


# ---------------------------------------------------------------------------------------------
# The algorithm


@dataclass(frozen=True)
class VideoMark:
    """The ``sl-vid-1`` plug-in (see the module docstring for the method)."""

    id: str = ALGORITHM_ID
    name: str = "synthlabel frame-relative luma mark with temporal voting"
    media_kind: Literal["video"] = "video"
    payload_bits: int = PAYLOAD_BITS

    # -- embedding ------------------------------------------------------------------------

    def embed_file(
        self, src: Path, dest: Path, payload: bytes, *, strength: float = 1.0
    ) -> dict[str, Any]:
        """Watermark the video ``src`` into ``dest`` (streamed, a few frames in memory).

        Returns figures about the job: frames, size, encoder settings, the luma PSNR of the
        mark itself (before encoding), wall time and speed (frames/s, x real time).
        Raises :class:`WatermarkCapacityError` for frames too small or too few frames,
        :class:`WatermarkError` for a missing ffmpeg, unreadable or truncated input or a
        failed encode. ``dest`` is only replaced when everything worked.
        """
        src, dest = Path(src), Path(dest)
        nbytes = PAYLOAD_BITS // 8
        if not isinstance(payload, (bytes, bytearray)) or len(payload) != nbytes:
            got = len(payload) if isinstance(payload, (bytes, bytearray)) else type(payload)
            raise WatermarkError(f"payload must be {nbytes} bytes ({PAYLOAD_BITS} bits), got {got}")
        if not (isinstance(strength, (int, float)) and math.isfinite(strength) and strength > 0):
            raise WatermarkError(f"strength must be a positive number, got {strength!r}")
        source = open_source(src, what="video watermark")
        frames = source.frames_estimate
        if frames is not None and frames < MIN_FRAMES:
            raise WatermarkCapacityError(
                f"{src.name} has {frames} frame(s): the video watermark needs at least "
                f"{MIN_FRAMES} frames (mark a single picture with the image watermark instead)"
            )
        container = _out_container(source, dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{dest.name}.", suffix=".part" + (dest.suffix or ".mp4"), dir=dest.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            # Read-back check: the encoded output must carry the payload. Small or short
            # videos sometimes come out marginal after the encoder; they get one retry 3 dB
            # stronger, then a capacity error (never a silent weak mark).
            used = float(strength)
            for attempt in range(len(SELF_CHECK_GAINS)):
                used = float(strength) * SELF_CHECK_GAINS[attempt]
                marker = _FrameMarker(source.height, source.width, bytes(payload), used)
                stats = self._stream(source, tmp, container, marker)
                check = self.detect_file(tmp, max_seconds=SELF_CHECK_SECONDS)
                if check.present and check.payload == bytes(payload):
                    break
            else:
                raise WatermarkCapacityError(
                    f"{src.name}: the mark did not survive its own encode even 3 dB stronger "
                    f"({source.width}x{source.height}, {check.reason or 'wrong payload'}): the "
                    "video is too small or too short for a reliable 64-bit mark"
                )
            stats["strength_used"] = round(used, 3)
            stats["self_check_p"] = check.p_value
            os.chmod(tmp, src.stat().st_mode & 0o666)  # mkstemp made it private
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        stats["output_bytes"] = dest.stat().st_size
        return stats

    def _stream(
        self, source: VideoSource, out: Path, container: _Container, marker: Callable[[U8], U8]
    ) -> dict[str, Any]:
        w, h = source.width, source.height
        raw_fmt = _raw_format(source.video.pix_fmt)
        size = _frame_bytes(raw_fmt, w, h)
        notes: list[str] = []
        if raw_fmt != source.video.pix_fmt:
            notes.append(f"pixel format {source.video.pix_fmt or '?'} processed as {raw_fmt}")
        if source.video.rotation:
            notes.append(
                f"rotated video ({source.video.rotation} deg): marked and stored upright, "
                "rotation tag dropped"
            )
        if container != source.container:
            notes.append(f"container changed from {source.container} to {container} (dest suffix)")
        rate_args = ["-fps_mode", "passthrough"]
        if source.variable_rate:
            rate_args = ["-fps_mode", "cfr", "-r", source.rate_text]
            notes.append(f"variable frame rate re-timed to constant {source.fps:.3f} fps")
        dec_argv = _ffmpeg_argv(
            *_input_args(source.path, source.demuxer),
            "-map", "0:v:0", "-an", "-sn", "-dn", *rate_args,
            "-f", "rawvideo", "-pix_fmt", raw_fmt, "pipe:1",
        )  # fmt: skip
        vargs, enc = _encoder_args(source, container, raw_fmt)
        offset = source.video.start_time
        shift = ["-itsoffset", f"{offset:.6f}"] if offset and offset > 0 and source.audio else []
        enc_argv = _ffmpeg_argv(
            "-f", "rawvideo", "-pix_fmt", raw_fmt, "-s", f"{w}x{h}",
            "-framerate", source.rate_text, *shift, "-i", "pipe:0",
            *_input_args(source.path, source.demuxer),
            *_stream_args(source, container, notes), *vargs,
            "-map_metadata", "1", "-map_metadata:s:v:0", "1:s:v:0", "-map_chapters", "1",
            *_muxer_args(source, container), "-y", "file:" + str(out),
        )  # fmt: skip
        timeout = _timeout(source.duration, factor=20.0)
        dec = _Proc(dec_argv, stdin=False, stdout=True)
        try:
            encp = _Proc(enc_argv, stdin=True, stdout=False)
        except BaseException:
            dec.close()
            raise
        t0 = time.perf_counter()
        count = 0
        sq_err = 0.0
        measured = 0
        try:
            with _watchdog(timeout, [dec, encp]) as fired:
                assert dec.p.stdout is not None and encp.p.stdin is not None
                buf = bytearray(size)
                y = np.frombuffer(buf, dtype=np.uint8, count=w * h).reshape(h, w)
                while _read_exact(dec.p.stdout, buf):
                    marked = marker(y)
                    if count % 4 == 0:  # PSNR of the mark on every 4th frame
                        d = marked.astype(np.float32) - y
                        sq_err += float(np.vdot(d, d)) / d.size
                        measured += 1
                    y[...] = marked
                    try:
                        encp.p.stdin.write(buf)
                    except BrokenPipeError:
                        break
                    count += 1
                with contextlib.suppress(BrokenPipeError):
                    encp.p.stdin.close()
                dec_rc = dec.p.wait()
                enc_rc = encp.p.wait(timeout=timeout)
            if fired.is_set():
                raise WatermarkError(
                    f"marking {source.path.name} ran longer than {timeout:.0f} s and was stopped"
                )
            if dec_rc != 0:
                raise WatermarkError(
                    f"cannot decode {source.path.name} (ffmpeg exit {dec_rc}): "
                    f"{dec.stderr_tail() or 'no output'}"
                )
            if enc_rc != 0:
                raise WatermarkError(
                    f"encoding the marked {container} failed (ffmpeg exit {enc_rc}): "
                    f"{encp.stderr_tail() or 'no output'}"
                )
        finally:
            dec.close()
            encp.close()
        elapsed = time.perf_counter() - t0
        if count < MIN_FRAMES:
            raise WatermarkCapacityError(
                f"{source.path.name} decoded to {count} frame(s): the video watermark needs at "
                f"least {MIN_FRAMES} frames (mark a single picture with the image watermark)"
            )
        expected = source.video.nb_frames
        if expected and not source.variable_rate and count < expected - max(2, expected // 20):
            raise WatermarkError(
                f"{source.path.name} is truncated or damaged: decoded {count} of the "
                f"{expected} frames its header announces"
            )
        mse = sq_err / measured if measured else 0.0
        seconds = count / source.fps if source.fps else 0.0
        return {
            "algorithm": self.id,
            "frames": count,
            "width": w,
            "height": h,
            "fps": round(source.fps, 3),
            "seconds": round(seconds, 3),
            "grid": "x".join(map(str, grid_shape(h, w)[::-1])),
            "psnr_y_mark_db": round(10 * math.log10(255.0**2 / mse), 2) if mse > 0 else None,
            **enc,
            "container": container,
            "wall_s": round(elapsed, 3),
            "frames_per_s": round(count / elapsed, 2) if elapsed > 0 else None,
            "x_realtime": round(seconds / elapsed, 3) if elapsed > 0 else None,
            "notes": notes,
        }

    # -- detection ------------------------------------------------------------------------

    def detect_file(self, path: Path, *, max_seconds: float | None = None) -> Detection:
        """Look for the mark in the first ``max_seconds`` of ``path``; never raises."""
        try:
            return self._detect(Path(path), max_seconds)
        except WatermarkError as e:
            return absent(self.id, str(e))
        except Exception as e:  # detection never raises: arbitrary input gives a reason
            return absent(self.id, f"detection failed: {type(e).__name__}: {e}")

    def _detect(self, path: Path, max_seconds: float | None) -> Detection:
        limit = DETECT_SECONDS if max_seconds is None else float(max_seconds)
        if not (limit > 0 and math.isfinite(limit)):
            return absent(self.id, f"max_seconds must be positive, got {max_seconds!r}")
        source = open_source(path, what="video watermark detection")
        if min(source.width, source.height) < MIN_READ_SIDE:
            return absent(
                self.id,
                f"frames of {source.width}x{source.height} are too small to carry {self.id}",
            )
        ny, nx = grid_shape(source.height, source.width)
        reader = _Reader(ny, nx)
        looks = len(CHECKPOINTS) + 1
        step = _sample_step(source)
        t0 = time.perf_counter()
        stopped_early = False
        result: tuple[float, F64, npt.NDArray[np.uint8], bool, int] | None = None
        frames = _sampled_frames(source, limit, reader.size, step)
        try:
            for frame in frames:
                reader.add(frame)
                if reader.frames in CHECKPOINTS:
                    result = self._decode(reader)
                    if result[3] and _log10_p(result[0], True, looks) <= math.log10(EARLY_STOP_P):
                        stopped_early = True
                        break
        finally:
            frames.close()
        if reader.frames == 0:
            return absent(self.id, "no frames could be decoded", frames_read=0)
        if not stopped_early:
            result = self._decode(reader)
        assert result is not None
        z, _soft, bits, crc_ok, corrected = result
        log10_p = _log10_p(z, crc_ok, looks)
        p = 10.0**log10_p
        present = crc_ok and p <= DEFAULT_P_THRESHOLD
        n_chips = ny * nx
        details: dict[str, Any] = {
            "pilot_z": round(z, 3),
            "chip_snr": round(z / (PILOT_AMP * math.sqrt(n_chips)), 4),
            "crc_ok": crc_ok,
            "log10_p": round(log10_p, 3),
            "grid": f"{nx}x{ny}",
            "frames_read": reader.frames,
            "frame_step": step,
            "seconds_scanned": round(reader.frames * step / source.fps, 3) if source.fps else None,
            "looks": looks,
            "stopped_early": stopped_early,
            "frame_size": f"{source.width}x{source.height}",
            "detect_wall_s": round(time.perf_counter() - t0, 3),
        }
        if not present:
            reason = (
                "CRC mismatch (no valid mark)"
                if not crc_ok
                else f"p-value {p:.3g} above the {DEFAULT_P_THRESHOLD:g} threshold"
            )
            return absent(self.id, reason, p_value=min(1.0, p), **details)
        return Detection(
            self.id,
            True,
            p,
            max(0.0, min(1.0, 1.0 - p)),
            bits_to_bytes(bits),
            PAYLOAD_BITS,
            corrected,
            None,
            details,
        )

    @staticmethod
    def _decode(reader: _Reader) -> tuple[float, F64, npt.NDArray[np.uint8], bool, int]:
        z, soft = reader.evidence()
        if not np.any(soft):
            return z, soft, np.zeros(PAYLOAD_BITS, np.uint8), False, 0
        bits, crc_ok, corrected = _ecc.unframe(soft, PAYLOAD_BITS, CRC_WIDTH)
        return z, soft, bits, crc_ok, corrected


def _sample_step(source: VideoSource) -> int:
    """Read every ``step``-th frame: about SAMPLE_FPS per second."""
    return max(1, round(source.fps / SAMPLE_FPS)) if source.fps > 0 else 1


def _sampled_frames(
    source: VideoSource, max_seconds: float, size: tuple[int, int], step: int
) -> Generator[U8, None, None]:
    """Grey frames of the first ``max_seconds`` of the displayed video, sampled and scaled.

    A generator over one reused buffer; closing it stops ffmpeg. Raises WatermarkError when
    nothing can be decoded or decoding hangs.
    """
    w, h = size
    select = f"select='not(mod(n\\,{step}))'," if step > 1 else ""
    argv = _ffmpeg_argv(
        *_input_args(source.path, source.demuxer),
        "-t", f"{max_seconds:.3f}", "-map", "0:v:0", "-an", "-sn", "-dn",
        "-vf", f"{select}scale={w}:{h}:flags=area,format=gray", "-fps_mode", "passthrough",
        "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1",
    )  # fmt: skip
    timeout = _timeout(max_seconds, factor=30.0)
    dec = _Proc(argv, stdin=False, stdout=True)
    count = 0
    finished = False
    try:
        with _watchdog(timeout, [dec]) as fired:
            assert dec.p.stdout is not None
            buf = bytearray(w * h)
            frame = np.frombuffer(buf, dtype=np.uint8).reshape(h, w)
            while _read_exact(dec.p.stdout, buf):
                count += 1
                yield frame
            finished = True
        rc = dec.p.wait()
        if fired.is_set():
            raise WatermarkError(f"decoding {source.path.name} ran longer than {timeout:.0f} s")
        if finished and rc != 0 and count == 0:
            raise WatermarkError(
                f"cannot decode {source.path.name} (ffmpeg exit {rc}): "
                f"{dec.stderr_tail() or 'no output'}"
            )
    finally:
        dec.close()


ALGORITHM = VideoMark()
