"""Visible-label detection: OCR captions, text notices, audio prompts (fixtures made here)."""

from __future__ import annotations

import contextlib
import io
import socket
import wave
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from synthlabel.detect import _ocr, _prompts
from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.detect.visible import DETECTOR, TEXT_DETECTOR, analyse_captions, find_notices
from synthlabel.errors import SynthlabelError
from synthlabel.formats import registry as formats
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.label.visible import VisibleOptions, render_visible
from synthlabel.model.findings import Finding, Strength
from synthlabel.model.policy import decide

pytestmark = pytest.mark.skipif(not _ocr.available(), reason="synthlabel[ocr] not installed")
DEEP = DetectOptions(max_cost="expensive", time_budget=None)


def asset_for(data: bytes, name: str) -> Asset:
    report = inspect_bytes(data, path=name, c2pa=False)
    handler = formats.get(report.format) if report.format else None
    return Asset(name, handler, report, data)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Nothing may be downloaded at run time: every socket connection fails."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def _background(w: int, h: int, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = (rng.random((h // 16 + 1, w // 16 + 1, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _labelled(w: int, h: int, **opts: Any) -> tuple[bytes, Any]:
    res = render_visible(_png(_background(w, h)), "png", VisibleOptions(**opts))
    return res.data, res


def _codes(found: list[Finding]) -> list[str]:
    return [f.code for f in found]


@pytest.mark.parametrize(
    ("size", "position", "text"),
    [((640, 480), "bottom-right", "AI生成"), ((480, 640), "top", "本内容由人工智能生成")],
)
def test_own_image_label_found_with_geometry(
    size: tuple[int, int], position: str, text: str
) -> None:
    data, res = _labelled(*size, position=position, text=text)
    found = DETECTOR.detect(asset_for(data, "x.png"), DEEP)
    assert _codes(found) == ["visible.caption"]
    f = found[0]
    assert f.strength is Strength.MODERATE and "§5.2" in f.source
    d = f.details
    assert d["text"] == text
    assert d["compliant"] == "yes", d["failing"]
    assert abs(d["height_px"] - res.text_px) <= 2
    assert d["height_ratio"] == pytest.approx(res.text_px / min(size), abs=0.005)
    x0, y0, x1, y1 = d["box"]
    bx0, by0, bx1, by1 = res.box
    assert bx0 <= x0 < x1 <= bx1 and by0 <= y0 < y1 <= by1  # the text sits inside the plate
    assert d["side"] == position and d["position"] in ("corner", "edge")
    assert decide(found).verdict.value == "possible"


def test_label_survives_jpeg_and_half_size() -> None:
    data, _ = _labelled(800, 600, position="bottom-left")
    img = Image.open(io.BytesIO(data)).convert("RGB").resize((400, 300), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=70)
    found = DETECTOR.detect(asset_for(out.getvalue(), "x.jpg"), DEEP)
    assert _codes(found) == ["visible.caption"]
    assert found[0].details["side"] == "bottom-left"
    assert found[0].details["compliant"] == "yes"


def test_small_caption_and_centre_caption_are_not_compliant() -> None:
    small, _ = _labelled(800, 600, position="bottom-right", min_height_ratio=0.03, strict=False)
    f = DETECTOR.detect(asset_for(small, "x.png"), DEEP)
    assert _codes(f) == ["visible.caption"]
    assert f[0].details["compliant"] == "no"
    assert any("below 5 %" in r for r in f[0].details["failing"])
    # a caption in the middle of the picture: the position rule fails
    img = _background(800, 600)
    pil_font = _font(40)
    ImageDraw.Draw(img).text((330, 280), "AI生成", font=pil_font, fill=(255, 255, 255),
                             stroke_width=3, stroke_fill=(0, 0, 0))  # fmt: skip
    f = DETECTOR.detect(asset_for(_png(img), "x.png"), DEEP)
    assert _codes(f) == ["visible.caption"]
    assert f[0].details["position"] == "inside"
    assert any("edge or corner" in r for r in f[0].details["failing"])


def _font(px: int) -> Any:
    from synthlabel.label.fonts import load_font, resolve_font

    choice, _ = resolve_font("AI生成即梦人工智能", None)
    return load_font(choice.path, choice.index, px)


def test_partial_label_is_weak_and_other_text_gives_nothing() -> None:
    data, _ = _labelled(640, 480, text="即梦AI", strict=False)
    found = DETECTOR.detect(asset_for(data, "x.png"), DEEP)
    assert _codes(found) == ["visible.partial"]
    assert found[0].strength is Strength.WEAK
    assert decide(found).verdict.value == "suspected"
    # a shop sign and a UI line with neither both elements: no finding
    img = Image.new("RGB", (640, 480), (240, 240, 235))
    draw = ImageDraw.Draw(img)
    draw.text((40, 40), "OPEN 24 HOURS", font=_font(44), fill=(20, 20, 20))
    draw.text((40, 400), "设置  文件  帮助", font=_font(36), fill=(20, 20, 20))
    assert DETECTOR.detect(asset_for(_png(img), "x.png"), DEEP) == []


def test_ocr_result_is_cached_for_other_detectors() -> None:
    data, _ = _labelled(480, 360)
    asset = asset_for(data, "x.png")
    DETECTOR.detect(asset, DEEP)
    result = asset.cached("ocr", lambda: None)
    assert result is not None and result.kind == "image"
    assert any("AI生成" in b.text for b in result.frames[0][2])


def test_elements_and_grouping() -> None:
    assert _ocr.elements("AI生成").both
    assert _ocr.elements("Al生成").both  # OCR confusion of I and l next to CJK
    assert not _ocr.elements("MAIN生成").ai
    assert _ocr.elements("即梦AI").ai and not _ocr.elements("即梦AI").generation
    lines = [
        _ocr.TextBox("AI", (10, 10, 40, 40), 0.9),
        _ocr.TextBox("生成", (50, 10, 110, 40), 0.9),
        _ocr.TextBox("far away", (400, 300, 500, 330), 0.9),
    ]
    groups = _ocr.group_lines(lines)
    assert ["".join(b.text for b in g) for g in groups] == ["AI生成", "far away"]
    rgb = np.zeros((480, 640, 3), np.uint8)
    caps = analyse_captions(rgb, lines)
    assert [c.text for c in caps] == ["AI生成"]


def test_video_caption_duration() -> None:
    from synthlabel.label import _ffmpeg as ff
    from synthlabel.label.video import VideoCaptionOptions, render_video_caption

    with ff.workdir() as work:
        src = work / "in.mp4"
        ff.run_ffmpeg(
            ["-f", "lavfi", "-i", "testsrc2=size=480x270:rate=12:duration=4",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", str(src)],
            timeout=60, what="test clip",
        )  # fmt: skip
        clip = src.read_bytes()
    short = render_video_caption(clip, "mp4", VideoCaptionOptions(seconds=2.5)).data
    found = DETECTOR.detect(asset_for(short, "x.mp4"), DEEP)
    caps = [f for f in found if f.code == "visible.caption"]
    assert caps, found
    d = caps[0].details
    assert d["location"] == "start" and d["first_seen_s"] == 0.0
    assert 2.0 <= d["shown_s"] <= 3.0, d
    assert d["compliant"] == "yes", d["failing"]
    assert "§5.4" in caps[0].source


def _wav(x: np.ndarray, sr: int = 22050) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def _music(seconds: float, sr: int = 22050) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(3)
    x: np.ndarray = (
        0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.5 * t) ** 2
        + 0.1 * np.sin(2 * np.pi * 330 * t + np.sin(t))
        + 0.02 * rng.standard_normal(t.size)
    )
    return x


@pytest.mark.parametrize(("mode", "where"), [("rhythm", "end"), ("voice", "start")])
def test_audio_prompts(mode: str, where: str) -> None:
    from synthlabel.label.audio import AudioPromptOptions, render_audio_prompt

    base = _wav(_music(14.0))
    assert DETECTOR.detect(asset_for(base, "x.wav"), DEEP) == []
    res = render_audio_prompt(base, "wav", AudioPromptOptions(mode=mode, where=(where,)))
    found = DETECTOR.detect(asset_for(res.data, "x.wav"), DEEP)
    assert _codes(found) == [f"visible.{mode}_prompt"], found
    d = found[0].details
    assert d["location"] == where
    assert abs(d["onset_s"] - (res.positions[0] + 0.2)) < 0.15
    assert "§5.3" in found[0].source


def test_rhythm_envelope_rejects_other_tones() -> None:
    sr = _prompts.RATE
    t = np.arange(sr * 3) / sr
    steady = 0.5 * np.sin(2 * np.pi * 800 * t)
    assert _prompts.rhythm_in(steady) == []
    # S L L S is not the label
    u = int(0.12 * sr)
    parts = []
    for n in (1, 3, 3, 1):
        parts += [0.5 * np.sin(2 * np.pi * 800 * np.arange(n * u) / sr), np.zeros(u)]
    assert _prompts.rhythm_in(np.concatenate([np.zeros(u), *parts])) == []


@pytest.mark.parametrize(
    ("fmt", "make", "where"),
    [
        ("txt", lambda: "（本内容由人工智能生成）\n" + "正文。" * 100, "start"),
        ("md", lambda: "# Title\n\n" + "Body text. " * 50 + "\n\n> 本内容由AI生成\n", "end"),
        ("html", lambda: "<html><body><p>" + "x " * 200 + "</p><p>AI生成内容</p>"
                         + "<p>" + "y " * 200 + "</p></body></html>", "middle"),
    ],
)  # fmt: skip
def test_text_notices(fmt: str, make: Any, where: str) -> None:
    data = make().encode()
    found = TEXT_DETECTOR.detect(asset_for(data, f"x.{fmt}"), DetectOptions())
    assert [(f.code, f.details["location"]) for f in found] == [("visible.notice", where)]
    assert TEXT_DETECTOR.cost == "cheap"
    plain = ("Main said the air was synthetic. " * 20).encode()
    assert TEXT_DETECTOR.detect(asset_for(plain, f"x.{fmt}"), DetectOptions()) == []


def test_document_notices() -> None:
    from synthlabel.label.document import add_docx_notice, add_pdf_notice

    docx = pytest.importorskip("docx")
    buf = io.BytesIO()
    doc = docx.Document()
    doc.add_paragraph("Quarterly report. " * 20)
    doc.save(buf)
    labelled = add_docx_notice(buf.getvalue())
    found = TEXT_DETECTOR.detect(asset_for(labelled, "x.docx"), DetectOptions())
    assert any(f.code == "visible.notice" and "header" in f.details["where"] for f in found)
    assert TEXT_DETECTOR.detect(asset_for(buf.getvalue(), "x.docx"), DetectOptions()) == []

    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(300, 400))
    out = io.BytesIO()
    pdf.save(out)
    labelled = add_pdf_notice(out.getvalue())
    found = TEXT_DETECTOR.detect(asset_for(labelled, "x.pdf"), DetectOptions())
    assert [f.details["text"] for f in found] == ["本文档由人工智能生成"]


def test_find_notices_windows() -> None:
    assert find_notices("t", "x" * 200) == []
    assert [n.position for n in find_notices("t", "AI生成 " + "x" * 200)] == ["start"]
    assert find_notices("t", "This content is generated by AI." + "x" * 100)[0].english_only


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"RIFF\x10\x00\x00\x00WAVEfmt ", b"%PDF-1.4\n%%EOF"],
)
def test_hostile_input_never_raises(data: bytes) -> None:
    for name in ("x.png", "x.wav", "x.pdf", "x.mp4"):
        asset = asset_for(data, name)
        for det in (DETECTOR, TEXT_DETECTOR):
            with contextlib.suppress(SynthlabelError):
                assert isinstance(det.detect(asset, DEEP), list)


def test_missing_espeak_skips_voice_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthlabel.detect.visible import PromptCheckSkipped
    from synthlabel.label.audio import AudioPromptOptions, render_audio_prompt

    base = _wav(_music(6.0))
    rhythm = render_audio_prompt(base, "wav", AudioPromptOptions(mode="rhythm")).data
    monkeypatch.setenv("SYNTHLABEL_ESPEAK", "/nonexistent/espeak-ng")
    _prompts._template.cache_clear()
    try:
        found = DETECTOR.detect(asset_for(rhythm, "x.wav"), DEEP)
        assert _codes(found) == ["visible.rhythm_prompt"]
        assert "voice prompts not checked" in found[0].details["note"]
        with pytest.raises(PromptCheckSkipped, match="espeak"):
            DETECTOR.detect(asset_for(base, "x.wav"), DEEP)
    finally:
        _prompts._template.cache_clear()


# --- EXIF orientation -------------------------------------------------------------------------


def _with_orientation(stored: Image.Image, fmt: str, orientation: int | None) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    stored.save(out, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_matches_pillow_exif_transpose(orientation: int) -> None:
    from PIL import ImageOps

    from synthlabel.detect.visible import exif_orientation, upright

    stored = _background(48, 32, seed=orientation)
    data = _with_orientation(stored, "PNG", orientation)
    asset = asset_for(data, "x.png")
    assert exif_orientation(asset) == orientation
    want = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert np.array_equal(upright(np.asarray(stored), orientation), want)


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "x.jpg"), ("PNG", "x.png")])
def test_caption_read_upright_when_exif_orientation_is_6(fmt: str, name: str) -> None:
    """A camera-style file: pixels stored sideways, Orientation=6 turns them upright. The
    caption is read as a viewer shows it, at the corner a viewer sees it in."""
    data, res = _labelled(640, 480, position="bottom-right")
    shown = Image.open(io.BytesIO(data)).convert("RGB")
    stored = shown.transpose(Image.Transpose.ROTATE_90)  # what Orientation=6 turns back
    assert stored.size == (480, 640)
    tagged = _with_orientation(stored, fmt, 6)
    found = DETECTOR.detect(asset_for(tagged, name), DEEP)
    assert _codes(found) == ["visible.caption"], found
    d = found[0].details
    assert d["side"] == "bottom-right" and d["position"] == "corner"
    assert d["compliant"] == "yes", d["failing"]
    assert d["exif_orientation"] == 6 and "EXIF orientation 6" in found[0].location
    assert d["height_ratio"] == pytest.approx(res.text_px / 480, abs=0.01)
    x0, y0, x1, y1 = d["box"]
    bx0, by0, bx1, by1 = res.box
    assert bx0 - 2 <= x0 < x1 <= bx1 + 2 and by0 - 2 <= y0 < y1 <= by1 + 2
    # the same pixels without the tag: a viewer shows the caption sideways at the top right,
    # and that is where it is reported (RapidOCR may still read the sideways text)
    untagged = _with_orientation(stored, fmt, None)
    found = DETECTOR.detect(asset_for(untagged, name), DEEP)
    assert all(f.details.get("side") == "top-right" for f in found), found
    assert all("exif_orientation" not in f.details for f in found)


# --- prompts in a video's audio track ----------------------------------------------------------


def _clip(seconds: float = 6.0, *, sound: bool = True) -> bytes:
    """A 320x180 H.264 clip (moving test pattern); with ``sound`` an AAC track carrying the
    _music signal."""
    from synthlabel.label import _ffmpeg as ff

    with ff.workdir() as work:
        args = ["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=10:duration={seconds}"]
        if sound:
            wav = work / "a.wav"
            wav.write_bytes(_wav(_music(seconds)))
            args += ["-i", str(wav), "-c:a", "aac", "-b:a", "96k", "-shortest"]
        src = work / "in.mp4"
        args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", str(src)]
        ff.run_ffmpeg(args, timeout=60, what="test clip")
        return src.read_bytes()


@pytest.mark.parametrize(
    ("mode", "sound", "audio_state"),
    [
        ("voice", False, "prompt track added"),
        ("rhythm", True, "voice prompt mixed, re-encoded"),
    ],
)
def test_prompt_in_a_videos_audio_track(mode: str, sound: bool, audio_state: str) -> None:
    """``synthlabel label --video-voice``: the prompt in the video's first audio track (a new
    track for a silent video; mixed over the ducked content otherwise) is found next to the
    caption; the unlabelled clip gives nothing."""
    from synthlabel.label.audio import AudioPromptOptions
    from synthlabel.label.video import VideoCaptionOptions, render_video_caption

    clip = _clip(sound=sound)
    assert DETECTOR.detect(asset_for(clip, "x.mp4"), DEEP) == []
    opts = VideoCaptionOptions(voice_prompt=True, prompt=AudioPromptOptions(mode=mode))
    res = render_video_caption(clip, "mp4", opts)
    assert res.audio == audio_state
    found = DETECTOR.detect(asset_for(res.data, "x.mp4"), DEEP)
    assert sorted(_codes(found)) == sorted(["visible.caption", f"visible.{mode}_prompt"]), found
    prompt = next(f for f in found if f.code == f"visible.{mode}_prompt")
    assert prompt.location.startswith("first audio track, samples")
    assert prompt.details["location"] == "start" and prompt.details["onset_s"] < 1.0
    assert prompt.details["stream"] == "first audio track" and "§5.3" in prompt.source
