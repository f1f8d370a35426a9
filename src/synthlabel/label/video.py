"""Explicit video labels, GB 45438-2025 §5.4: a caption burnt into the opening frames.

The caption is the same label as for images (:func:`synthlabel.label.visible.draw_label`):
drawn on a transparent canvas the size of the (displayed) frame, so its text height is at
least 5 % of the short side and it looks like the image label; ffmpeg overlays it with
``enable='lt(t,T)'``, i.e. by timestamps, so variable-frame-rate video shows it for the same
time as constant-rate video (at least :attr:`VideoCaptionOptions.seconds`, never below 2 s).
Optional: a persistent corner label (same size rule), an end caption, and the voice prompt of
:mod:`synthlabel.label.audio` mixed into the start of the audio.

The video is encoded once with the source codec family (libx264 for H.264, libx265 for HEVC,
libvpx-vp9 for VP9, ...), resolution, pixel format, colour tags and timestamps; audio, subtitle
and attachment streams are copied packet for packet unless the voice prompt is requested (then
the first audio stream is mixed with it and re-encoded once at the source bitrate). See
``docs/explicit-av-labels.md``.
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageStat, UnidentifiedImageError

from synthlabel.errors import MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.label import _ffmpeg as ff
from synthlabel.label.audio import (
    PROMPT_MIN_BITRATE,
    AudioPromptOptions,
    audio_encoder_args,
    prepare_prompt,
)
from synthlabel.label.visible import (
    POSITIONS,
    STANDARD_MIN_RATIO,
    VisibleOptions,
    check_label_text,
    compute_layout,
    draw_label,
)

__all__ = [
    "MIN_SECONDS",
    "VIDEO_FORMAT_IDS",
    "InvalidVideoOptions",
    "VideoCaptionOptions",
    "VideoLabelError",
    "VideoResult",
    "VideoTooShort",
    "has_video",
    "render_video_caption",
    "video_encoder_args",
]

#: GB 45438 §5.4: the prompt stays on screen for at least 2 s at normal speed.
MIN_SECONDS = 2.0
VIDEO_FORMAT_IDS = ("mp4", "mkv", "mov", "webm", "m4v")
#: Default constant-quality settings per encoder (visually transparent for a single
#: generation; see the docs for the reasoning).
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 24, "libsvtav1": 26, "libaom-av1": 24}
#: Under CRF, the bitrate may not exceed this multiple of the source bitrate (VBV cap).
CRF_CAP = 2.0
_LIGHT_THRESHOLD = 165  # mean grey under the label above which the light plate is used


class VideoLabelError(SynthlabelError):
    """A video caption could not be added."""


class InvalidVideoOptions(VideoLabelError):
    """A :class:`VideoCaptionOptions` value is out of range or unknown."""


class VideoTooShort(MalformedInput):
    """The video has a single frame, or is too short to show the caption for 2 s."""


@dataclass(frozen=True)
class VideoCaptionOptions:
    """What the caption says, where and how long; how the video is re-encoded."""

    text: str = "AI生成"
    position: str = "bottom-right"
    #: Time on screen from the first frame; at least 2.0 (GB 45438 §5.4).
    seconds: float = 3.0
    #: Keep a label (same size rule: text >= 5 % of the short side) for the whole video.
    persistent_corner: bool = False
    #: Where the persistent label goes; None: the caption's position.
    corner_position: str | None = None
    #: Also show the caption for the last ``seconds``.
    end_caption: bool = False
    #: Mix the audio prompt into the start of the first audio stream (re-encodes that stream).
    voice_prompt: bool = False
    prompt: AudioPromptOptions = field(default_factory=AudioPromptOptions)
    #: Content audio level under the voice prompt (dB), with 50 ms ramps.
    duck_db: float = -12.0
    #: ``"auto"``: dark or light plate from the opening frame; ``"dark"``; ``"light"``.
    theme: str = "auto"
    style: str = "plate"
    font_path: str | None = None
    #: Constant-quality value; None: :data:`DEFAULT_CRF` for the encoder.
    crf: int | None = None
    #: Encode at the source bitrate (single-pass ABR) instead of constant quality.
    match_bitrate: bool = False
    #: Encoder speed preset (x264/x265 names); None: ``medium``.
    preset: str | None = None
    #: Caption videos shorter than 2 s for their whole length instead of refusing them.
    allow_short: bool = False
    #: ``False`` allows text without both elements (tests, previews); never a smaller label.
    strict: bool = True
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.position not in POSITIONS:
            raise InvalidVideoOptions(f"position {self.position!r} not one of {POSITIONS}")
        if self.corner_position is not None and self.corner_position not in POSITIONS:
            raise InvalidVideoOptions(
                f"corner_position {self.corner_position!r} not one of {POSITIONS}"
            )
        if not (math.isfinite(self.seconds) and self.seconds >= MIN_SECONDS):
            raise InvalidVideoOptions(
                f"seconds {self.seconds} is below the {MIN_SECONDS:g} s GB 45438 requires"
            )
        if self.theme not in ("auto", "dark", "light"):
            raise InvalidVideoOptions(f"theme {self.theme!r} not one of auto, dark, light")
        if self.style not in ("plate", "outline"):
            raise InvalidVideoOptions(f"style {self.style!r} not one of plate, outline")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise InvalidVideoOptions(f"crf {self.crf} not in 0..63")
        if not -60 <= self.duck_db <= 0:
            raise InvalidVideoOptions(f"duck_db {self.duck_db} not in -60..0")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise InvalidVideoOptions("timeout_s must be positive")
        text = self.text.strip()
        if not text:
            raise InvalidVideoOptions("caption text is empty")
        problems = check_label_text(text)
        if problems and self.strict:
            raise InvalidVideoOptions(f"caption text {text!r}: {'; '.join(problems)}")

    def visible_options(self, position: str | None = None) -> VisibleOptions:
        return VisibleOptions(
            text=self.text,
            position=position or self.position,
            min_height_ratio=STANDARD_MIN_RATIO,
            style=self.style,
            font_path=self.font_path,
            strict=self.strict,
        )


@dataclass(frozen=True)
class VideoResult:
    """The labelled video and what was done."""

    data: bytes
    width: int
    height: int
    #: Average frame rate of the output (frames per second).
    fps: float
    codec: str
    #: How long the opening caption is on screen (the whole video when persistent).
    caption_seconds: float
    #: Measured ink height of the caption text in pixels (>= 5 % of the short side).
    text_px: int
    #: ``"crf 18"`` or ``"bitrate 2500k"`` (plus the VBV cap when one applies).
    crf_or_bitrate: str
    encoder: str = ""
    pix_fmt: str = ""
    #: Caption box ``(x0, y0, x1, y1)`` in stored pixels.
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    min_px: int = 0
    duration_seconds: float = 0.0
    variable_frame_rate: bool = False
    #: ``"copied"``, ``"voice prompt mixed, re-encoded"``, ``"prompt track added"``, ``"none"``.
    audio: str = "none"
    theme: str = "dark"
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# Encoder settings


def _source_video_bitrate(v: ff.StreamInfo, info: ff.MediaInfo) -> int | None:
    if v.bit_rate:
        return v.bit_rate
    if info.bit_rate:
        others = sum(s.bit_rate or 0 for s in info.streams if s is not v)
        guess = info.bit_rate - others
        return guess if guess > 0 else None
    return None


# ffprobe prints some colour values under names the encoder options spell differently
_COLOR_OPTION_NAMES = {
    "gbr": "rgb",
    "ycgco": "ycocg",
    "bt470m": "gamma22",
    "bt470bg": "gamma28",
    "bt2020ncl": "bt2020nc",
    "bt2020cl": "bt2020c",
}


def video_encoder_args(
    v: ff.StreamInfo,
    source_bitrate: int | None,
    options: VideoCaptionOptions,
) -> tuple[list[str], str, str, list[str]]:
    """(args, encoder, "crf N" / "bitrate Nk", notes) to encode like the stream ``v``."""
    available = ff.encoders()
    notes: list[str] = []
    codec = v.codec
    candidates = {
        "h264": ["libx264"],
        "hevc": ["libx265"],
        "vp9": ["libvpx-vp9"],
        "vp8": ["libvpx"],
        "av1": ["libsvtav1", "libaom-av1"],
        "mpeg4": ["mpeg4"],
        "mjpeg": ["mjpeg"],
        "prores": ["prores_ks"],
        "ffv1": ["ffv1"],
        "mpeg2video": ["mpeg2video"],
    }.get(codec, [codec])
    encoder = next((e for e in candidates if e in available), None)
    if encoder is None:
        raise UnsupportedFormat(
            f"this ffmpeg has no encoder for {codec or 'unknown'} video "
            f"(tried {', '.join(candidates)})"
        )
    args = ["-c:v:0", encoder]
    br = source_bitrate
    preset = options.preset or "medium"
    if encoder in ("libx264", "libx265"):
        args += ["-preset", preset]
        if options.match_bitrate and br:
            args += [
                "-b:v:0",
                str(br),
                "-maxrate:v:0",
                str(round(br * 1.5)),
                "-bufsize:v:0",
                str(br * 2),
            ]
            how = f"bitrate {br // 1000}k"
        else:
            crf = options.crf if options.crf is not None else DEFAULT_CRF[encoder]
            args += ["-crf", str(crf)]
            how = f"crf {crf}"
            if br:
                cap = round(br * CRF_CAP)
                args += ["-maxrate:v:0", str(cap), "-bufsize:v:0", str(cap * 2)]
                how += f" (max {cap // 1000}k)"
        if encoder == "libx265":
            args += ["-x265-params", "log-level=error"]
            if v.codec_tag in ("hvc1", "hev1"):
                args += ["-tag:v:0", v.codec_tag]
    elif encoder in ("libvpx-vp9", "libvpx"):
        args += ["-deadline", "good", "-cpu-used", "2", "-row-mt", "1"]
        if options.match_bitrate and br:
            args += ["-b:v:0", str(br)]
            how = f"bitrate {br // 1000}k"
        else:
            crf = options.crf if options.crf is not None else DEFAULT_CRF.get(encoder, 10)
            limit = round(br * CRF_CAP) if br else 0
            if encoder == "libvpx" and not limit:
                limit = 8_000_000
            args += ["-crf", str(crf), "-b:v:0", str(limit)]
            how = f"crf {crf}" + (f" (max {limit // 1000}k)" if limit else "")
    elif encoder in ("libsvtav1", "libaom-av1"):
        crf = options.crf if options.crf is not None else DEFAULT_CRF[encoder]
        args += ["-crf", str(crf)]
        args += (
            ["-preset", "8"]
            if encoder == "libsvtav1"
            else ["-cpu-used", "6", "-row-mt", "1", "-b:v:0", "0"]
        )
        how = f"crf {crf}"
    elif encoder in ("mpeg4", "mjpeg", "mpeg2video"):
        if options.match_bitrate and br:
            args += ["-b:v:0", str(br)]
            how = f"bitrate {br // 1000}k"
        else:
            args += ["-q:v:0", "2"]
            how = "q 2"
    elif encoder == "prores_ks":
        profiles = {"Proxy": "0", "LT": "1", "Standard": "2", "HQ": "3", "4444": "4", "4444XQ": "5"}
        args += ["-profile:v:0", profiles.get(v.profile, "2")]
        how = f"prores profile {v.profile or 'Standard'}"
    else:
        how = "lossless" if encoder == "ffv1" else "encoder default"
    if v.pix_fmt:
        args += ["-pix_fmt:v:0", v.pix_fmt]
    for key, opt in (
        ("color_range", "-color_range"),
        ("color_space", "-colorspace"),
        ("color_primaries", "-color_primaries"),
        ("color_transfer", "-color_trc"),
    ):
        if key in v.color:
            value = v.color[key]
            args += [f"{opt}:v:0", _COLOR_OPTION_NAMES.get(value, value)]
    notes.append(f"{codec} re-encoded once with {encoder}, {how}, pixel format {v.pix_fmt}")
    return args, encoder, how, notes


def _fps_mode_args() -> list[str]:
    return (
        ["-fps_mode:v:0", "passthrough"]
        if ff.ffmpeg_version() >= (5, 1)
        else ["-vsync", "passthrough"]
    )


def _moov_first(data: bytes) -> bool:
    """Whether the top-level ``moov`` box precedes ``mdat`` (a "fast start" file)."""
    pos, n = 0, len(data)
    while pos + 8 <= n:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"moov":
            return True
        if kind == b"mdat":
            return False
        if size == 1 and pos + 16 <= n:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            return False
        pos += size
    return False


def _muxer_args(demuxer: str, data: bytes, info: ff.MediaInfo, v: ff.StreamInfo) -> list[str]:
    if demuxer == "mov":
        brand = info.tags.get("major_brand", "").strip()
        args = ["-f", "mov" if brand == "qt" else "mp4"]
        if brand and brand != "qt":
            args += ["-brand", info.tags["major_brand"]]
        if _moov_first(data):
            args += ["-movflags", "+faststart"]
        den = v.time_base.partition("/")[2]
        if den.isdigit() and 0 < int(den) <= 2**31 - 1:
            args += ["-video_track_timescale", den]
        return args
    return ["-f", "webm" if b"webm" in data[:64] else "matroska"]


# ---------------------------------------------------------------------------------------------
# Caption images


def _sar(v: ff.StreamInfo) -> Fraction:
    try:
        num, _, den = v.sar.partition(":")
        f = Fraction(int(num), int(den))
    except (ValueError, ZeroDivisionError):
        return Fraction(1)
    return f if f > 0 else Fraction(1)


def _first_frame(src: Path, demuxer: str, timeout: float) -> Image.Image:
    proc = ff.run_ffmpeg(
        [
            *ff.input_args(src, demuxer),
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-pix_fmt",
            "rgb24",
            "-c:v",
            "png",
            "-f",
            "image2pipe",
            "pipe:1",
        ],
        timeout=timeout,
        what="decoding the opening frame",
        error=MalformedInput,
    )
    try:
        im = Image.open(io.BytesIO(proc.stdout))
        im.load()
    except (UnidentifiedImageError, OSError) as e:
        raise MalformedInput(f"the video's first frame cannot be decoded: {e}") from None
    return im.convert("RGB")


@dataclass(frozen=True)
class _Caption:
    path: Path
    x: int
    y: int
    box: tuple[int, int, int, int]
    ink_px: int
    min_px: int


def _theme(frame: Image.Image, box: tuple[int, int, int, int], theme: str) -> str:
    if theme != "auto":
        return theme
    level = ImageStat.Stat(frame.crop(box).convert("L")).mean[0]
    return "light" if level > _LIGHT_THRESHOLD else "dark"


def _render_caption(
    frame: Image.Image, sar: Fraction, opts: VisibleOptions, theme: str, path: Path
) -> tuple[_Caption, str]:
    """Draw the label at display proportions; store it at stored-pixel proportions."""
    w, h = frame.size
    display = (max(1, round(w * sar)), h)
    shown = frame.resize(display) if display != frame.size else frame
    layout = compute_layout(display, opts)
    chosen = _theme(shown, layout.box, theme)
    canvas = Image.new("RGBA", display, (0, 0, 0, 0))
    drawn, box, ink = draw_label(canvas, opts, theme=chosen)
    crop = drawn.crop(box)
    if display != frame.size:
        x0 = math.floor(box[0] / sar)
        x1 = min(w, math.ceil(box[2] / sar))
        crop = crop.resize((max(1, x1 - x0), crop.height), Image.Resampling.LANCZOS)
        box = (x0, box[1], x0 + crop.width, box[3])
    crop.save(path, "PNG", compress_level=1)
    return _Caption(path, box[0], box[1], box, ink, layout.min_px), chosen


# ---------------------------------------------------------------------------------------------
# The file operation


def has_video(data: bytes, format_id: str) -> bool:
    """Whether ``data`` holds a real video stream (cover art does not count)."""
    with ff.workdir() as work:
        src = work / "in.media"
        src.write_bytes(data)
        return ff.probe(src, ff.demuxer_for(format_id)).first("video") is not None


# Overlay blending formats that keep the source's pixel format (no per-frame conversion; with
# ``format=auto`` ffmpeg 5.1 may pick RGBA and convert every frame there and back: slow, lossy).
_OVERLAY_FORMATS = {
    "yuv420p": "yuv420",
    "yuvj420p": "yuv420",
    "yuva420p": "yuv420",
    "nv12": "yuv420",
    "yuv420p10le": "yuv420p10",
    "yuv420p10be": "yuv420p10",
    "yuv422p": "yuv422",
    "yuvj422p": "yuv422",
    "yuv422p10le": "yuv422p10",
    "yuv422p10be": "yuv422p10",
    "yuv444p": "yuv444",
    "yuvj444p": "yuv444",
    "gbrp": "gbrp",
    "rgb24": "rgb",
    "bgr24": "rgb",
    "rgba": "rgb",
    "bgra": "rgb",
    "argb": "rgb",
    "abgr": "rgb",
}


def _overlay_format(pix_fmt: str) -> str:
    return _OVERLAY_FORMATS.get(pix_fmt, "auto")


def _variable_rate(times: list[float]) -> bool:
    """Frame durations among the first packets differ by more than 10 % (ms rounding aside)."""
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    if len(steps) < 3:
        return False
    lo, hi = min(steps), max(steps)
    return hi - lo > max(0.0015, 0.1 * lo)


def _duck_expr(start: float, end: float, gain: float, ramp: float = 0.05) -> str:
    g = f"{gain:.6f}"
    return f"1-(1-{g})*clip(min((t-{start - ramp:.4f})/{ramp},({end + ramp:.4f}-t)/{ramp}),0,1)"


def render_video_caption(
    data: bytes, format_id: str, options: VideoCaptionOptions | None = None
) -> VideoResult:
    """Burn the caption into the opening frames (and optionally more), one encode.

    ``format_id``: ``mp4`` (also MOV/M4V, same demuxer) or ``mkv`` (also WebM).
    Raises :class:`VideoTooShort`, :class:`~synthlabel.errors.MalformedInput` (not video, empty,
    undecodable), :class:`~synthlabel.errors.UnsupportedFormat` (no encoder for the codec),
    :class:`InvalidVideoOptions`, :class:`~synthlabel.label.visible.LabelDoesNotFit` or
    :class:`~synthlabel.label._ffmpeg.MediaToolError` (ffmpeg failed or timed out; the message
    ends with ffmpeg's last stderr lines).
    """
    opts = options or VideoCaptionOptions()
    demuxer = ff.demuxer_for(format_id)
    if demuxer not in ("mov", "matroska"):
        raise UnsupportedFormat(f"video captions support mp4/mov and mkv/webm, not {format_id!r}")
    if not data:
        raise MalformedInput(f"empty {format_id} data")
    notes: list[str] = []
    warnings: list[str] = []
    with ff.workdir() as work:
        src = work / f"in.{format_id.lower()}"
        src.write_bytes(data)
        info = ff.probe(src, demuxer, packets=400)
        v = info.first("video")
        if v is None:
            raise MalformedInput(f"no video stream in the {format_id} data")
        times = list(info.packet_times.get(v.index, ()))
        duration = v.duration or info.duration or 0.0
        if v.nb_frames is None and duration < 1.0:
            info = ff.probe(src, demuxer, count_packets=True)
            v = info.first("video") or v
        if v.nb_frames is not None and v.nb_frames < 2:
            raise VideoTooShort(
                f"the video has {v.nb_frames} frame(s): a caption shown for 2 s needs a moving "
                "picture (label single images with the image label)"
            )
        if duration <= 0:
            raise MalformedInput("the video stream has no duration")
        first = times[0] if times else v.start_time or 0.0
        t0 = max(0.0, first - (info.start_time or 0.0))
        vfr = _variable_rate(times)
        if duration < MIN_SECONDS:
            if not opts.allow_short:
                raise VideoTooShort(
                    f"the video lasts {duration:.2f} s: GB 45438 asks for the caption to stay "
                    f"{MIN_SECONDS:g} s (allow_short=True captions the whole video)"
                )
            warnings.append(
                f"video shorter than {MIN_SECONDS:g} s: caption shown for its whole length "
                f"({duration:.2f} s)"
            )
        timeout = opts.timeout_s or ff.media_timeout(duration, factor=20.0)
        frame = _first_frame(src, demuxer, timeout)
        sar = _sar(v)
        if sar != 1:
            notes.append(f"anamorphic video (SAR {v.sar}): caption drawn at display proportions")
        if v.rotation:
            notes.append(
                f"rotated video ({v.rotation}°): frames stored upright, rotation tag dropped"
            )
        caption, theme = _render_caption(
            frame, sar, opts.visible_options(), opts.theme, work / "caption.png"
        )
        end_t = t0 + duration
        overlays: list[tuple[_Caption, str | None]] = []
        corner_pos = opts.corner_position or opts.position
        if opts.persistent_corner and corner_pos == opts.position:
            overlays.append((caption, None))
            shown = duration
        else:
            overlays.append((caption, f"lt(t,{t0 + opts.seconds:.6f})"))
            shown = min(opts.seconds, duration)
            if opts.persistent_corner:
                corner, _ = _render_caption(
                    frame, sar, opts.visible_options(corner_pos), theme, work / "corner.png"
                )
                overlays.append((corner, None))
        if opts.end_caption and not (opts.persistent_corner and corner_pos == opts.position):
            overlays.append((caption, f"gte(t,{end_t - opts.seconds:.6f})"))
        # inputs: 0 video, 1.. caption images (one per distinct file), then the prompt
        images: list[Path] = []
        for cap, _ in overlays:
            if cap.path not in images:
                images.append(cap.path)
        inputs = [*ff.input_args(src, demuxer)]
        for p in images:
            inputs += ff.input_args(p, "png_pipe")
        chain: list[str] = []
        last = f"[0:{v.index}]"
        blend = _overlay_format(v.pix_fmt)
        if blend == "auto":
            notes.append(f"pixel format {v.pix_fmt}: overlay blends in a converted format")
        for k, (cap, enable) in enumerate(overlays):
            idx = 1 + images.index(cap.path)
            en = f":enable='{enable}'" if enable else ""
            label = "vout" if k == len(overlays) - 1 else f"v{k}"
            chain.append(
                f"{last}[{idx}:v]overlay=x={cap.x}:y={cap.y}:format={blend}"
                f":eof_action=repeat{en}[{label}]"
            )
            last = f"[{label}]"
        vargs, encoder, how, enc_notes = video_encoder_args(v, _source_video_bitrate(v, info), opts)
        notes.extend(enc_notes)
        maps = ["-map", "[vout]"]
        codec_args: list[str] = [*vargs]
        audio_state = "copied" if info.count("audio") else "none"
        a0 = info.first("audio")
        next_input = 1 + len(images)
        if opts.voice_prompt and a0 is not None:
            loud = ff.integrated_loudness(
                ff.input_args(src, demuxer),
                timeout=timeout,
                what="measuring the audio loudness",
                stream=f"0:{a0.index}",
            )
            prompt = prepare_prompt(
                opts.prompt,
                sample_rate=a0.sample_rate,
                channels=a0.channels,
                channel_layout=a0.channel_layout,
                content_lufs=loud.lufs,
                timeout=timeout,
            )
            inputs += prompt.write_raw(work / "prompt.raw", "flt", 0)
            pad = opts.prompt.pad_ms / 1000
            duck = _duck_expr(pad, prompt.seconds - pad, 10 ** (opts.duck_db / 20))
            chain.append(
                f"[0:{a0.index}]asetnsamples=n=256:p=0,volume='{duck}':eval=frame[duck];"
                f"[duck][{next_input}:a]amix=inputs=2:duration=first:dropout_transition=0:"
                "normalize=0[aout]"
            )
            maps += ["-map", "[aout]", "-map", "0:a?", "-map", f"-0:{a0.index}"]
            aargs, _bitrate, anotes = audio_encoder_args(
                a0, None, ":a:0", min_bitrate=PROMPT_MIN_BITRATE
            )
            codec_args += ["-c:a", "copy", *aargs]
            codec_args += ["-map_metadata:s:a:0", f"0:s:{a0.index}"]
            notes.extend(prompt.notes)
            notes.extend(anotes)
            if prompt.seconds > duration:
                warnings.append("the voice prompt is longer than the video: it is cut off")
            audio_state = "voice prompt mixed, re-encoded"
        elif opts.voice_prompt:
            sr, layout = 48000, "stereo"
            prompt = prepare_prompt(
                opts.prompt,
                sample_rate=sr,
                channels=2,
                channel_layout=layout,
                content_lufs=None,
                timeout=timeout,
            )
            inputs += prompt.write_raw(work / "prompt.raw", "flt", 0)
            webm = demuxer == "matroska" and b"webm" in data[:64]
            enc = (
                ["-c:a:0", "libopus", "-b:a:0", "96000"]
                if webm
                else ["-c:a:0", "aac", "-b:a:0", "128000"]
            )
            maps += ["-map", f"{next_input}:a"]
            codec_args += enc
            audio_state = "prompt track added"
            notes.append("video had no audio: a new audio track carries the prompt")
        else:
            maps += ["-map", "0:a?"]
            codec_args += ["-c:a", "copy"]
        maps += ["-map", "0:s?"]
        codec_args += ["-c:s", "copy"]
        if demuxer == "matroska":
            maps += ["-map", "0:t?"]
            codec_args += ["-c:t", "copy"]
        pics = [s for s in info.streams if s.kind == "video" and s.attached_pic]
        for n, s in enumerate(pics, start=1):
            maps += ["-map", f"0:{s.index}"]
            codec_args += [f"-c:v:{n}", "copy"]
        extra_video = info.count("video") - 1
        if extra_video > 0:
            warnings.append(f"{extra_video} further video stream(s) not carried (unlabelled)")
        if any(s.kind == "data" for s in info.streams):
            notes.append("data streams (e.g. timecode) not carried")
        out = work / f"out.{format_id.lower()}"
        ff.run_ffmpeg(
            [
                *inputs,
                "-filter_complex",
                ";".join(chain),
                *maps,
                *codec_args,
                *_fps_mode_args(),
                "-map_metadata",
                "0",
                "-map_metadata:s:v:0",
                f"0:s:{v.index}",
                "-map_chapters",
                "0",
                *_muxer_args(demuxer, data, info, v),
                "-y",
                "file:" + str(out),
            ],
            timeout=timeout,
            what=f"encoding the captioned {format_id}",
        )
        result = ff.probe(out, demuxer, what="reading back the captioned video")
        rv = result.first("video")
        if rv is None:
            raise VideoLabelError("the captioned file has no video stream")
        encoded = out.read_bytes()
    got = rv.duration or result.duration or 0.0
    if got and got < 0.9 * duration - 0.1:
        if got < MIN_SECONDS and not opts.allow_short:
            raise VideoTooShort(
                f"only {got:.2f} s of the {duration:.2f} s the {format_id} file announces could "
                "be decoded (truncated?): too short for a 2 s caption"
            )
        warnings.append(
            f"only {got:.2f} s of the announced {duration:.2f} s could be decoded (truncated?)"
        )
    vfr = vfr or bool(
        v.avg_frame_rate
        and v.r_frame_rate
        and abs(v.avg_frame_rate - v.r_frame_rate) > 0.01 * v.r_frame_rate
    )
    if vfr:
        notes.append("variable frame rate: timestamps kept, caption timed by timestamps")
    if (rv.width, rv.height) != (v.width, v.height) and not v.rotation:
        warnings.append(f"output is {rv.width}x{rv.height}, source {v.width}x{v.height}")
    return VideoResult(
        data=encoded,
        width=rv.width,
        height=rv.height,
        fps=round(rv.avg_frame_rate or v.avg_frame_rate or 0.0, 3),
        codec=rv.codec,
        caption_seconds=round(shown, 3),
        text_px=caption.ink_px,
        crf_or_bitrate=how,
        encoder=encoder,
        pix_fmt=rv.pix_fmt,
        box=caption.box,
        min_px=caption.min_px,
        duration_seconds=rv.duration or result.duration or 0.0,
        variable_frame_rate=vfr,
        audio=audio_state,
        theme=theme,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )
