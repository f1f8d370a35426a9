"""The watermark in the label and inspect pipelines, on real files.

Label with ``watermark=True``, then strip the metadata the way a re-upload does (re-encode,
resave without metadata) and check that inspection still finds the mark and, while the record
is there, links it to the record.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import synthlabel
from synthlabel import BindingStatus, SignatureStatus
from synthlabel.errors import SynthlabelError
from synthlabel.model.keys import KeyStore
from synthlabel.watermark.payload import key_for_record, payload_for

PRODUCER = "001191110000MA0000000H10001"


def photo(w: int = 384, h: int = 288, seed: int = 3) -> np.ndarray:
    """Smooth shapes plus texture: enough structure for masking, no flat-only image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 120 + 60 * np.sin(xx / 37.0) * np.cos(yy / 23.0) + 30 * np.sin((xx + yy) / 11.0)
    noise = (rng.normal(0, 25, (h // 4, w // 4)) + 128).clip(0, 255).astype(np.uint8)
    small = Image.fromarray(noise)
    tex = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64)
    rgb = np.dstack([base + (tex - 128), base * 0.8 + 30, 255 - base]) + rng.normal(0, 3, (h, w, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def encode(rgb: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)
    return buf.getvalue()


def strip_reencode(data: bytes, fmt: str = "JPEG", **kw: object) -> bytes:
    """What a platform re-upload does: decode, re-encode, no metadata carried over."""
    with Image.open(io.BytesIO(data)) as im:
        return encode(np.asarray(im.convert("RGB")), fmt, **kw)


def wm(rep: synthlabel.InspectionReport, algo: str) -> dict:  # type: ignore[type-arg]
    found = [w for w in rep.watermarks if w["algorithm"] == algo]
    assert found, rep.watermarks
    return found[0]


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    KeyStore(h).generate(name="wm")
    return h


def test_png_watermark_links_to_the_record_and_keeps_the_signature(
    tmp_path: Path, home: Path
) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(encode(photo(), "PNG"))
    res = synthlabel.label(
        src, tmp_path / "out.png", producer=PRODUCER, sign="wm", key_home=home, watermark=True
    )
    assert res.ok and res.visible and res.record is not None and res.watermark is not None
    assert res.watermark["algorithm"] == "sl-img-1"
    assert res.watermark["payload"] == payload_for(key_for_record(res.record), 64).hex()
    assert res.watermark["psnr_db"] >= 38  # includes nothing of the caption: only the mark
    rep = synthlabel.inspect(tmp_path / "out.png", key_home=home)
    w = wm(rep, "sl-img-1")
    assert w["present"] and w["p_value"] < 1e-6 and w["matches_record"] is True
    sig = rep.records[0].producer_signature
    assert sig is not None
    # the record is signed over the watermarked pixels: the binding holds
    assert (sig.status, sig.binding) == (SignatureStatus.VALID, BindingStatus.INTACT)
    assert rep.to_dict()["watermarks"][0]["payload"] == res.watermark["payload"]


def test_stripped_jpeg_copy_still_carries_the_key(tmp_path: Path) -> None:
    out, res = synthlabel.label_bytes(
        encode(photo(), "JPEG", quality=92), producer=PRODUCER, watermark=True, visible=False
    )
    assert res.record is not None and res.watermark is not None
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(strip_reencode(out, "JPEG", quality=70))
    rep = synthlabel.inspect(copy)
    assert rep.record is None  # the metadata is gone ...
    w = wm(rep, "sl-img-1")
    assert w["present"] and w["payload"] == res.watermark["payload"]  # ... the key is not
    assert w["matches_record"] is None


def test_unmarked_image_reports_none_found(tmp_path: Path) -> None:
    p = tmp_path / "plain.png"
    p.write_bytes(encode(photo(seed=9), "PNG"))
    rep = synthlabel.inspect(p)
    w = wm(rep, "sl-img-1")
    assert not w["present"] and w["payload"] is None and w["reason"]


def test_rgba_alpha_is_kept(tmp_path: Path) -> None:
    rgb = photo()
    alpha = np.tile(np.linspace(40, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    data = encode(np.dstack([rgb, alpha]), "PNG")
    out, res = synthlabel.label_bytes(data, producer=PRODUCER, watermark=True, visible=False)
    with Image.open(io.BytesIO(out)) as im:
        assert im.mode == "RGBA"
        assert np.array_equal(np.asarray(im)[..., 3], alpha)
        marked = np.asarray(im)[..., :3]
    assert not np.array_equal(marked, rgb)  # the colour channels carry the mark
    assert res.watermark is not None and res.watermark["frames"] == 1


def test_watermark_is_applied_after_the_caption(tmp_path: Path) -> None:
    """One pass: caption drawn, then the mark over the final pixels (mark survives)."""
    out, res = synthlabel.label_bytes(encode(photo(), "PNG"), producer=PRODUCER, watermark=True)
    assert res.visible and res.watermark is not None
    p = tmp_path / "o.png"
    p.write_bytes(out)
    w = wm(synthlabel.inspect(p), "sl-img-1")
    assert w["present"] and w["matches_record"] is True


def test_other_records_watermark_is_flagged(tmp_path: Path) -> None:
    """Marked pixels relabelled under a new record: the mark points elsewhere, say so."""
    first, _ = synthlabel.label_bytes(
        encode(photo(), "PNG"), producer=PRODUCER, watermark=True, visible=False
    )
    stripped = strip_reencode(first, "PNG")
    second, res2 = synthlabel.label_bytes(stripped, producer=PRODUCER, visible=False)
    assert res2.watermark is None
    p = tmp_path / "relabelled.png"
    p.write_bytes(second)
    rep = synthlabel.inspect(p)
    w = wm(rep, "sl-img-1")
    assert w["present"] and w["matches_record"] is False
    assert any("not the watermark key" in x for x in rep.warnings)


def test_images_that_cannot_hold_the_mark_fail_clearly(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(encode(photo(24, 24), "PNG"))
    with pytest.raises(SynthlabelError, match=r"tiny\.png"):
        synthlabel.label(tiny, tmp_path / "o.png", producer=PRODUCER, watermark=True)
    assert not (tmp_path / "o.png").exists()  # no half-written output
    gif = tmp_path / "a.gif"
    Image.fromarray(photo(64, 64)).convert("P").save(gif)
    with pytest.raises(SynthlabelError, match=r"palette"):
        synthlabel.label(gif, tmp_path / "o.gif", producer=PRODUCER, watermark=True)
    txt = tmp_path / "a.txt"
    txt.write_text("generated text", encoding="utf-8")
    with pytest.raises(SynthlabelError, match=r"while the model generates"):
        synthlabel.label(txt, tmp_path / "o.txt", producer=PRODUCER, watermark=True)
    with pytest.raises(SynthlabelError, match=r"is for audio, this file is image"):
        synthlabel.label(
            tiny,
            tmp_path / "o.png",
            producer=PRODUCER,
            watermark="sl-aud-1",
        )


def _wav(tmp_path: Path, seconds: float = 8.0) -> Path:
    p = tmp_path / "in.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"anoisesrc=color=pink:amplitude=0.2:duration={seconds}:seed=4",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=330:duration={seconds}",
            "-filter_complex",
            "amix=inputs=2",
            "-ar",
            "22050",
            "-ac",
            "2",
            str(p),
        ],
        check=True,
    )
    return p


def test_wav_and_mp3_carry_the_record_key(tmp_path: Path) -> None:
    src = _wav(tmp_path)
    res = synthlabel.label(
        src, tmp_path / "out.wav", producer=PRODUCER, watermark=True, visible=False
    )
    assert res.watermark is not None and res.watermark["algorithm"] == "sl-aud-1"
    assert res.watermark["snr_db"] >= 25
    rep = synthlabel.inspect(tmp_path / "out.wav")
    w = wm(rep, "sl-aud-1")
    assert w["present"] and w["matches_record"] is True
    # a stripped MP3 transcode of the labelled WAV keeps the key
    mp3 = tmp_path / "copy.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(tmp_path / "out.wav"),
            "-map_metadata",
            "-1",
            "-b:a",
            "128k",
            str(mp3),
        ],
        check=True,
    )
    rep = synthlabel.inspect(mp3)
    assert rep.record is None
    w = wm(rep, "sl-aud-1")
    assert w["present"] and w["payload"] == res.watermark["payload"]


def test_mp3_label_reencodes_at_the_source_bitrate(tmp_path: Path) -> None:
    mp3 = tmp_path / "in.mp3"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(_wav(tmp_path)), "-b:a", "160k", str(mp3)],
        check=True,
    )
    res = synthlabel.label(
        mp3, tmp_path / "o.mp3", producer=PRODUCER, watermark=True, visible=False
    )
    assert res.watermark is not None
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,bit_rate",
            "-of",
            "csv=p=0",
            str(tmp_path / "o.mp3"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    codec, rate = probe.split(",")
    assert codec == "mp3" and abs(int(rate) - 160_000) <= 8_000
    w = wm(synthlabel.inspect(tmp_path / "o.mp3"), "sl-aud-1")
    assert w["present"] and w["matches_record"] is True


def test_mp4_video_is_watermarked(tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=3",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=500:duration=3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(src),
        ],
        check=True,
    )
    res = synthlabel.label(
        src, tmp_path / "out.mp4", producer=PRODUCER, watermark=True, visible=False
    )
    assert res.watermark is not None and res.watermark["algorithm"] == "sl-vid-1"
    rep = synthlabel.inspect(tmp_path / "out.mp4")
    w = wm(rep, "sl-vid-1")
    assert w["present"] and w["matches_record"] is True


def test_large_files_inspected_in_place_still_get_watermark_detection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the streaming threshold the file is never loaded whole; audio is decoded from
    the path (first seconds only)."""
    from synthlabel.pipeline import inspecting

    m4a = tmp_path / "in.m4a"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(_wav(tmp_path)), "-c:a", "aac",
         "-b:a", "128k", str(m4a)],
        check=True,
    )  # fmt: skip
    res = synthlabel.label(m4a, tmp_path / "out.m4a", producer=PRODUCER, watermark=True,
                           visible=False)  # fmt: skip
    assert res.watermark is not None
    monkeypatch.setattr(inspecting, "STREAM_THRESHOLD", 1000)
    read_whole = []
    real_read = inspecting.read_file
    monkeypatch.setattr(
        inspecting, "read_file", lambda *a, **k: read_whole.append(a) or real_read(*a, **k)
    )
    rep = synthlabel.inspect(tmp_path / "out.m4a")
    assert not read_whole, "a large file must not be read into memory"
    assert rep.record == res.record
    w = wm(rep, "sl-aud-1")
    assert w["present"] and w["matches_record"] is True


def _marked_text(key: bytes, n: int = 300, seed: int = 1) -> str:
    """What a watermarking generator writes, without a model: at each step a random word
    character from the keyed green list of the byte tokenizer (sl-txt-1's default)."""
    from synthlabel.watermark.text import TextWatermarker

    wm = TextWatermarker(key)
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz     ,.", dtype=np.uint8)
    ids = list(b"Once upon a time")
    for _ in range(n):
        green = [int(t) for t in alphabet if wm.is_green(ids[-wm.context :], int(t))]
        ids.append(int(rng.choice(green or alphabet)))
    return bytes(ids).decode("ascii")


def test_text_files_are_checked_with_the_providers_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from synthlabel.cli.main import app

    secret = b"provider secret text-watermark key 0001"
    p = tmp_path / "answer.txt"
    p.write_text(_marked_text(secret), encoding="utf-8")
    w = wm(synthlabel.inspect(p, text_watermark_key=secret), "sl-txt-1")
    assert w["present"] and w["p_value"] < 1e-6
    w = wm(synthlabel.inspect(p), "sl-txt-1")  # the public default key does not see it
    assert not w["present"]
    keyfile = tmp_path / "text.key"
    keyfile.write_bytes(secret + b"\n")
    res = CliRunner().invoke(app, ["inspect", str(p), "--text-wm-key", str(keyfile), "--json"])
    assert res.exit_code == 0, res.output
    assert '"sl-txt-1"' in res.stdout and '"present": true' in res.stdout
    keyfile.write_bytes(b"short")
    res = CliRunner().invoke(app, ["inspect", str(p), "--text-wm-key", str(keyfile)])
    assert res.exit_code == 2 and "at least 16 bytes" in res.output
