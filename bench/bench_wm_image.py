"""sl-img-1 bench: false positives on generated unmarked images, quality, speed.

* ``--fpr N``: N generated unmarked images (128-256 px; photo-like multi-scale textures,
  gradients, flat colours, text screenshots, noise, periodic patterns), a third of them
  passed through an attack (JPEG 50, 0.5x resize, crop, rotation, flip, screenshot). Counts
  detections (the target is 0: the detector's calibrated false-positive rate is <= 1e-6) and
  checks the calibration of the sync p-value alone (before the CRC): the fraction of
  unmarked images with ``p_sync <= a`` must stay <= ``a``.
* quality: PSNR / SSIM (7x7, per channel, like skimage) of the default-strength mark on
  generated images of every family at 512 px.
* speed: embed and detect CPU time per megapixel (one thread) at 512^2 .. 4000x3000, on a
  clean marked image and after JPEG 75 + crop 90 % (the full geometry search).

Writes bench/results/wm_image.{md,json}. Run: ``OMP_NUM_THREADS=1 python bench/bench_wm_image.py``
(``--fpr 10000``: about 10 minutes on one core).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from synthlabel.assess.attacks import image as image_attacks  # noqa: E402
from synthlabel.assess.attacks import registry as attack_registry  # noqa: E402
from synthlabel.watermark.image import ALGORITHM  # noqa: E402

U8 = npt.NDArray[np.uint8]
Rng = np.random.Generator


# ------------------------------------------------------------------------------- generators
def photo_like(rng: Rng, h: int, w: int) -> U8:
    img = np.zeros((h, w, 3))
    for cells, amp in ((4, 60.0), (16, 30.0), (64, 15.0)):
        base = rng.normal(0, 1, (cells + 2, cells + 2, 3))
        img += amp * rng.uniform(0.3, 1.5) * cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.uniform(60, 190) + rng.normal(0, rng.uniform(0, 6), (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def gradient(rng: Rng, h: int, w: int) -> U8:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    if rng.random() < 0.5:
        t = np.cos(rng.uniform(0, 2 * np.pi)) * xx + np.sin(rng.uniform(0, 2 * np.pi)) * yy
    else:
        t = np.hypot(xx - rng.random(), yy - rng.random())
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    img = c0 + (c1 - c0) * t[..., None]
    out: U8 = np.clip(img, 0, 255).astype(np.uint8)
    return out


def flat(rng: Rng, h: int, w: int) -> U8:
    img = np.broadcast_to(rng.integers(0, 256, 3).astype(np.float64), (h, w, 3)).copy()
    if rng.random() < 0.5:
        img += rng.normal(0, rng.uniform(0.3, 2), (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


_WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "lorem", "ipsum", "AI"]


def text(rng: Rng, h: int, w: int) -> U8:
    bg = tuple(
        int(v)
        for v in (rng.integers(200, 256, 3) if rng.random() < 0.8 else rng.integers(0, 60, 3))
    )
    fg = tuple(255 - v for v in bg)
    im = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(im)
    size = int(rng.integers(8, 18))
    try:
        font: Any = ImageFont.load_default(size=size)
    except TypeError:  # old Pillow
        font = ImageFont.load_default()
    y = int(rng.integers(2, 10))
    while y < h - size:
        d.text(
            (4, y), " ".join(rng.choice(_WORDS, size=int(rng.integers(3, 10)))), fill=fg, font=font
        )
        y += size + int(rng.integers(2, 8))
    return np.asarray(im)


def noise(rng: Rng, h: int, w: int) -> U8:
    if rng.random() < 0.5:
        img = rng.normal(128, rng.uniform(5, 60), (h, w, 3))
    else:
        img = rng.uniform(0, 255, (h, w, 1)) * np.ones((1, 1, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def periodic(rng: Rng, h: int, w: int) -> U8:
    """Stripes, checkerboards and dot grids: hard cases for a detector that looks for tiling."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    p = rng.uniform(3, 70)
    th = rng.uniform(0, np.pi)
    u = np.cos(th) * xx + np.sin(th) * yy
    v = -np.sin(th) * xx + np.cos(th) * yy
    kind = rng.integers(0, 3)
    if kind == 0:
        t = np.sin(2 * np.pi * u / p)
    elif kind == 1:
        t = np.sign(np.sin(2 * np.pi * u / p) * np.sin(2 * np.pi * v / p))
    else:
        t = (np.cos(2 * np.pi * u / p) + np.cos(2 * np.pi * v / p)) > 1.2
    img = 128 + rng.uniform(10, 100) * t[..., None] * np.ones((1, 1, 3))
    out: U8 = np.clip(img, 0, 255).astype(np.uint8)
    return out


FAMILIES: dict[str, Callable[[Rng, int, int], U8]] = {
    "photo_like": photo_like,
    "gradient": gradient,
    "flat": flat,
    "text": text,
    "noise": noise,
    "periodic": periodic,
}


# The attacks live in the package (synthlabel.assess.attacks), shared with `synthlabel drill`.
_jpeg = image_attacks.jpeg
ATTACKS: dict[str, Callable[[U8], U8]] = {
    name: attack_registry.get(attack_id)
    for name, attack_id in {
        "jpeg50": "image.jpeg50",
        "resize0.5": "image.resize0.5",
        "crop80": "image.crop80",
        "rotate3": "image.rotate3",
        "hflip": "image.hflip",
        "screenshot": "image.rescale_jpeg",  # 0.8x bicubic + JPEG 70
    }.items()
}


# ------------------------------------------------------------------------------- measures
def psnr(a: U8, b: U8) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ssim(a: U8, b: U8) -> float:
    """Mean SSIM, 7x7 uniform window, per channel, sample covariance (skimage's defaults)."""
    c1, c2, n = (0.01 * 255) ** 2, (0.03 * 255) ** 2, 49
    cf = n / (n - 1)
    vals = []
    for c in range(a.shape[2]):
        x = a[..., c].astype(np.float64)
        y = b[..., c].astype(np.float64)
        ux, uy = cv2.blur(x, (7, 7)), cv2.blur(y, (7, 7))
        vx = cf * (cv2.blur(x * x, (7, 7)) - ux * ux)
        vy = cf * (cv2.blur(y * y, (7, 7)) - uy * uy)
        vxy = cf * (cv2.blur(x * y, (7, 7)) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        vals.append(float(s[3:-3, 3:-3].mean()))
    return float(np.mean(vals))


def run_fpr(n: int, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    fams = list(FAMILIES)
    atts = list(ATTACKS)
    per_family: dict[str, dict[str, int]] = {}
    log10_ps: list[float] = []
    hits: list[dict[str, Any]] = []
    min_p = 1.0
    t0 = time.process_time()
    for i in range(n):
        fam = fams[i % len(fams)]
        h, w = int(rng.integers(128, 257)), int(rng.integers(128, 257))
        img = FAMILIES[fam](rng, h, w)
        att = "none"
        if i % 3 == 2:
            att = atts[(i // 3) % len(atts)]
            img = ATTACKS[att](img)
        det = ALGORITHM.detect(img)
        st = per_family.setdefault(
            fam, {"n": 0, "detected": 0, "crc_ok": 0, "p_sync<=1e-1": 0, "p_sync<=1e-2": 0}
        )
        st["n"] += 1
        st["detected"] += int(det.present)
        st["crc_ok"] += int(bool(det.details.get("crc_ok")))
        lp = float(det.details.get("log10_p_sync", 0.0))
        log10_ps.append(lp)
        st["p_sync<=1e-1"] += int(lp <= -1.0)
        st["p_sync<=1e-2"] += int(lp <= -2.0)
        min_p = min(min_p, det.p_value)
        if det.present:
            hits.append({"i": i, "family": fam, "attack": att, "p": det.p_value})
        if (i + 1) % 1000 == 0:
            log(f"[fpr] {i + 1}/{n} detections={len(hits)} ({time.process_time() - t0:.0f} s CPU)")
    lps = np.asarray(log10_ps)
    calib = {f"p_sync<=1e-{k}": float(np.mean(lps <= -k)) for k in (1, 2, 3, 4)}
    crc_ok = sum(v["crc_ok"] for v in per_family.values())
    return {
        "images": n,
        "detections": len(hits),
        "hits": hits[:20],
        "crc_passes": crc_ok,
        "crc_pass_rate": crc_ok / n,
        "min_p_value": min_p,
        "sync_p_calibration": calib,
        "per_family": per_family,
        "cpu_s_per_image": (time.process_time() - t0) / max(1, n),
        "attacked_fraction": 1 / 3,
    }


def run_quality(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for fam, gen in FAMILIES.items():
        for k in range(3):
            img = gen(rng, 512, 512)
            payload = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
            out = ALGORITHM.embed(img, payload)
            det = ALGORITHM.detect(out)
            rows.append(
                {
                    "family": fam,
                    "k": k,
                    "psnr": round(psnr(img, out), 2),
                    "ssim": round(ssim(img, out), 4),
                    "detected": bool(det.present and det.payload == payload),
                }
            )
    return rows


def run_speed(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for w, h in ((512, 512), (1024, 1024), (1920, 1080), (4000, 3000)):
        img = photo_like(rng, h, w)
        mp = w * h / 1e6
        te, td, ta = [], [], []
        for _ in range(3):
            t = time.process_time()
            out = ALGORITHM.embed(img, bytes(8))
            te.append(time.process_time() - t)
            t = time.process_time()
            ALGORITHM.detect(out)
            td.append(time.process_time() - t)
            att = _jpeg(np.ascontiguousarray(out[h // 20 : -h // 20, w // 20 : -w // 20]), 75)
            t = time.process_time()
            ALGORITHM.detect(att)
            ta.append(time.process_time() - t)
        rows.append(
            {
                "size": f"{w}x{h}",
                "embed_s_per_MP": round(min(te) / mp, 4),
                "detect_s_per_MP": round(min(td) / mp, 4),
                "detect_attacked_s_per_MP": round(min(ta) / mp, 4),
            }
        )
    return rows


def write_md(res: dict[str, Any], path: Path) -> None:
    lines = ["# sl-img-1: false positives, quality, speed", ""]
    lines.append("Generated by `bench/bench_wm_image.py` (one CPU thread, CPU time).")
    if "fpr" in res:
        f = res["fpr"]
        lines += [
            "",
            "## False positives on unmarked images",
            "",
            f"{f['images']} generated unmarked images, 128-256 px, one third attacked "
            f"({', '.join(ATTACKS)}): **{f['detections']} detections** "
            f"(smallest p-value {f['min_p_value']:.3g}); CRC passes {f['crc_passes']} "
            f"({f['crc_pass_rate']:.2e}; 2^-16 = 1.53e-05); "
            f"{f['cpu_s_per_image'] * 1000:.0f} ms CPU per image.",
            "",
            "Calibration of the sync p-value alone (before the CRC), fraction of unmarked images "
            "at or below each level (must not exceed the level):",
            "",
            "| level | fraction |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v:.2e} |" for k, v in f["sync_p_calibration"].items()]
        lines += [
            "",
            "| family | images | detected | CRC ok | p_sync <= 1e-1 | p_sync <= 1e-2 |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {v['n']} | {v['detected']} | {v['crc_ok']} "
            f"| {v.get('p_sync<=1e-1', 0) / v['n']:.3f} | {v.get('p_sync<=1e-2', 0) / v['n']:.4f} |"
            for k, v in f["per_family"].items()
        ]
    if "quality" in res:
        lines += [
            "",
            "## Quality at default strength (512x512)",
            "",
            "| family | PSNR dB (min) | SSIM (min) | round trip |",
            "|---|---|---|---|",
        ]
        by: dict[str, list[dict[str, Any]]] = {}
        for r in res["quality"]:
            by.setdefault(r["family"], []).append(r)
        for fam, rs in by.items():
            ps = [r["psnr"] for r in rs]
            ss = [r["ssim"] for r in rs]
            lines.append(
                f"| {fam} | {np.mean(ps):.1f} ({min(ps):.1f}) | {np.mean(ss):.4f} ({min(ss):.4f}) "
                f"| {sum(r['detected'] for r in rs)}/{len(rs)} |"
            )
    if "speed" in res:
        lines += [
            "",
            "## Speed (CPU s per megapixel, one thread)",
            "",
            "| size | embed | detect (clean) | detect (JPEG 75 + crop 90 %) |",
            "|---|---|---|---|",
        ]
        for r in res["speed"]:
            lines.append(
                f"| {r['size']} | {r['embed_s_per_MP']} | {r['detect_s_per_MP']} "
                f"| {r['detect_attacked_s_per_MP']} |"
            )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--fpr", type=int, default=10000, help="unmarked images (0: keep the last FPR result)"
    )
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    a = ap.parse_args()
    res: dict[str, Any] = {"algorithm": ALGORITHM.id}
    if not a.no_quality:
        res["quality"] = run_quality(a.seed)
    if not a.no_speed:
        res["speed"] = run_speed(a.seed)
    if a.fpr > 0:
        res["fpr"] = run_fpr(a.fpr, a.seed, lambda s: print(s, flush=True))
    elif (a.out / "wm_image.json").is_file():  # keep the last (long) FPR run
        old = json.loads((a.out / "wm_image.json").read_text())
        if "fpr" in old:
            res["fpr"] = old["fpr"]
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "wm_image.json").write_text(json.dumps(res, indent=1) + "\n")
    write_md(res, a.out / "wm_image.md")
    print((a.out / "wm_image.md").read_text())


if __name__ == "__main__":
    main()
