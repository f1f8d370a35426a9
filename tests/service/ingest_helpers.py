"""Small generated media and helpers for the ingest, worker and generation-log tests."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

PRODUCER = "001191110000MA0000000H10001"


def photo(seed: int, w: int = 320, h: int = 240) -> np.ndarray:
    """A smooth random 'photo' (PDQ and ORB need structure, not noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    cv2.circle(img, (w // 3, h // 2), h // 5, (255, 255, 255), 3)
    cv2.rectangle(img, (w // 2, h // 4), (w // 2 + w // 5, h // 4 + h // 3), (0, 0, 0), 4)
    return img


def jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buf.tobytes())


def labelled_jpeg(seed: int, produce_id: str) -> bytes:
    import synthlabel

    out, _ = synthlabel.label_bytes(
        jpeg(photo(seed)), producer=PRODUCER, produce_id=produce_id, visible=False
    )
    return out


def a1111_png(seed: int) -> bytes:
    """A PNG with Stable Diffusion WebUI parameters: verdict 'possible' (routed to review)."""
    png = bytes(cv2.imencode(".png", photo(seed, 64, 64))[1].tobytes())
    text = b"parameters\x00a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64"
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + text) & 0xFFFFFFFF)
    return png[:33] + chunk + png[33:]


def upload(
    client: Any, headers: dict[str, str], data: bytes, name: str = "x.jpg", key: str | None = None
) -> Any:
    h = dict(headers)
    if key is not None:
        h["Idempotency-Key"] = key
    return client.post("/api/v1/ingest", files={"file": (name, data, "image/jpeg")}, headers=h)


def run_worker(svc: Any) -> dict[str, Any]:
    from synthlabel.service.worker import Worker

    w = Worker(svc.settings, engine=svc.app.state.synthlabel.engine, retention_every=0)
    return w.run_until_idle().to_dict()


def files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())
