"""Visible-label benchmark: milliseconds per megapixel to draw the label and re-encode.

    python bench/bench_visible.py [--runs 5] [--sizes 1,4,12] [--formats jpeg,png,webp]

For each size (1, 4 and 12 MP, 4:3) and format (JPEG quality 90 4:2:0, PNG RGB, WebP lossy
quality 80) a deterministic photo-like image is generated in memory, then measured with
interleaved runs (median of ``--runs``):

- ``label``: :func:`synthlabel.label.visible.render_visible` on the file bytes (decode, draw on
  every frame, re-encode once with the source's quantization tables / mode / quality);
- ``baseline``: plain Pillow decode + encode of the same bytes with the same encoder settings
  and no label, measured in the same run;
- ``draw``: :func:`draw_label` alone on the already decoded image (the pixel work).

``ratio`` = label / baseline: the cost of labelling on top of the re-encode any pixel edit
needs. Results: bench/results/visible.json and bench/results/visible.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, JpegImagePlugin

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from synthlabel.label.visible import (  # noqa: E402
    VisibleOptions,
    draw_label,
    estimate_webp_quality,
    render_visible,
)

RESULTS = ROOT / "results"
SIZES = {1: (1155, 866), 4: (2309, 1732), 12: (4000, 3000)}


def photo(w: int, h: int) -> Image.Image:
    """Gradients, shapes and fine noise: compresses like a photograph, not like flat art."""
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((w, h)),
            Image.radial_gradient("L").resize((w, h)),
            Image.linear_gradient("L").rotate(90).resize((w, h)),
        ),
    )
    d = ImageDraw.Draw(base)
    for k in range(40):
        x, y = (k * 389) % w, (k * 241) % h
        r = max(8, min(w, h) // (6 + k % 9))
        d.ellipse((x, y, x + r, y + r), fill=((k * 53) % 256, (k * 97) % 256, (k * 31) % 256))
    base = base.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise((w, h), 18).convert("RGB")
    return Image.blend(base, noise, 0.12)


def encode_source(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, "JPEG", quality=90, subsampling=2)
    elif fmt == "png":
        img.save(buf, "PNG")
    else:
        img.save(buf, "WEBP", quality=80, method=4)
    return buf.getvalue()


def baseline(data: bytes, fmt: str) -> bytes:
    """Decode and re-encode with the same settings render_visible uses, without a label."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        out = io.BytesIO()
        if fmt == "jpeg":
            im.save(
                out,
                "JPEG",
                qtables=im.quantization,  # type: ignore[attr-defined]
                subsampling=JpegImagePlugin.get_sampling(im),
                optimize=True,
            )
        elif fmt == "png":
            im.copy().save(out, "PNG")
        else:
            vp8 = data[data.index(b"VP8 ") + 8 :]
            im.save(out, "WEBP", quality=estimate_webp_quality(vp8) or 90, method=4)
        return out.getvalue()


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="1,4,12")
    ap.add_argument("--formats", default="jpeg,png,webp")
    args = ap.parse_args()
    opts = VisibleOptions()
    rows: list[dict[str, Any]] = []
    for mp in [int(s) for s in args.sizes.split(",")]:
        w, h = SIZES[mp]
        img = photo(w, h)
        megapixels = w * h / 1e6
        for fmt in args.formats.split(","):
            data = encode_source(img, fmt)
            decoded = Image.open(io.BytesIO(data))
            decoded.load()
            render_visible(data, fmt, opts)  # warm caches (font sizing, layout)
            label_ms, base_ms, draw_ms = [], [], []
            for _ in range(args.runs):  # interleaved, so machine load hits both alike
                label_ms.append(timed(lambda d=data, f=fmt: render_visible(d, f, opts)))
                base_ms.append(timed(lambda d=data, f=fmt: baseline(d, f)))
                draw_ms.append(timed(lambda i=decoded: draw_label(i, opts)))
            lab, base, drw = (statistics.median(x) for x in (label_ms, base_ms, draw_ms))
            out = render_visible(data, fmt, opts)
            row = {
                "format": fmt,
                "megapixels_nominal": mp,
                "width": w,
                "height": h,
                "megapixels": round(megapixels, 3),
                "bytes_in": len(data),
                "bytes_out": len(out.data),
                "runs": args.runs,
                "label_ms": round(lab, 2),
                "baseline_ms": round(base, 2),
                "draw_only_ms": round(drw, 3),
                "label_ms_per_mp": round(lab / megapixels, 2),
                "baseline_ms_per_mp": round(base / megapixels, 2),
                "ratio": round(lab / base, 3),
                "text_px": out.text_px,
                "quality_note": out.quality_note,
            }
            rows.append(row)
            print(
                f"{fmt:5} {mp:>2} MP  label {lab:8.1f} ms ({lab / megapixels:6.1f} ms/MP)  "
                f"baseline {base:8.1f} ms ({base / megapixels:6.1f} ms/MP)  "
                f"ratio {lab / base:5.2f}  draw {drw:6.2f} ms",
                flush=True,
            )
    meta = {
        "python": platform.python_version(),
        "pillow": Image.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "note": "medians of interleaved runs on a shared machine; baseline = Pillow decode + "
        "encode with the same settings, no label",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "visible.json").write_text(
        json.dumps({"meta": meta, "results": rows}, indent=2, ensure_ascii=False) + "\n", "utf-8"
    )
    lines = [
        "# Visible label benchmark",
        "",
        f"Python {meta['python']}, Pillow {meta['pillow']}, {meta['cpus']} CPUs (shared). "
        f"Median of {args.runs} interleaved runs. *label* = `render_visible` (decode, draw, "
        "re-encode once); *baseline* = plain Pillow decode + encode of the same file with the "
        "same encoder settings and no label; *draw* = `draw_label` alone on decoded pixels.",
        "",
        "| format | MP | size | label ms | label ms/MP | baseline ms/MP | ratio | draw ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['format']} | {r['megapixels_nominal']} | {r['width']}×{r['height']} | "
            f"{r['label_ms']:.1f} | {r['label_ms_per_mp']:.1f} | {r['baseline_ms_per_mp']:.1f} | "
            f"{r['ratio']:.2f} | {r['draw_only_ms']:.2f} |"
        )
    (RESULTS / "visible.md").write_text("\n".join(lines) + "\n", "utf-8")
    print(f"wrote {RESULTS / 'visible.json'} and {RESULTS / 'visible.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
