"""sl-img-1: round trips, robustness to common edits, calibration, errors and the luma API."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("cv2")
from PIL import Image, ImageDraw

from synthlabel.watermark import image as wm
from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    WatermarkCapacityError,
    WatermarkError,
)

ALGO = wm.ALGORITHM
PAYLOAD = bytes.fromhex("d1a5c0ffee15b00c")


def _photo_like(h: int = 384, w: int = 384, seed: int = 0) -> np.ndarray:
    """Smooth random shapes + fine texture: a stand-in for a photograph (no binary fixture)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, (h // 16 + 1, w // 16 + 1, 3))
    img = np.asarray(
        Image.fromarray(((base - base.min()) / np.ptp(base) * 255).astype(np.uint8)).resize(
            (w, h), Image.Resampling.BICUBIC
        ),
        dtype=np.float64,
    )
    img += rng.normal(0, 6, (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM with a 7x7 uniform window per channel (skimage's defaults)."""
    import cv2

    c1, c2, cf = (0.01 * 255) ** 2, (0.03 * 255) ** 2, 49 / 48
    vals = []
    for c in range(a.shape[2]):
        x, y = a[..., c].astype(np.float64), b[..., c].astype(np.float64)
        ux, uy = cv2.blur(x, (7, 7)), cv2.blur(y, (7, 7))
        vx = cf * (cv2.blur(x * x, (7, 7)) - ux * ux)
        vy = cf * (cv2.blur(y * y, (7, 7)) - uy * uy)
        vxy = cf * (cv2.blur(x * y, (7, 7)) - ux * uy)
        m = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        vals.append(float(m[3:-3, 3:-3].mean()))
    return float(np.mean(vals))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * float(np.log10(255**2 / mse))


def _jpeg(a: np.ndarray, q: int) -> np.ndarray:
    b = io.BytesIO()
    Image.fromarray(a).save(b, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(b.getvalue())).convert("RGB"))


@pytest.fixture(scope="module")
def marked() -> tuple[np.ndarray, np.ndarray]:
    img = _photo_like()
    return img, ALGO.embed(img, PAYLOAD)


def test_protocol_and_identity() -> None:
    from synthlabel.watermark.base import ImageWatermark

    assert isinstance(ALGO, ImageWatermark)
    assert (ALGO.id, ALGO.media_kind, ALGO.payload_bits) == ("sl-img-1", "image", 64)


def test_round_trip_quality_and_luminance_only(marked: tuple[np.ndarray, np.ndarray]) -> None:
    img, out = marked
    assert out.shape == img.shape and out.dtype == np.uint8
    diff = out.astype(np.int16) - img.astype(np.int16)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    assert 10 * np.log10(255**2 / mse) > 40.0
    # the same delta on R, G and B wherever nothing clipped
    inside = (img > 5).all(-1) & (img < 250).all(-1)
    assert np.array_equal(diff[..., 0][inside], diff[..., 1][inside])
    det = ALGO.detect(out)
    assert det.present and det.payload == PAYLOAD
    assert det.p_value <= DEFAULT_P_THRESHOLD


@pytest.mark.parametrize(
    "attack",
    [
        lambda a: _jpeg(a, 50),
        lambda a: np.ascontiguousarray(a[:, ::-1]),
        lambda a: np.ascontiguousarray(a[30:330, 20:340]),
        lambda a: np.asarray(Image.fromarray(a).resize((192, 192), Image.Resampling.BICUBIC)),
        lambda a: np.asarray(Image.fromarray(a).convert("L").convert("RGB")),
        lambda a: np.asarray(Image.fromarray(a).rotate(2, resample=Image.Resampling.BICUBIC)),
        lambda a: np.asarray(Image.fromarray(a).rotate(5, resample=Image.Resampling.BICUBIC)),
        lambda a: _jpeg(np.ascontiguousarray(a[19:-19, 19:-19]), 60),
    ],
    ids=["jpeg50", "hflip", "crop", "half-size", "grayscale", "rotate2", "rotate5", "crop-jpeg"],
)
def test_survives_common_edits(marked: tuple[np.ndarray, np.ndarray], attack) -> None:  # type: ignore[no-untyped-def]
    _, out = marked
    det = ALGO.detect(attack(out))
    assert det.present, det.details
    assert det.payload == PAYLOAD


@pytest.mark.parametrize(
    "make",
    [
        lambda: _photo_like(512, 512, seed=7),
        lambda: np.full((512, 384, 3), (128, 140, 160), np.uint8),
        lambda: np.dstack(
            [np.tile(np.linspace(0, 255, 512), (512, 1))] * 2 + [np.full((512, 512), 90.0)]
        ).astype(np.uint8),
        lambda: np.full((400, 400, 3), 250, np.uint8),
    ],
    ids=["photo", "flat", "gradient", "white"],
)
def test_quality_targets_and_round_trip(make) -> None:  # type: ignore[no-untyped-def]
    img = make()
    out = ALGO.embed(img, PAYLOAD)
    assert _psnr(img, out) >= 42.0
    assert _ssim(img, out) >= 0.98
    det = ALGO.detect(out)
    assert det.present and det.payload == PAYLOAD, det.details
    assert det.p_value <= DEFAULT_P_THRESHOLD


def _unmarked(rng: np.random.Generator, kind: int) -> np.ndarray:
    h, w = (int(v) for v in rng.integers(128, 193, 2))
    if kind == 0:
        return _photo_like(h, w, seed=int(rng.integers(1 << 30)))
    if kind == 1:
        return np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    if kind == 2:
        g = np.linspace(0, 1, w)[None, :, None] * rng.uniform(0, 255, 3) + rng.uniform(0, 60, 3)
        return np.clip(np.broadcast_to(g, (h, w, 3)), 0, 255).astype(np.uint8)
    if kind == 3:
        im = Image.new("RGB", (w, h), (250, 250, 250))
        d = ImageDraw.Draw(im)
        for y in range(4, h - 12, 14):
            d.text((4, y), f"unmarked text {int(rng.integers(1 << 20))}", fill=(10, 10, 10))
        return np.asarray(im)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_unmarked_images_are_not_detected() -> None:
    """A few hundred small unmarked images (photo-like, flat, gradient, text, noise), some
    JPEG-compressed or flipped: none detected, every p-value above the threshold."""
    rng = np.random.default_rng(1234)
    worst = 1.0
    for i in range(200):
        img = _unmarked(rng, i % 5)
        if i % 4 == 1:
            img = _jpeg(img, 50)
        elif i % 4 == 3:
            img = np.ascontiguousarray(img[:, ::-1])
        det = ALGO.detect(img)
        assert not det.present and det.payload is None, (i, det.details)
        assert det.p_value > DEFAULT_P_THRESHOLD
        worst = min(worst, 10.0 ** float(det.details.get("log10_p_sync", 0.0)))
    # the sync evidence alone is nowhere near a detection either
    assert worst > 1e-4


def test_other_payload_and_grayscale_and_rgba_inputs() -> None:
    img = _photo_like(256, 256, seed=3)
    other = bytes(8)
    gray = img[..., 1].copy()
    det = ALGO.detect(ALGO.embed(gray, other))
    assert det.present and det.payload == other
    rgba = np.dstack([img, np.full(img.shape[:2], 77, np.uint8)])
    out = ALGO.embed(rgba, PAYLOAD)
    assert out.shape == rgba.shape and np.all(out[..., 3] == 77)
    assert ALGO.detect(out).payload == PAYLOAD


def test_errors_and_never_raising_detect() -> None:
    with pytest.raises(WatermarkCapacityError, match="needs at least 128x128"):
        ALGO.embed(np.zeros((40, 30, 3), np.uint8), PAYLOAD)
    with pytest.raises(WatermarkError):
        ALGO.embed(_photo_like(160, 160), b"\x01")
    with pytest.raises(WatermarkCapacityError):
        ALGO.embed(np.zeros((100, 900, 3), np.uint8), PAYLOAD)
    for bad in (
        np.zeros((5, 5, 3), np.uint8),
        np.zeros((300, 300, 2), np.uint8),
        np.zeros((0, 0), np.uint8),
        np.zeros((0, 7, 3), np.uint8),
        np.ones((200, 200, 3), np.float32) * 300,
        np.full((300, 300, 3), np.nan, np.float64),
        np.full((256, 256, 3), 255, np.uint8),
        np.zeros((1, 4000, 3), np.uint8),
        np.arange(10),
    ):
        det = ALGO.detect(bad)
        assert not det.present and det.reason


def test_luma_embedder_and_soft_combination() -> None:
    img = _photo_like(256, 448, seed=5)
    y = np.asarray(Image.fromarray(img).convert("L"))
    emb = ALGO.luma_embedder(256, 448, PAYLOAD, strength=0.6)
    frames = []
    for k in range(3):
        noisy = np.clip(y.astype(np.int16) + np.random.default_rng(k).normal(0, 4, y.shape), 0, 255)
        frames.append(emb(noisy.astype(np.uint8)))
    readings = [ALGO.read_luma(f) for f in frames]
    assert all(r.soft.shape == (258,) for r in readings)
    det = ALGO.combine(readings)
    assert det.present and det.payload == PAYLOAD
    assert not ALGO.combine([ALGO.read_luma(y)]).present
