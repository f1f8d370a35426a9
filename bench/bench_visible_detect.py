"""Visible-label detection: recall on our own labels, false positives, time per megapixel.

Run: ``.venv/bin/python bench/bench_visible_detect.py`` (writes bench/results/visible_detect.md
and .csv). Everything is generated here: images labelled with synthlabel's own labeller at
several sizes, positions and backgrounds (then JPEG quality 70 and a 0.5x resize + JPEG 85),
two captioned videos, audio with the voice and the rhythm prompt at the start and the end, and
unlabelled images with other text (signs, UI lines, English and Chinese). OCR runs on one
thread (``SYNTHLABEL_OCR_THREADS`` unset).
"""

from __future__ import annotations

import csv
import io
import platform
import statistics
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from synthlabel.detect.base import Asset, DetectOptions  # noqa: E402
from synthlabel.detect.visible import DETECTOR  # noqa: E402
from synthlabel.formats import registry as formats  # noqa: E402
from synthlabel.inspect.reader import inspect_bytes  # noqa: E402
from synthlabel.label import _ffmpeg as ff  # noqa: E402
from synthlabel.label.audio import AudioPromptOptions, render_audio_prompt  # noqa: E402
from synthlabel.label.fonts import load_font, resolve_font  # noqa: E402
from synthlabel.label.video import VideoCaptionOptions, render_video_caption  # noqa: E402
from synthlabel.label.visible import VisibleOptions, render_visible  # noqa: E402

OUT = ROOT / "bench" / "results"
DEEP = DetectOptions(max_cost="expensive", time_budget=None)
rng = np.random.default_rng(2025)


def asset_for(data: bytes, name: str) -> Asset:
    report = inspect_bytes(data, path=name, c2pa=False)
    handler = formats.get(report.format) if report.format else None
    return Asset(name, handler, report, data)


def background(w: int, h: int, kind: str) -> Image.Image:
    if kind == "noise":
        small = (rng.random((h // 12 + 1, w // 12 + 1, 3)) * 255).astype(np.uint8)
        return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    if kind == "light":
        return Image.new("RGB", (w, h), (246, 244, 238))
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    arr = np.concatenate(
        [np.broadcast_to(40 + 160 * x, (h, w, 1)), np.broadcast_to(30 + 120 * y, (h, w, 1)),
         np.broadcast_to(90 - 60 * x * y, (h, w, 1))], axis=2,
    )  # fmt: skip
    return Image.fromarray(arr.astype(np.uint8))


def enc(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def run(data: bytes, name: str) -> tuple[list[Any], float]:
    t0 = time.perf_counter()
    found = DETECTOR.detect(asset_for(data, name), DEEP)
    return found, time.perf_counter() - t0


rows: list[dict[str, Any]] = []


def image_recall() -> None:
    sizes = [(640, 480), (1024, 1024), (1920, 1080)]
    positions = ["bottom-right", "top-left", "bottom", "right"]
    backgrounds = ["noise", "light", "gradient"]
    texts = ["AI生成", "本内容由人工智能生成", "人工智能合成"]
    k = 0
    for w, h in sizes:
        for pos in positions:
            bg = backgrounds[k % 3]
            text = texts[k % 3]
            k += 1
            res = render_visible(enc(background(w, h, bg), "PNG"), "png",
                                 VisibleOptions(text=text, position=pos))  # fmt: skip
            img = Image.open(io.BytesIO(res.data)).convert("RGB")
            variants = {
                "png": (res.data, "x.png", 1.0),
                "jpeg70": (enc(img, "JPEG", quality=70), "x.jpg", 1.0),
                "half": (
                    enc(img.resize((w // 2, h // 2), Image.Resampling.LANCZOS), "JPEG",
                        quality=85),
                    "x.jpg",
                    0.5,
                ),
            }  # fmt: skip
            for variant, (data, name, scale) in variants.items():
                found, dt = run(data, name)
                caps = [f for f in found if f.code == "visible.caption"]
                d = caps[0].details if caps else {}
                want = round(res.text_px * scale)
                rows.append(
                    {
                        "group": "image",
                        "case": f"{w}x{h} {pos} {bg} {text}",
                        "variant": variant,
                        "expected": "caption",
                        "found": bool(caps) and d.get("text") == text,
                        "codes": " ".join(f.code for f in found),
                        "text": d.get("text", ""),
                        "height_px": d.get("height_px", ""),
                        "label_px": want,
                        "position_ok": d.get("side") == pos,
                        "compliant": d.get("compliant", ""),
                        "seconds": round(dt, 3),
                        "mpix": round(w * scale * h * scale / 1e6, 3),
                    }
                )
                print(rows[-1], flush=True)


def wav(x: np.ndarray, sr: int = 44100) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def audio_recall() -> None:
    sr = 44100
    t = np.arange(sr * 15) / sr
    music = (
        0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.5 * t) ** 2
        + 0.1 * np.sin(2 * np.pi * 330 * t + np.sin(t))
        + 0.02 * rng.standard_normal(t.size)
    )
    base = wav(music)
    with ff.workdir() as work:
        (work / "a.wav").write_bytes(base)
        ff.run_ffmpeg(["-i", str(work / "a.wav"), "-b:a", "128k", str(work / "a.mp3")],
                      timeout=60, what="mp3")  # fmt: skip
        mp3 = (work / "a.mp3").read_bytes()
    for fmt, src in (("wav", base), ("mp3", mp3)):
        found, dt = run(src, f"x.{fmt}")
        codes = " ".join(f.code for f in found)
        rows.append({"group": "audio-negative", "case": f"music {fmt}", "variant": fmt,
                     "expected": "none", "found": not found, "codes": codes,
                     "seconds": round(dt, 3)})  # fmt: skip
        for mode in ("voice", "rhythm"):
            for where in ("start", "end"):
                for lang in ("zh", "en") if mode == "voice" else ("zh",):
                    r = render_audio_prompt(
                        src, fmt, AudioPromptOptions(mode=mode, where=(where,), language=lang)
                    )
                    found, dt = run(r.data, f"x.{fmt}")
                    hit = [f for f in found if f.code == f"visible.{mode}_prompt"]
                    rows.append(
                        {
                            "group": "audio",
                            "case": f"{mode} {lang} at {where}",
                            "variant": fmt,
                            "expected": f"{mode}_prompt",
                            "found": bool(hit) and hit[0].details["location"] == where,
                            "codes": " ".join(f.code for f in found),
                            "text": hit[0].details.get("distance", "") if hit else "",
                            "seconds": round(dt, 3),
                        }
                    )
                    print(rows[-1], flush=True)


def video_recall() -> None:
    with ff.workdir() as work:
        src = work / "in.mp4"
        ff.run_ffmpeg(
            ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=8",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", str(src)],
            timeout=120, what="clip",
        )  # fmt: skip
        clip = src.read_bytes()
    cases = [
        ("3 s bottom-right", VideoCaptionOptions()),
        ("2 s top-left 本内容由人工智能生成", VideoCaptionOptions(
            seconds=2.0, position="top-left", text="本内容由人工智能生成")),
        ("3 s + end caption", VideoCaptionOptions(end_caption=True)),
    ]  # fmt: skip
    for name, opts in cases:
        data = render_video_caption(clip, "mp4", opts).data
        found, dt = run(data, "x.mp4")
        caps = [f for f in found if f.code == "visible.caption"]
        start = [f for f in caps if f.details.get("location") == "start"]
        rows.append(
            {
                "group": "video",
                "case": name,
                "variant": "mp4 720p",
                "expected": "caption",
                "found": bool(start),
                "codes": " ".join(f.code for f in found),
                "text": start[0].details["text"] if start else "",
                "compliant": start[0].details["compliant"] if start else "",
                "height_px": f"shown {start[0].details.get('shown_s')} s" if start else "",
                "seconds": round(dt, 3),
            }
        )
        print(rows[-1], flush=True)
    found, dt = run(clip, "x.mp4")
    rows.append({"group": "video-negative", "case": "unlabelled testsrc2", "variant": "mp4",
                 "expected": "none", "found": not [f for f in found if f.code ==
                                                   "visible.caption"],
                 "codes": " ".join(f.code for f in found), "seconds": round(dt, 3)})  # fmt: skip


NEGATIVES = [
    ("shop sign", ["OPEN 24 HOURS", "营业时间 9:00-21:00"]),
    ("exit sign", ["安全出口 EXIT"]),
    ("menu bar", ["文件  编辑  视图  帮助", "File  Edit  View  Help"]),
    ("generator UI", ["生成图片", "Settings", "历史记录"]),
    ("report footer", ["Generated on 2025-05-01 by the reporting tool"]),
    ("AI product name", ["AI Assistant", "智能客服"]),
    ("news caption", ["新华社北京5月1日电", "记者 张三 摄"]),
    ("street", ["人民路 RENMIN RD", "合成路 200m"]),
    ("chat UI", ["你好，请问有什么可以帮您？", "发送"]),
    ("poster", ["SUMMER SALE 50% OFF", "限时优惠"]),
]


def negatives() -> None:
    choice, _ = resolve_font("AI生成营业时间安全出口文件编辑视图帮助人民路合成限时优惠新华社", None)
    for i, (name, lines) in enumerate(NEGATIVES):
        w, h = (1024, 768) if i % 2 else (800, 800)
        img = background(w, h, ["light", "gradient", "noise"][i % 3])
        draw = ImageDraw.Draw(img)
        y = 30 if i % 2 else h - 60 * len(lines) - 20
        for line in lines:
            font = load_font(choice.path, choice.index, 40)
            ink = (15, 15, 15) if i % 3 == 0 else (255, 255, 255)
            draw.text((30, y), line, font=font, fill=ink,
                      stroke_width=0 if i % 3 == 0 else 2, stroke_fill=(0, 0, 0))  # fmt: skip
            y += 60
        found, dt = run(enc(img, "PNG"), "x.png")
        rows.append(
            {
                "group": "image-negative",
                "case": name,
                "variant": "png",
                "expected": "none",
                "found": not [f for f in found if f.code == "visible.caption"],
                "codes": " ".join(f.code for f in found),
                "text": " | ".join(f.details.get("text", "") for f in found),
                "seconds": round(dt, 3),
                "mpix": round(w * h / 1e6, 3),
            }
        )
        print(rows[-1], flush=True)


def report() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keys = ["group", "case", "variant", "expected", "found", "codes", "text", "height_px",
            "label_px", "position_ok", "compliant", "seconds", "mpix"]  # fmt: skip
    with open(OUT / "visible_detect.csv", "w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, keys)
        wr.writeheader()
        for r in rows:
            wr.writerow({k: r.get(k, "") for k in keys})

    def rate(group: str, variant: str | None = None) -> str:
        sel = [
            r for r in rows if r["group"] == group and (variant is None or r["variant"] == variant)
        ]
        ok = sum(1 for r in sel if r["found"])
        return f"{ok}/{len(sel)}" + (f" ({100 * ok / len(sel):.0f} %)" if sel else "")

    img = [r for r in rows if r["group"] == "image"]
    exact = [r for r in img if r["found"] and r["height_px"] != ""]
    herr = [abs(int(r["height_px"]) - int(r["label_px"])) for r in exact]
    pos_ok = sum(1 for r in exact if r["position_ok"])
    comp = sum(1 for r in exact if r["compliant"] == "yes" and r["variant"] != "half")
    full = [r for r in exact if r["variant"] != "half"]
    spmp = [r["seconds"] / r["mpix"] for r in rows if r["group"] == "image" and r["mpix"]]
    per_img = [r["seconds"] for r in rows if r["group"] == "image" and r["variant"] == "png"]
    neg = [r for r in rows if r["group"] == "image-negative"]
    partial = [r for r in neg if "visible.partial" in r["codes"]]
    lines = [
        "# Visible-label detection (OCR, audio prompts)",
        "",
        f"`bench/bench_visible_detect.py`, {time.strftime('%Y-%m-%d')}, Python "
        f"{platform.python_version()}, {platform.machine()}, OCR on 1 thread "
        "(RapidOCR PP-OCRv4 zh+en ONNX models from the wheel, no downloads).",
        "",
        "## Recall on our own labels",
        "",
        "| Set | Found |",
        "|---|---|",
        f"| images, PNG as labelled | {rate('image', 'png')} |",
        f"| images, JPEG quality 70 | {rate('image', 'jpeg70')} |",
        f"| images, 0.5x resize + JPEG 85 | {rate('image', 'half')} |",
        f"| videos (caption on the opening frames, 720p H.264) | {rate('video')} |",
        f"| audio prompts (voice zh/en, rhythm; start/end; WAV/MP3) | {rate('audio')} |",
        "",
        f"Images: 3 sizes (640x480, 1024x1024, 1920x1080) x 4 positions, noise / light / "
        f"gradient backgrounds, texts AI生成 / 本内容由人工智能生成 / 人工智能合成. "
        f"Measured ink height vs the labeller's: mean |error| "
        f"{(statistics.mean(herr) if herr else 0):.2f} px, max {max(herr) if herr else 0} px; "
        f"side reported right {pos_ok}/{len(exact)}; judged compliant (full size) "
        f"{comp}/{len(full)}.",
        "",
        "## False positives",
        "",
        "| Set | No caption finding |",
        "|---|---|",
        "| unlabelled images with other text (signs, UI, news, zh/en) | "
        f"{rate('image-negative')} |",
        f"| unlabelled video | {rate('video-negative')} |",
        f"| unlabelled audio (synthetic music, WAV/MP3) | {rate('audio-negative')} |",
        "",
        f"`visible.partial` (weak, one element) on the negatives: {len(partial)} "
        f"({', '.join(r['case'] + ': ' + r['text'] for r in partial) or 'none'}).",
        "",
        "## Time",
        "",
        f"- images: median {statistics.median(spmp):.2f} s/MP over all image runs "
        f"(min {min(spmp):.2f}, max {max(spmp):.2f}); median {statistics.median(per_img):.2f} s "
        "per full-size PNG (includes the strip pass above 1280 px)."
        if spmp and per_img
        else "- images: no runs",
        "- video: " + ", ".join(f"{r['seconds']:.1f} s" for r in rows if r["group"] == "video"),
        "- audio (decode + rhythm + 2 voice templates x 2 windows): median "
        + f"{statistics.median([r['seconds'] for r in rows if r['group'] == 'audio']):.2f} s",
        "",
        "Per-case rows: `visible_detect.csv`.",
        "",
        "Caveats: every fixture is synthetic (our own labeller on noise, flat and gradient "
        "backgrounds; text drawn with the shipped CJK font for the negatives; testsrc2 video; "
        "synthetic music) and the sets are small, so these rates bound nothing for real photos, "
        "other fonts or other vendors' captions. Height errors above 2 px are all on the 0.5x "
        "copies (12-27 px text after the resize, see the csv): there the compliance verdict is "
        "unreliable.",
    ]
    (OUT / "visible_detect.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    image_recall()
    negatives()
    video_recall()
    audio_recall()
    report()
