"""A small, safe wrapper around the ffmpeg and ffprobe command-line tools.

Used by the explicit audio and video labels (:mod:`synthlabel.label.audio`,
:mod:`synthlabel.label.video`). Rules it enforces:

- arguments are always an argv list (never a shell), stdin is closed unless bytes are piped in;
- the demuxer is always forced from the format id (``-f mov``, ``-f matroska``, ...), and only
  the ``file`` and ``pipe`` protocols are allowed, so a crafted input (an HLS playlist or
  ``concat`` script disguised as a media file) cannot make ffmpeg open other files or URLs;
- every call has a timeout; the process is killed when it runs out;
- a failure raises a :class:`~synthlabel.errors.SynthlabelError` subclass whose message ends with
  the last lines ffmpeg printed on stderr;
- temporary files live in a :func:`workdir` that is removed on exit, errors included.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from synthlabel.errors import MalformedInput, SynthlabelError, UnsupportedFormat

__all__ = [
    "FFMPEG_ENV",
    "FFPROBE_ENV",
    "MediaInfo",
    "MediaTimeout",
    "MediaToolError",
    "MediaToolMissing",
    "StreamInfo",
    "demuxer_for",
    "encoders",
    "ffmpeg_version",
    "integrated_loudness",
    "probe",
    "run_ffmpeg",
    "stderr_tail",
    "tool",
    "workdir",
]

#: Environment variables that point to a specific ffmpeg / ffprobe binary.
FFMPEG_ENV = "SYNTHLABEL_FFMPEG"
FFPROBE_ENV = "SYNTHLABEL_FFPROBE"
#: Debian packages providing the tools (named in error messages).
INSTALL_HINT = "install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)"
TAIL_LINES = 8
TAIL_CHARS = 1500
PROBE_TIMEOUT = 60.0
#: Loudness reported by ebur128 for silence (everything gated out).
SILENCE_LUFS = -70.0

# format id (as the pipeline's handlers name them, plus aliases) -> ffmpeg demuxer
_DEMUXERS = {
    "wav": "wav",
    "wave": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "opus": "ogg",
    "oga": "ogg",
    "m4a": "mov",
    "mp4": "mov",
    "mov": "mov",
    "m4v": "mov",
    "mkv": "matroska",
    "webm": "matroska",
    "matroska": "matroska",
}


class MediaToolError(SynthlabelError):
    """ffmpeg or ffprobe failed (the message ends with the tail of its stderr)."""


class MediaToolMissing(MediaToolError):
    """ffmpeg, ffprobe (or espeak-ng) is not installed."""


class MediaTimeout(MediaToolError):
    """An ffmpeg call ran past its time limit and was killed."""


def tool(name: str) -> str:
    """Absolute path of ``ffmpeg`` or ``ffprobe`` (env override, then ``PATH``)."""
    env = {"ffmpeg": FFMPEG_ENV, "ffprobe": FFPROBE_ENV}.get(name)
    override = os.environ.get(env) if env else None
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise MediaToolMissing(f"{env}={override!r} is not an executable file")
    found = shutil.which(name)
    if not found:
        raise MediaToolMissing(f"{name} not found: {INSTALL_HINT}")
    return found


def demuxer_for(format_id: str) -> str:
    """The ffmpeg demuxer forced for ``format_id`` (raises UnsupportedFormat)."""
    try:
        return _DEMUXERS[format_id.lower()]
    except KeyError:
        raise UnsupportedFormat(
            f"no audio/video support for format {format_id!r} "
            f"(known: {', '.join(sorted(_DEMUXERS))})"
        ) from None


def stderr_tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last non-empty lines of a tool's stderr, for error messages."""
    kept = [ln.rstrip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    tail = " | ".join(kept[-lines:])
    return tail if len(tail) <= chars else "…" + tail[-chars:]


def _run(
    argv: Sequence[str],
    *,
    timeout: float,
    what: str,
    input_bytes: bytes | None = None,
    stdout_to: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    stdout_file = open(stdout_to, "wb") if stdout_to is not None else None  # noqa: SIM115
    try:
        proc = subprocess.run(
            list(argv),
            input=input_bytes,
            stdin=None if input_bytes is not None else subprocess.DEVNULL,
            stdout=stdout_file if stdout_file is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        tail = stderr_tail((e.stderr or b"").decode("utf-8", "replace"))
        raise MediaTimeout(
            f"{what}: {Path(argv[0]).name} ran longer than {timeout:.0f} s and was stopped"
            + (f"; last output: {tail}" if tail else "")
        ) from None
    except OSError as e:
        raise MediaToolMissing(f"{what}: cannot run {argv[0]}: {e}") from None
    finally:
        if stdout_file is not None:
            stdout_file.close()
    return proc


def run_ffmpeg(
    args: Sequence[str],
    *,
    timeout: float,
    what: str,
    input_bytes: bytes | None = None,
    loglevel: str = "error",
    stdout_to: Path | None = None,
    error: type[SynthlabelError] = MediaToolError,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``ffmpeg <args>``; raise ``error`` with the stderr tail when it fails.

    ``args`` must name every input with :func:`input_args` (forced demuxer, file protocol).
    Returns the completed process (stdout bytes when not redirected, stderr bytes).
    """
    argv = [
        tool("ffmpeg"),
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        loglevel,
        *args,
    ]
    proc = _run(argv, timeout=timeout, what=what, input_bytes=input_bytes, stdout_to=stdout_to)
    if proc.returncode != 0:
        tail = stderr_tail(proc.stderr.decode("utf-8", "replace"))
        raise error(f"{what} failed (ffmpeg exit {proc.returncode}): {tail or 'no output'}")
    return proc


def input_args(path: Path | str, demuxer: str, *options: str) -> list[str]:
    """``-f DEMUXER [options] -protocol_whitelist file,pipe -i file:PATH``."""
    where = str(path)
    url = where if where.startswith("pipe:") else "file:" + where
    return ["-f", demuxer, *options, "-protocol_whitelist", "file,pipe", "-i", url]


# ---------------------------------------------------------------------------------------------
# ffprobe


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(value: Any) -> int | None:
    f = _num(value)
    return int(f) if f is not None else None


def _rate(value: Any) -> float | None:
    """``"30000/1001"`` -> 29.97; ``"0/0"`` -> None."""
    if not isinstance(value, str) or "/" not in value:
        return _num(value)
    n, _, d = value.partition("/")
    num, den = _num(n), _num(d)
    if num is None or not den or num <= 0:
        return None
    return num / den


@dataclass(frozen=True)
class StreamInfo:
    """What the labellers need from one ffprobe stream entry."""

    index: int
    kind: str  # "audio", "video", "subtitle", "data", "attachment"
    codec: str
    codec_tag: str = ""
    profile: str = ""
    sample_rate: int = 0
    channels: int = 0
    channel_layout: str = ""
    sample_fmt: str = ""
    bits_per_raw_sample: int = 0
    bits_per_sample: int = 0
    bit_rate: int | None = None
    width: int = 0
    height: int = 0
    pix_fmt: str = ""
    avg_frame_rate: float | None = None
    r_frame_rate: float | None = None
    avg_frame_rate_text: str = ""
    r_frame_rate_text: str = ""
    time_base: str = ""
    start_time: float | None = None
    duration: float | None = None
    nb_frames: int | None = None
    rotation: int = 0
    sar: str = ""
    color: dict[str, str] = field(default_factory=dict)
    attached_pic: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaInfo:
    """ffprobe's view of a file: format fields and streams."""

    format_name: str
    duration: float | None
    start_time: float | None
    bit_rate: int | None
    streams: tuple[StreamInfo, ...]
    tags: dict[str, str] = field(default_factory=dict)
    #: Sorted presentation times of the first packets, per stream index (``probe(packets=N)``).
    packet_times: dict[int, tuple[float, ...]] = field(default_factory=dict)

    def first(self, kind: str) -> StreamInfo | None:
        """The first stream of ``kind`` (cover art is not a video stream)."""
        for s in self.streams:
            if s.kind == kind and not s.attached_pic:
                return s
        return None

    def count(self, kind: str) -> int:
        return sum(1 for s in self.streams if s.kind == kind and not s.attached_pic)


def _rotation(stream: dict[str, Any]) -> int:
    for sd in stream.get("side_data_list") or ():
        if isinstance(sd, dict) and "rotation" in sd:
            r = _int(sd.get("rotation"))
            if r is not None:
                return r % 360
    r = _int((stream.get("tags") or {}).get("rotate"))
    return (-(r or 0)) % 360


def _stream(s: dict[str, Any]) -> StreamInfo:
    tags = {str(k): str(v) for k, v in (s.get("tags") or {}).items()}
    disposition = s.get("disposition") or {}
    color = {
        k: str(s[k])
        for k in ("color_range", "color_space", "color_transfer", "color_primaries")
        if s.get(k) and s.get(k) != "unknown"
    }
    duration = _num(s.get("duration"))
    if duration is None and "DURATION" in tags:  # Matroska keeps it as a tag
        m = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", tags["DURATION"].strip())
        if m:
            duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    return StreamInfo(
        index=_int(s.get("index")) or 0,
        kind=str(s.get("codec_type") or ""),
        codec=str(s.get("codec_name") or ""),
        codec_tag=str(s.get("codec_tag_string") or ""),
        profile=str(s.get("profile") or ""),
        sample_rate=_int(s.get("sample_rate")) or 0,
        channels=_int(s.get("channels")) or 0,
        channel_layout=str(s.get("channel_layout") or ""),
        sample_fmt=str(s.get("sample_fmt") or ""),
        bits_per_raw_sample=_int(s.get("bits_per_raw_sample")) or 0,
        bits_per_sample=_int(s.get("bits_per_sample")) or 0,
        bit_rate=_int(s.get("bit_rate")) or None,
        width=_int(s.get("width")) or 0,
        height=_int(s.get("height")) or 0,
        pix_fmt=str(s.get("pix_fmt") or ""),
        avg_frame_rate=_rate(s.get("avg_frame_rate")),
        r_frame_rate=_rate(s.get("r_frame_rate")),
        avg_frame_rate_text=str(s.get("avg_frame_rate") or ""),
        r_frame_rate_text=str(s.get("r_frame_rate") or ""),
        time_base=str(s.get("time_base") or ""),
        start_time=_num(s.get("start_time")),
        duration=duration,
        nb_frames=_int(s.get("nb_frames")),
        rotation=_rotation(s),
        sar=str(s.get("sample_aspect_ratio") or ""),
        color=color,
        attached_pic=bool(disposition.get("attached_pic")),
        tags=tags,
    )


def probe(
    path: Path,
    demuxer: str,
    *,
    timeout: float = PROBE_TIMEOUT,
    count_packets: bool = False,
    packets: int = 0,
    what: str = "reading the media file",
) -> MediaInfo:
    """ffprobe ``path`` with the forced demuxer; MalformedInput when it is not readable media.

    ``packets``: also read the timestamps of the first that many packets (all streams)."""
    argv = [
        tool("ffprobe"),
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        demuxer,
        "-protocol_whitelist",
        "file,pipe",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    if count_packets:
        argv.append("-count_packets")
    if packets > 0:
        argv += [
            "-show_entries",
            "packet=stream_index,pts_time",
            "-read_intervals",
            f"%+#{packets}",
        ]
    argv.append("file:" + str(path))
    proc = _run(argv, timeout=timeout, what=what)
    err = stderr_tail(proc.stderr.decode("utf-8", "replace"))
    if proc.returncode != 0:
        raise MalformedInput(f"not a readable {demuxer} file: {err or 'ffprobe failed'}")
    try:
        doc = json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError as e:
        raise MediaToolError(f"{what}: ffprobe printed invalid JSON ({e})") from None
    fmt = doc.get("format") or {}
    streams = []
    for s in doc.get("streams") or ():
        if not isinstance(s, dict):
            continue
        info = _stream(s)
        if count_packets and s.get("nb_read_packets") is not None:
            info = _replace_frames(info, _int(s.get("nb_read_packets")))
        streams.append(info)
    times: dict[int, list[float]] = {}
    for pk in doc.get("packets") or ():
        if isinstance(pk, dict):
            idx, t = _int(pk.get("stream_index")), _num(pk.get("pts_time"))
            if idx is not None and t is not None:
                times.setdefault(idx, []).append(t)
    if not streams:
        raise MalformedInput(
            f"no audio or video streams in the {demuxer} data{': ' + err if err else ''}"
        )
    return MediaInfo(
        format_name=str(fmt.get("format_name") or demuxer),
        duration=_num(fmt.get("duration")),
        start_time=_num(fmt.get("start_time")),
        bit_rate=_int(fmt.get("bit_rate")) or None,
        streams=tuple(streams),
        tags={str(k): str(v) for k, v in (fmt.get("tags") or {}).items()},
        packet_times={k: tuple(sorted(v)) for k, v in times.items()},
    )


def _replace_frames(info: StreamInfo, frames: int | None) -> StreamInfo:
    return replace(info, nb_frames=frames)


# ---------------------------------------------------------------------------------------------
# Capabilities


@functools.lru_cache(maxsize=4)
def _encoders(ffmpeg: str) -> frozenset[str]:
    proc = _run([ffmpeg, "-hide_banner", "-encoders"], timeout=30, what="listing encoders")
    names = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)


def encoders() -> frozenset[str]:
    """Names of the encoders this ffmpeg build has."""
    return _encoders(tool("ffmpeg"))


@functools.lru_cache(maxsize=4)
def _version(ffmpeg: str) -> tuple[int, int]:
    proc = _run([ffmpeg, "-hide_banner", "-version"], timeout=30, what="ffmpeg -version")
    m = re.search(rb"ffmpeg version \D*(\d+)\.(\d+)", proc.stdout)
    return (int(m[1]), int(m[2])) if m else (99, 0)  # git builds: assume recent


def ffmpeg_version() -> tuple[int, int]:
    """(major, minor) of ffmpeg; (99, 0) for builds without a release number."""
    return _version(tool("ffmpeg"))


# ---------------------------------------------------------------------------------------------
# Loudness


_LUFS = re.compile(rb"Integrated loudness:\s*I:\s*(-?\d+(?:\.\d+)?|-?inf|nan)\s*LUFS", re.I)
_PEAK = re.compile(rb"Sample peak:\s*Peak:\s*(-?\d+(?:\.\d+)?|-?inf)\s*dBFS", re.I)


@dataclass(frozen=True)
class Loudness:
    """EBU R128 integrated loudness (None: silent, everything gated out) and sample peak."""

    lufs: float | None
    peak_dbfs: float | None
    #: ffmpeg's stderr (info level), for callers that chained other reporting filters.
    log: bytes = field(default=b"", repr=False, compare=False)


def integrated_loudness(
    input_argv: Sequence[str],
    *,
    timeout: float,
    what: str,
    pre_filter: str = "",
    stream: str = "0:a:0",
    input_bytes: bytes | None = None,
) -> Loudness:
    """Measure with ffmpeg's ``ebur128`` filter (ITU-R BS.1770 gating, summary from stderr)."""
    chain = f"{pre_filter}," if pre_filter else ""
    proc = run_ffmpeg(
        [
            *input_argv,
            "-map",
            stream,
            "-af",
            f"{chain}ebur128=framelog=verbose:peak=sample",
            "-f",
            "null",
            "-",
        ],
        timeout=timeout,
        what=what,
        loglevel="info",
        input_bytes=input_bytes,
    )
    text = proc.stderr
    summary = text[text.rfind(b"Summary:") :] if b"Summary:" in text else text
    m = _LUFS.search(summary)
    if m is None:
        raise MediaToolError(
            f"{what}: no loudness summary from ffmpeg: "
            + stderr_tail(text.decode("utf-8", "replace"))
        )
    lufs = _num(m[1].decode())
    p = _PEAK.search(summary)
    peak = _num(p[1].decode()) if p else None
    if lufs is None or lufs <= SILENCE_LUFS + 0.05:
        lufs = None
    return Loudness(lufs, peak, text)


# ---------------------------------------------------------------------------------------------
# Temporary files


@contextmanager
def workdir(prefix: str = "synthlabel-av-") -> Iterator[Path]:
    """A private temporary directory, removed on exit (also after errors)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


def media_timeout(seconds: float | None, *, factor: float, base: float = 60.0) -> float:
    """A generous limit for processing ``seconds`` of media (None: unknown length)."""
    length = seconds if seconds and seconds > 0 else 600.0
    return base + factor * length
