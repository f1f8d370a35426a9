"""Outputs of a pretend generation service for the conformance tests, made in the test run.

Conformant ones are labelled with our own ``label`` pipeline; each non-conformant one breaks
exactly one thing (caption too small or in the middle, no record, a malformed provider code, an
altered signed record, a record moved from another picture, a video caption that comes up
after 3 s, audio without a prompt, text without a notice).
"""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synthlabel.formats import registry
from synthlabel.formats.base import LabelWrite
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.label.visible import VisibleOptions, render_visible
from synthlabel.model.aigc import AIGCRecord
from synthlabel.model.keys import KeyStore
from synthlabel.pipeline.labeling import LabelOptions, label_file

PRODUCER = "001191110000MA0000000H10001"
#: 27 characters of a code, but the embedded USCC's check character is wrong (H -> J).
BAD_CODE = "001191110000MA0000000J10001"
KEY = "svc"


def key_home(folder: Path) -> Path:
    home = folder / "home"
    KeyStore(home).generate(name=KEY)
    return home


def background(w: int, h: int, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = (rng.random((h // 16 + 1, w // 16 + 1, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


def png_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def font(px: int) -> object:
    from synthlabel.label.fonts import load_font, resolve_font

    choice, _ = resolve_font("AI生成", None)
    return load_font(choice.path, choice.index, px)


def label(src: Path, dst: Path, home: Path, **options: object) -> AIGCRecord:
    """Label ``src`` into ``dst`` like a conforming service: visible label, signed record."""
    settings: dict[str, object] = {
        "producer": PRODUCER,
        "sign_key": KEY,
        "key_home": str(home),
        **options,
    }
    opts = LabelOptions(**settings)  # type: ignore[arg-type]
    res = label_file(src, dst, opts)
    assert not res.error, res.error
    assert res.record is not None
    return res.record


def write_record(path: Path, record_json: str) -> None:
    """Put ``record_json`` into the file's metadata as it is (no checks, no signing)."""
    data = path.read_bytes()
    handler = registry.get(inspect_bytes(data, c2pa=False).format)
    path.write_bytes(handler.write_label(data, LabelWrite(aigc_json=record_json)))


def clip(path: Path, seconds: float, *, caption_from: float | None = None, fps: int = 10) -> None:
    """An H.264 MP4 of a slowly moving pattern; with ``caption_from``, an "AI生成" caption
    (7 % of the height) drawn at the bottom right from that time on."""
    w, h = 320, 240
    base = np.asarray(background(w + 64, h, seed=3))
    face = font(int(0.07 * h * 1.4))
    frames = []
    for i in range(round(seconds * fps)):
        img = Image.fromarray(np.ascontiguousarray(base[:, i % 64 : i % 64 + w]))
        if caption_from is not None and i / fps >= caption_from - 1e-9:
            d = ImageDraw.Draw(img)
            d.rectangle((220, 196, 316, 236), fill=(0, 0, 0))
            d.text((226, 200), "AI生成", font=face, fill=(255, 255, 255))  # type: ignore[arg-type]
        frames.append(np.asarray(img.convert("RGB")).tobytes())
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        input=b"".join(frames),
        check=True,
        capture_output=True,
    )  # fmt: skip


def tone(path: Path, seconds: float, freq: float = 330.0, rate: int = 16000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.7 * t))
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def make_conformant(folder: Path, home: Path, *, video: bool = True, audio: bool = True) -> None:
    raw = folder.parent / f"{folder.name}-raw"
    raw.mkdir()
    folder.mkdir(exist_ok=True)
    (raw / "ok.png").write_bytes(png_bytes(background(480, 360)))
    label(raw / "ok.png", folder / "ok.png", home)
    (raw / "ok.md").write_text("# Weekly summary\n\nSales rose by 4 % in March.\n")
    label(raw / "ok.md", folder / "ok.md", home)
    (raw / "ok.txt").write_text("今天的天气很好，适合出门散步。\n")
    label(raw / "ok.txt", folder / "ok.txt", home)
    if audio:
        tone(raw / "voice.wav", 3.0)
        label(raw / "voice.wav", folder / "voice.wav", home)
        tone(raw / "rhythm.wav", 3.0, freq=220.0)
        label(raw / "rhythm.wav", folder / "rhythm.wav", home, audio_mode="rhythm")
    if video:
        clip(raw / "ok.mp4", 3.0)
        label(raw / "ok.mp4", folder / "ok.mp4", home)


def make_nonconformant(folder: Path, home: Path, *, video: bool = True) -> None:
    raw = folder.parent / f"{folder.name}-raw"
    raw.mkdir()
    folder.mkdir(exist_ok=True)
    pic = png_bytes(background(480, 360, seed=5))
    (raw / "pic.png").write_bytes(pic)

    # a caption 3 % of the short side high (the labeller refuses that unless strict=False)
    small = render_visible(pic, "png", VisibleOptions(min_height_ratio=0.03, strict=False))
    (raw / "small.png").write_bytes(small.data)
    label(raw / "small.png", folder / "small.png", home, visible=False)

    # a big caption in the middle of the picture
    img = background(480, 360, seed=6)
    d = ImageDraw.Draw(img)
    d.rectangle((170, 150, 310, 205), fill=(0, 0, 0))
    d.text((180, 155), "AI生成", font=font(40), fill=(255, 255, 255))  # type: ignore[arg-type]
    (raw / "middle.png").write_bytes(png_bytes(img))
    label(raw / "middle.png", folder / "middle.png", home, visible=False)

    # the visible label only: no record
    captioned = render_visible(pic, "png", VisibleOptions()).data
    (folder / "norecord.png").write_bytes(captioned)

    # a record whose ContentProducer looks like a code but breaks the USCC check character
    (folder / "badcode.png").write_bytes(captioned)
    rec = AIGCRecord(label="1", content_producer=BAD_CODE, produce_id="0A1B2C3D4E5F")
    write_record(folder / "badcode.png", rec.to_json())

    # a signed JPEG whose ProduceID was changed afterwards: the signature no longer verifies
    buf = io.BytesIO()
    background(480, 360, seed=7).save(buf, "JPEG", quality=90)
    (raw / "badsig.jpg").write_bytes(buf.getvalue())
    rec = label(raw / "badsig.jpg", folder / "badsig.jpg", home)
    data = (folder / "badsig.jpg").read_bytes()
    pid = rec.produce_id
    other = pid[:-1] + ("0" if pid[-1] != "0" else "1")
    assert data.count(pid.encode()) == 1
    (folder / "badsig.jpg").write_bytes(data.replace(pid.encode(), other.encode()))

    # the signed record of one picture copied onto another: signature valid, binding broken
    label(raw / "pic.png", raw / "signed.png", home)
    signed = inspect_bytes((raw / "signed.png").read_bytes(), c2pa=False).record
    assert signed is not None
    (folder / "moved.png").write_bytes(
        render_visible(png_bytes(background(480, 360, seed=8)), "png", VisibleOptions()).data
    )
    write_record(folder / "moved.png", signed.to_json())

    # audio without a prompt, text without a notice (signed records)
    tone(raw / "mute.wav", 3.0)
    label(raw / "mute.wav", folder / "mute.wav", home, visible=False)
    (raw / "nonotice.md").write_text("# Notes\n\nThe meeting moved to Friday.\n")
    label(raw / "nonotice.md", folder / "nonotice.md", home, visible=False)

    if video:
        # the caption comes up only at 3 s
        clip(raw / "late.mp4", 5.0, caption_from=3.0)
        label(raw / "late.mp4", folder / "late.mp4", home, visible=False)
