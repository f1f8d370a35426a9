"""Image attacks: codecs, geometry, screenshots, overlays, metadata stripping.

In memory every attack maps an RGB ``uint8`` array (H, W, 3) to another (a codec attack
encodes and decodes). On files, pixel attacks decode the input (first frame, RGB) and write
PNG, so the attack alone is measured; codec attacks write their codec's file (``.jpg``,
``.webp``); ``image.strip`` removes the metadata segments and keeps the coded pixels
byte for byte (JPEG, PNG; other formats are re-saved losslessly as PNG).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageFont, UnidentifiedImageError

from synthlabel.assess.attacks.base import Attack, AttackError, AttackSet, write_atomic

U8 = npt.NDArray[np.uint8]
Rng = np.random.Generator
Transform = Callable[..., U8]

#: Pixels above this are refused before decoding (a decompression bomb guard).
MAX_PIXELS = 100_000_000


# ------------------------------------------------------------------------------- codecs
def decode(data: bytes) -> U8:
    """RGB pixels of an encoded image (first frame)."""
    return np.asarray(_open(io.BytesIO(data), "image").convert("RGB"))


def encode(a: U8, fmt: str, quality: int | None = None) -> bytes:
    """``a`` encoded as ``fmt`` (``JPEG``, ``WEBP``, ``PNG``), no metadata."""
    buf = io.BytesIO()
    kw: dict[str, Any] = {} if quality is None else {"quality": int(quality)}
    Image.fromarray(a).save(buf, fmt, **kw)
    return buf.getvalue()


def jpeg(a: U8, quality: int) -> U8:
    """JPEG round trip at ``quality`` (Pillow's libjpeg, 4:2:0)."""
    return decode(encode(a, "JPEG", quality))


def webp(a: U8, quality: int) -> U8:
    return decode(encode(a, "WEBP", quality))


def _open(src: io.BytesIO | Path, name: str) -> Image.Image:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - HEIF support is a core dependency
        pass
    try:
        im = Image.open(src)
        if im.width * im.height > MAX_PIXELS:
            raise AttackError(f"{im.width}x{im.height} pixels is over the {MAX_PIXELS} limit")
        im.seek(0)
        im.load()
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise AttackError(f"not a readable image: {exc}", path=name) from None
    except (OSError, SyntaxError, EOFError) as exc:
        raise AttackError(f"cannot decode the image: {exc}", path=name) from None
    return im


def load(path: Path) -> U8:
    """The file's pixels as RGB (first frame)."""
    return np.asarray(_open(path, str(path)).convert("RGB"))


# ----------------------------------------------------------------------------- transforms
def resize(a: U8, factor: float, method: str = "bicubic") -> U8:
    """Scale by ``factor``: ``bicubic`` (Pillow) or ``area`` (OpenCV's INTER_AREA)."""
    h, w = a.shape[:2]
    size = (max(1, int(w * factor)), max(1, int(h * factor)))
    if method == "area":
        import cv2

        return np.asarray(cv2.resize(a, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    if method != "bicubic":
        raise AttackError(f"unknown resize method {method!r} (bicubic, area)")
    return np.asarray(Image.fromarray(a).resize(size, Image.Resampling.BICUBIC))


def crop(a: U8, left: float = 0.0, top: float = 0.0, right: float = 0.0, bottom: float = 0.0) -> U8:
    """Cut the given fractions off each side."""
    h, w = a.shape[:2]
    return np.ascontiguousarray(
        a[int(h * top) : h - int(h * bottom), int(w * left) : w - int(w * right)]
    )


def rotate(a: U8, degrees: float) -> U8:
    """Rotate about the centre (bicubic), same size, black corners."""
    return np.asarray(Image.fromarray(a).rotate(degrees, resample=Image.Resampling.BICUBIC))


def hflip(a: U8) -> U8:
    return np.ascontiguousarray(a[:, ::-1])


def blur(a: U8, radius: float) -> U8:
    return np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(radius)))


def screenshot(
    a: U8, rng: Rng, *, scale: float = 0.8, radius: float = 0.6, chrome: float = 0.06
) -> U8:
    """What a screenshot of the image on a screen looks like before it is saved: displayed at
    ``scale``, slightly soft (``radius``), inside a window with a title bar (``chrome`` of the
    height) and a margin, captured with a slightly off rectangle."""
    shown = blur(resize(a, scale), radius)
    h, w = shown.shape[:2]
    bar = max(8, round(h * chrome))
    m = [int(rng.integers(2, 9)) for _ in range(4)]  # margins left, right, top, bottom
    bg = (250, 250, 250) if rng.random() < 0.5 else (32, 33, 36)
    canvas = Image.new("RGB", (w + m[0] + m[1], h + bar + m[2] + m[3]), bg)
    d = ImageDraw.Draw(canvas)
    d.rectangle((0, m[2], canvas.width - 1, m[2] + bar - 1), fill=(222, 222, 226))
    for k, col in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        cx, r = m[0] + bar // 2 + k * bar, max(2, bar // 4)
        d.ellipse((cx - r, m[2] + bar // 2 - r, cx + r, m[2] + bar // 2 + r), fill=col)
    canvas.paste(Image.fromarray(shown), (m[0], m[2] + bar))
    out = np.asarray(canvas)
    # the capture rectangle is off by a few pixels on each side
    ch, cw = out.shape[:2]
    t, b = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    left, right = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    return np.ascontiguousarray(out[t : ch - b, left : cw - right])


def overlay(a: U8, rng: Rng, *, area: float = 0.08, text: str = "NEW") -> U8:
    """A sticker (a filled rounded box with a word) covering ``area`` of the image at a
    random place."""
    im = Image.fromarray(a).copy()
    h, w = a.shape[:2]
    bw = max(4, int(w * float(np.sqrt(area)) * float(rng.uniform(0.8, 1.25))))
    bh = max(4, min(h, int(area * w * h / bw)))
    bw = min(bw, w)
    x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle((x0, y0, x0 + bw - 1, y0 + bh - 1), radius=min(bw, bh) // 5, fill=colour)
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    try:
        font: Any = ImageFont.load_default(size=max(8, bh // 3))
    except TypeError:  # pragma: no cover - Pillow < 10.1
        font = ImageFont.load_default()
    d.text((x0 + bw // 2, y0 + bh // 2), text, fill=ink, font=font, anchor="mm")
    return np.asarray(im)


# ------------------------------------------------------------------------ metadata strip
_PNG_KEEP = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
    b"sBIT", b"pHYs", b"bKGD", b"acTL", b"fcTL", b"fdAT",
}  # fmt: skip


def strip_metadata(data: bytes) -> tuple[bytes, str] | None:
    """``(bytes, extension)`` of a JPEG or PNG without its metadata (APP1-APP15 and COM
    segments; PNG text, EXIF, C2PA and other ancillary chunks), coded pixels untouched.
    None for other formats (re-save the pixels instead)."""
    if data[:3] == b"\xff\xd8\xff":
        return _strip_jpeg(data), ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _strip_png(data), ".png"
    return None


def _strip_jpeg(data: bytes) -> bytes:
    out = bytearray(b"\xff\xd8")
    i = 2
    n = len(data)
    while i < n:
        if data[i] != 0xFF:
            raise AttackError(f"JPEG marker expected at byte {i}")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            out += bytes((0xFF, marker))
            continue
        if marker == 0xD9:
            out += b"\xff\xd9"
            break
        if i + 2 > n:
            raise AttackError("truncated JPEG segment")
        (length,) = struct.unpack(">H", data[i : i + 2])
        seg = data[i : i + length]
        if len(seg) < length or length < 2:
            raise AttackError("truncated JPEG segment")
        i += length
        colour = (marker == 0xE2 and seg[2:14] == b"ICC_PROFILE\x00") or (
            marker == 0xEE and seg[2:7] == b"Adobe"
        )  # the ICC profile and Adobe's colour transform flag say how to read the pixels
        if (0xE1 <= marker <= 0xEF or marker == 0xFE) and not colour:
            continue  # APP1..APP15 (EXIF, XMP, IPTC, C2PA's JUMBF, MPF...) and comments
        out += bytes((0xFF, marker)) + seg
        if marker == 0xDA:  # start of scan: the entropy-coded data and the rest, verbatim
            out += data[i:]
            break
    return bytes(out)


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        ctype = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > len(data):
            raise AttackError("truncated PNG chunk")
        if ctype in _PNG_KEEP:
            out += data[i:end]
        i = end
        if ctype == b"IEND":
            break
    return bytes(out)


# ---------------------------------------------------------------------- attack builders
def _identity(a: U8, rng: Rng, **_: Any) -> U8:
    return a


def _t_resize(a: U8, rng: Rng, *, factor: float, method: str = "bicubic", **_: Any) -> U8:
    return resize(a, factor, method)


def _t_crop(
    a: U8,
    rng: Rng,
    *,
    left: float = 0.0,
    top: float = 0.0,
    right: float = 0.0,
    bottom: float = 0.0,
    **_: Any,
) -> U8:
    return crop(a, left, top, right, bottom)


def _t_crop80(a: U8, rng: Rng, **_: Any) -> U8:
    # floor(h/10) rows off the top, ceil(h/10) off the bottom, floor(w/10) columns off the
    # left: the slicing bench_wm_image always used (``a[h // 10 : -h // 10, w // 10 :]``)
    h, w = a.shape[:2]
    return np.ascontiguousarray(a[h // 10 : -h // 10, w // 10 :])


def _t_rotate(a: U8, rng: Rng, *, degrees: float, **_: Any) -> U8:
    return rotate(a, degrees)


def _t_hflip(a: U8, rng: Rng, **_: Any) -> U8:
    return hflip(a)


def _t_screenshot(
    a: U8, rng: Rng, *, scale: float = 0.8, radius: float = 0.6, chrome: float = 0.06, **_: Any
) -> U8:
    return screenshot(a, rng, scale=scale, radius=radius, chrome=chrome)


def _t_overlay(a: U8, rng: Rng, *, area: float = 0.08, text: str = "NEW", **_: Any) -> U8:
    return overlay(a, rng, area=area, text=text)


def _t_resize_crop(
    a: U8,
    rng: Rng,
    *,
    factor: float,
    method: str = "bicubic",
    left: float = 0.0,
    top: float = 0.0,
    right: float = 0.0,
    bottom: float = 0.0,
    **_: Any,
) -> U8:
    return crop(resize(a, factor, method), left, top, right, bottom)


_EXT = {"JPEG": ".jpg", "WEBP": ".webp", "PNG": ".png"}


def pixel_attack(
    attack_id: str,
    description: str,
    transform: Transform,
    *,
    codec: str | None = None,
    family: str = "geometry",
    **params: Any,
) -> Attack:
    """An image attack from a pixel transform ``transform(a, rng, **params)`` followed by an
    optional codec (``JPEG``/``WEBP`` at ``params['quality']``). Files: decode, transform,
    write the codec's file (PNG without a codec)."""

    def memory(a: U8, rng: Rng, **p: Any) -> U8:
        b = transform(a, rng, **p)
        return decode(encode(b, codec, p.get("quality"))) if codec else b

    def run(src: Path, base: Path, rng: Rng, **p: Any) -> Path:
        b = transform(load(src), rng, **p)
        fmt = codec or "PNG"
        dest = base.with_name(base.name + _EXT[fmt])
        return write_atomic(dest, encode(b, fmt, p.get("quality") if codec else None))

    return Attack(attack_id, "image", description, run, dict(params), memory, family)


def _run_strip(src: Path, base: Path, rng: Rng, **_: Any) -> Path:
    data = src.read_bytes()
    stripped = strip_metadata(data)
    if stripped is None:
        return write_atomic(base.with_name(base.name + ".png"), encode(load(src), "PNG"))
    out, ext = stripped
    return write_atomic(base.with_name(base.name + ext), out)


def _memory_identity(a: U8, rng: Rng, **_: Any) -> U8:
    return a


STRIP = Attack(
    "image.strip",
    "image",
    "metadata strip: EXIF/XMP/IPTC/C2PA segments removed, coded pixels kept byte for byte",
    _run_strip,
    {},
    _memory_identity,
    "metadata",
)

ATTACKS = AttackSet(
    "synthlabel-image",
    (
        STRIP,
        pixel_attack(
            "image.resave_png",
            "decode and save the pixels as PNG (every metadata carrier dropped, pixels equal)",
            _identity,
            family="metadata",
        ),
        pixel_attack(
            "image.jpeg90", "JPEG re-encode, quality 90", _identity, codec="JPEG", quality=90,
            family="codec",
        ),
        pixel_attack(
            "image.jpeg70", "JPEG re-encode, quality 70", _identity, codec="JPEG", quality=70,
            family="codec",
        ),
        pixel_attack(
            "image.jpeg50", "JPEG re-encode, quality 50", _identity, codec="JPEG", quality=50,
            family="codec",
        ),
        pixel_attack(
            "image.webp75", "WebP re-encode, quality 75", _identity, codec="WEBP", quality=75,
            family="codec",
        ),
        pixel_attack(
            "image.resize0.5", "resize to 0.5x (bicubic), kept small", _t_resize, factor=0.5
        ),
        pixel_attack(
            "image.resize0.5_area", "resize to 0.5x (area average)", _t_resize, factor=0.5,
            method="area",
        ),
        pixel_attack(
            "image.resize0.75", "resize to 0.75x (area average)", _t_resize, factor=0.75,
            method="area",
        ),
        pixel_attack("image.crop80", "crop 10 % off the top, bottom and left", _t_crop80),
        pixel_attack(
            "image.crop_centre95", "crop 2.5 % off every side", _t_crop, left=0.025,
            top=0.025, right=0.025, bottom=0.025,
        ),
        pixel_attack(
            "image.crop_corner90", "crop 10 % off the left and the top", _t_crop, left=0.1,
            top=0.1,
        ),
        pixel_attack("image.rotate3", "rotate 3 degrees (same size)", _t_rotate, degrees=3.0),
        pixel_attack("image.hflip", "horizontal flip (mirror)", _t_hflip),
        pixel_attack(
            "image.rescale_jpeg", "quick screenshot: 0.8x bicubic, JPEG 70", _t_resize,
            codec="JPEG", factor=0.8, quality=70, family="composite",
        ),
        pixel_attack(
            "image.screenshot",
            "screenshot: shown at 0.8x, slight blur, window border, off-by-pixels capture, "
            "JPEG 80",
            _t_screenshot, codec="JPEG", scale=0.8, radius=0.6, quality=80, family="composite",
        ),
        pixel_attack(
            "image.overlay", "sticker with a word over 8 % of the image, random place",
            _t_overlay, area=0.08, family="edit",
        ),
        pixel_attack(
            "image.combo", "0.75x (area), crop 4 % left/right and 8 % bottom, JPEG 70",
            _t_resize_crop, codec="JPEG", factor=0.75, method="area", left=0.04, right=0.04,
            bottom=0.08, quality=70, family="composite",
        ),
    ),
)  # fmt: skip
