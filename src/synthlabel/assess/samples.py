"""Labelled samples for drills and demos, made here (nothing downloaded): a picture, a music
clip, a short video with sound, and English text carrying the ``sl-txt-1`` watermark, each
labelled by the pipeline (visible label, signed record, robust watermark)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthlabel.assess.attacks.base import KINDS
from synthlabel.errors import SynthlabelError

#: The producer code the samples are labelled with (a fake subject code, valid check digit).
SAMPLE_PRODUCER = "001191110000MA0000000H10001"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ADJ = _words(
    "quiet calm bright dark old new small large quick slow clear simple careful early little "
    "good warm cold gentle busy empty narrow wide heavy light soft loud sharp plain modern "
    "distant hidden public private green golden silver wooden"
)
_NOUN = _words(
    "city river garden story report picture music voice morning light window network signal "
    "system service record user content data town bridge forest harbour market station "
    "teacher painter engine letter mountain island village street library kitchen field "
    "machine camera song"
)
_VERB = _words(
    "shows makes finds sees keeps holds moves builds brings reads writes uses follows "
    "carries opens closes paints watches meets joins crosses answers changes describes"
)
_PREP = _words("near under over after before behind beside across beyond inside")
_CONJ = _words("because while but and although whereas")
_TEMPLATES = (
    ("The", _ADJ, _NOUN, _VERB, "the", _ADJ, _NOUN, _PREP, "the", _NOUN, "."),
    ("A", _ADJ, _NOUN, _VERB, "a", _NOUN, _CONJ, "the", _NOUN, _VERB, "it", "."),
    (_PREP, "the", _ADJ, _NOUN, ",", "the", _NOUN, _VERB, "a", _ADJ, _NOUN, "."),
)


def watermarked_text(
    words: int = 260, *, key: bytes | None = None, seed: int = 0, strength: int = 8
) -> str:
    """English text marked with ``sl-txt-1`` (byte tokenizer) without a language model: a
    template grammar whose every slot picks, among its candidates, the word with the most
    green bytes for its context (what the logits processor does to a model that hesitates
    between equally likely words). ``key``: default the public key; ``strength``: candidates
    drawn per slot (more: a stronger mark; 0: every word of the slot's class)."""
    from synthlabel.watermark.text import DEFAULT_KEY, TextWatermarker

    wm = TextWatermarker(key or DEFAULT_KEY)
    rng = np.random.default_rng(seed)
    ctx: list[int] = list(b"\n\n")
    out: list[str] = []
    sentence: list[str] = []

    def emit(piece: str) -> None:
        nonlocal ctx
        text = piece if piece in (".", ",") or not out else " " + piece
        out.append(text)
        ctx = (ctx + list(text.encode()))[-8:]

    def greens(piece: str) -> float:
        text = piece if not out else " " + piece
        c = list(ctx)
        g = 0
        for b in text.encode():
            g += wm.is_green(c[-wm.context :], b)
            c.append(b)
        return g / max(1, len(text))

    n = 0
    while n < words:
        template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
        for slot in template:
            if isinstance(slot, str):
                piece = slot
            else:
                cands = list(slot)
                if strength:
                    pick = rng.choice(len(cands), size=min(strength, len(cands)), replace=False)
                    cands = [cands[int(i)] for i in pick]
                piece = max(cands, key=lambda c: (greens(c), -cands.index(c)))
            if not sentence and piece[:1].islower():
                piece = piece.capitalize()
            sentence.append(piece)
            emit(piece)
            n += piece not in (".", ",")
        sentence = []
    text = "".join(out).strip()
    return text.replace(" ,", ",")


def _scene(width: int, height: int, seed: int) -> Any:
    """A synthetic 'generated' picture: sky gradient, sun, hills, texture."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = np.array([40, 70, 150]) + y * np.array([190, 140, 60])
    img = np.broadcast_to(sky, (height, width, 3)).copy()
    img += rng.normal(0, 6, (height, width, 1))
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    r = height // 9
    d.ellipse(
        (width * 2 // 3 - r, height // 3 - r, width * 2 // 3 + r, height // 3 + r),
        fill=(255, 214, 140),
    )
    for k, shade in enumerate(((46, 84, 62), (30, 60, 44))):
        pts = [(0, height)]
        for x in range(0, width + 1, 8):
            pts.append((x, int(height * (0.62 + 0.08 * k) - 40 * np.sin(x / (70 + 30 * k) + k))))
        pts.append((width, height))
        d.polygon(pts, fill=shade)
    return im.filter(ImageFilter.SMOOTH)


def _music(seconds: float, rate: int, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    y = np.zeros_like(t)
    for k in range(int(seconds / 0.5)):
        s = (t >= k * 0.5) & (t < k * 0.5 + 0.7)
        f = 220.0 * 2 ** (int(rng.choice([0, 3, 5, 7, 10, 12])) / 12)
        tt = t[s] - k * 0.5
        y[s] += sum(np.sin(2 * np.pi * f * h * tt) / h for h in (1, 2, 3)) * np.exp(-2.5 * tt)
    y += 0.05 * rng.standard_normal(t.size)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def generate_samples(
    out_dir: Path,
    *,
    kinds: Sequence[str] = KINDS,
    sign_key: str | None = None,
    key_home: str | None = None,
    c2pa: str | None = None,
    text_key: bytes | None = None,
    seed: int = 0,
) -> tuple[list[Path], str | None]:
    """Labelled samples of each media kind, made here and labelled with the pipeline:
    visible label, signed record, robust watermark (image PNG 512x384, 8 s WAV, 5 s MP4
    480x270 with sound, Markdown of watermarked text). Without ``sign_key`` a new SM2 key is
    made in ``out_dir/keys``. Returns (labelled files, the key home used)."""
    from scipy.io import wavfile  # type: ignore[import-untyped]

    from synthlabel.pipeline.labeling import LabelOptions, label_file

    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / "raw"
    raw.mkdir(exist_ok=True)
    if sign_key is None:
        from synthlabel.model.keys import KeyStore

        key_home = str(out_dir / "keys")
        store = KeyStore(Path(key_home))
        if not any(k.name == "drill-samples" for k in store.list()):
            store.generate(algorithm="sm2", name="drill-samples")
        sign_key = "drill-samples"
    voice = "voice" if shutil.which("espeak-ng") or shutil.which("espeak") else "rhythm"
    made: list[tuple[Path, bool]] = []
    if "image" in kinds:
        p = raw / "image.png"
        _scene(512, 384, seed).save(p)
        made.append((p, True))
    if "audio" in kinds:
        p = raw / "audio.wav"
        wavfile.write(p, 16000, (_music(8.0, 16000, seed) * 32767).astype(np.int16))
        made.append((p, True))
    if "video" in kinds:
        from synthlabel.assess.attacks.base import tool

        p = raw / "video.mp4"
        cmd = [
            tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=s=480x270:r=25:d=5",
            "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=5",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-shortest", str(p),
        ]  # fmt: skip
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        except (subprocess.SubprocessError, OSError) as exc:
            raise SynthlabelError(f"ffmpeg could not make the video sample: {exc}") from None
        made.append((p, True))
    if "text" in kinds:
        p = raw / "text.md"
        body = watermarked_text(300, key=text_key, seed=seed)
        p.write_text(f"# Generated notes\n\n{body}\n", encoding="utf-8")
        made.append((p, False))
    labelled: list[Path] = []
    for src, mark in made:
        dest = out_dir / src.name
        res = label_file(
            src,
            dest,
            LabelOptions(
                producer=SAMPLE_PRODUCER,
                sign_key=sign_key,
                key_home=key_home,
                c2pa=c2pa if src.suffix in (".png", ".mp4", ".wav") else None,
                watermark="auto" if mark else None,
                audio_mode=voice,
            ),
        )
        if not res.ok:
            raise SynthlabelError(f"cannot label the {src.stem} sample: {res.error}")
        labelled.append(dest)
    shutil.rmtree(raw, ignore_errors=True)
    return labelled, key_home
