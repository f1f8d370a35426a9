"""sl-img-1: round trips, robustness to common edits, calibration, errors and the luma API."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("cv2")
from PIL import Image

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
            (w, h), Image.BICUBIC
        ),
        dtype=np.float64,
    )
    img += rng.normal(0, 6, (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


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
        lambda a: np.asarray(Image.fromarray(a).resize((192, 192), Image.BICUBIC)),
        lambda a: np.asarray(Image.fromarray(a).convert("L").convert("RGB")),
        lambda a: np.asarray(Image.fromarray(a).rotate(3, resample=Image.BICUBIC)),
    ],
    ids=["jpeg50", "hflip", "crop", "half-size", "grayscale", "rotate3"],
)
def test_survives_common_edits(marked: tuple[np.ndarray, np.ndarray], attack) -> None:  # type: ignore[no-untyped-def]
    _, out = marked
    det = ALGO.detect(attack(out))
    assert det.present, det.details
    assert det.payload == PAYLOAD


def test_unmarked_images_are_not_detected() -> None:
    for seed in range(3):
        det = ALGO.detect(_photo_like(256, 320, seed=10 + seed))
        assert not det.present and det.payload is None
    flat = np.full((200, 300, 3), 128, np.uint8)
    assert not ALGO.detect(flat).present


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
    for bad in (
        np.zeros((5, 5, 3), np.uint8),
        np.zeros((300, 300, 2), np.uint8),
        np.zeros((0, 0), np.uint8),
        np.ones((200, 200, 3), np.float32) * 300,
    ):
        assert not ALGO.detect(bad).present


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
