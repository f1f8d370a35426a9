"""``make demo``: make samples in every supported format (7 image formats, WAV, MP3, FLAC,
Ogg, M4A, MP4, WebM, Markdown, HTML, JSON, plain text, PDF, DOCX), label them explicitly and
implicitly with an SM2 signature, tamper with two copies, print the inspect table, watermark
and re-upload three copies, and end with a sample assessment report of all of it
(:mod:`synthlabel.demo.report`: conformance, drill, verdicts, TC260, biometric).

Run with ``python -m synthlabel.demo [OUT_DIR]`` (default ``demo-out``).
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

DEMO_PRODUCER = "001191110000MA0000000H10001"  # fake subject code with a valid check digit
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    "sample.jpg": ("JPEG", {"quality": 90}),
    "sample.png": ("PNG", {}),
    "sample.webp": ("WEBP", {"quality": 85}),
    "sample.tif": ("TIFF", {"compression": "tiff_lzw"}),
    "sample.gif": ("GIF", {}),
    "sample.heic": ("HEIF", {"quality": 85}),
    "sample.avif": ("AVIF", {"quality": 75}),
}


def scene(width: int = 960, height: int = 640) -> Image.Image:
    """A synthetic 'generated' landscape: sky gradient, sun, hills, water reflections."""
    img = Image.new("RGB", (width, height))
    px = img.load()
    assert px is not None
    horizon = int(height * 0.62)
    for y in range(height):
        t = y / max(1, horizon)
        if y < horizon:
            c = (int(40 + 200 * t), int(60 + 120 * t), int(140 + 60 * (1 - t)))
        else:
            u = (y - horizon) / max(1, height - horizon)
            c = (int(30 + 40 * (1 - u)), int(60 + 50 * (1 - u)), int(110 + 60 * (1 - u)))
        for x in range(width):
            px[x, y] = c
    d = ImageDraw.Draw(img)
    sx, sy, r = int(width * 0.68), int(height * 0.42), int(height * 0.11)
    d.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(255, 214, 140))
    for k, shade in enumerate(((46, 74, 92), (34, 58, 70))):
        pts = [(0, horizon)]
        for x in range(0, width + 1, 8):
            pts.append((x, horizon - 40 - k * 25 - int(50 * math.sin(x / (90 + 40 * k) + k))))
        pts.append((width, horizon))
        d.polygon(pts, fill=shade)
    for i in range(0, height - horizon, 6):
        y = horizon + i
        w = int(r * (1.4 - i / (height - horizon)))
        d.line((sx - w, y, sx + w, y), fill=(230, 180, 120), width=2)
    return img.filter(ImageFilter.SMOOTH)


def make_samples(folder: Path) -> list[Path]:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover
        pass
    folder.mkdir(parents=True, exist_ok=True)
    base = scene()
    paths = []
    for name, (fmt, kw) in FORMATS.items():
        img = base.convert("P", palette=Image.Palette.ADAPTIVE) if fmt == "GIF" else base
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        p = folder / name
        p.write_bytes(buf.getvalue())
        paths.append(p)
    return paths


_DOCX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.wordprocessingml.document.main+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    ),
    "word/document.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>A generated report about sunsets.</w:t></w:r></w:p>"
        "<w:sectPr/></w:body></w:document>"
    ),
}


def make_media_samples(folder: Path) -> list[str]:
    """Audio and video (with ffmpeg), text and documents. Returns notes on what was skipped."""
    import subprocess
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    (folder / "answer.md").write_text(
        "# 日落\n\n日落时分，天空从橙色渐变为紫色。\n", encoding="utf-8"
    )
    (folder / "answer.txt").write_text("The sky turns from orange to violet at sunset.\n")
    (folder / "page.html").write_text(
        "<!doctype html><html><head><title>Sunset</title></head>"
        "<body><p>The sky turns from orange to violet.</p></body></html>\n"
    )
    (folder / "response.json").write_text(
        '{"id":"chatcmpl-1","object":"chat.completion","model":"demo",'
        '"choices":[{"index":0,"message":{"role":"assistant","content":"Sunsets are red."}}]}\n'
    )
    with zipfile.ZipFile(folder / "report.docx", "w", zipfile.ZIP_DEFLATED) as z:
        for name, xml in _DOCX_PARTS.items():
            z.writestr(name, xml)
    try:
        import pikepdf

        pdf = pikepdf.new()
        pdf.add_blank_page(page_size=(595, 842))
        page = pdf.pages[0]
        page.obj.Resources = pikepdf.Dictionary(
            Font=pikepdf.Dictionary(
                F1=pikepdf.Dictionary(
                    Type=pikepdf.Name.Font,
                    Subtype=pikepdf.Name.Type1,
                    BaseFont=pikepdf.Name.Helvetica,
                )
            )
        )
        page.obj.Contents = pdf.make_stream(b"BT /F1 24 Tf 72 760 Td (A generated report) Tj ET")
        pdf.save(folder / "report.pdf")
    except ImportError:  # pragma: no cover
        notes.append("pikepdf missing: no PDF sample")
    ff = shutil.which("ffmpeg")
    if not ff:
        notes.append("ffmpeg missing: no audio/video samples (make demo installs it)")
        return notes
    run = [ff, "-v", "error", "-y"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=4:sample_rate=22050"]
    jobs = [
        [*tone, str(folder / "voice.wav")],
        [*tone, "-b:a", "96k", str(folder / "voice.mp3")],
        [*tone, str(folder / "voice.flac")],
        [*tone, "-c:a", "libvorbis", str(folder / "voice.ogg")],
        [*tone, "-c:a", "aac", "-b:a", "96k", str(folder / "voice.m4a")],
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=4",
            *tone,
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
            str(folder / "clip.mp4"),
        ],
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=4",
            *tone,
            "-c:v",
            "libvpx-vp9",
            "-b:v",
            "300k",
            "-deadline",
            "realtime",
            "-c:a",
            "libopus",
            "-shortest",
            str(folder / "clip.webm"),
        ],
    ]
    for args in jobs:
        res = subprocess.run([*run, *args], capture_output=True, check=False, timeout=300)
        if res.returncode != 0:
            notes.append(f"ffmpeg could not make {args[-1]}: {res.stderr.decode()[-200:]}")
    return notes


def main(argv: list[str] | None = None) -> int:
    from synthlabel.cli.main import main as cli
    from synthlabel.model.keys import KeyStore

    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "demo-out")
    if root.exists():
        shutil.rmtree(root)
    originals = root / "originals"
    labelled = root / "labelled"
    home = root / "keys"
    print(f"1. samples: images in 7 formats, audio, video, text and documents -> {originals}/")
    make_samples(originals)
    for note in make_media_samples(originals):
        print(f"   note: {note}")
    print(f"2. a new SM2 signing key in {home}/ (trusted locally)")
    info = KeyStore(home).generate(algorithm="sm2", name="demo-producer")
    print(f"   key id {info.key_id}")
    print(f"3. label visibly + implicitly, signed -> {labelled}/")
    _run(
        cli,
        [
            "label",
            str(originals),
            "--out-dir",
            str(labelled),
            "--producer",
            DEMO_PRODUCER,
            "--sign",
            info.key_id,
            "--home",
            str(home),
            "--sidecar",  # plain text has no metadata slot: the record goes beside it
        ],
    )
    print("4. inspect the labelled files")
    _run(cli, ["inspect", str(labelled), "--home", str(home)])
    print("5. tamper: change ProduceID in one copy, move a label onto another image in another")
    tampered = root / "tampered"
    tampered.mkdir()
    _tamper(labelled, tampered)
    code = _run(cli, ["verify", str(tampered), "--home", str(home)], check=False)
    print(f"   verify exit code {code} (1 = problems found, as expected)")
    print("6. robust watermark: label with --watermark, then strip the metadata the way a")
    print("   re-upload does (screenshot-like JPEG, MP3 64k, H.264 CRF 28 at half size)")
    marked = root / "watermarked"
    picked = [p for p in ("sample.jpg", "voice.wav", "clip.mp4") if (originals / p).exists()]
    if picked:
        _run(
            cli,
            [
                "label",
                *(str(originals / p) for p in picked),
                "--out-dir",
                str(marked),
                "--producer",
                DEMO_PRODUCER,
                "--sign",
                info.key_id,
                "--home",
                str(home),
                "--watermark",
            ],
        )
        stripped = root / "reuploaded"
        for note in _reupload(marked, stripped):
            print(f"   note: {note}")
        print("   inspect the stripped copies: no record left, the watermark key still there")
        _run(cli, ["inspect", str(stripped), "--home", str(home)], check=False)
    print("7. sample assessment report: conformance, attack drill, verdicts, TC260 harness")
    print(f"   (mechanics demo) and biometric checklist, results in {root / 'results'}/")
    from synthlabel.demo.report import build_demo_report

    rep = build_demo_report(root, home, org=f"Demo AI service (fake provider code {DEMO_PRODUCER})")
    print(f"\nDone. Look at {labelled}/sample.png to see the visible label, and at")
    print(f"{rep.pdf or rep.html} for the sample report.")
    return 0


def _reupload(marked: Path, dest: Path) -> list[str]:
    """Copies without metadata, re-encoded the way platforms and screenshots do."""
    dest.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    if (marked / "sample.jpg").exists():
        with Image.open(marked / "sample.jpg") as im:
            small = im.convert("RGB").resize((im.width * 3 // 4, im.height * 3 // 4))
            small.save(dest / "screenshot.jpg", "JPEG", quality=70)
    ff = shutil.which("ffmpeg")
    jobs = {
        "voice.wav": ["-map_metadata", "-1", "-b:a", "64k", "voice-64k.mp3"],
        "clip.mp4": [
            "-map_metadata", "-1", "-vf", "scale=iw/2:-2", "-c:v", "libx264", "-crf", "28",
            "-c:a", "aac", "clip-crf28-half.mp4",
        ],
    }  # fmt: skip
    for name, args in jobs.items():
        if ff is None or not (marked / name).exists():
            continue
        res = subprocess.run(
            [ff, "-v", "error", "-y", "-i", str(marked / name), *args[:-1], str(dest / args[-1])],
            capture_output=True,
            check=False,
            timeout=300,
        )
        if res.returncode != 0:
            notes.append(f"ffmpeg could not make {args[-1]}: {res.stderr.decode()[-200:]}")
    return notes


def _tamper(labelled: Path, dest: Path) -> None:
    from synthlabel.formats import registry
    from synthlabel.formats.base import LabelWrite
    from synthlabel.inspect.reader import inspect_bytes

    png = (labelled / "sample.png").read_bytes()
    rec = inspect_bytes(png, c2pa=False).record
    assert rec is not None
    handler = registry.get("png")
    edited = rec.replace(
        produce_id=rec.produce_id[:-1] + ("0" if rec.produce_id[-1] != "0" else "1")
    )
    (dest / "changed-field.png").write_bytes(handler.write_label(png, LabelWrite(edited.to_json())))
    # Move the JPEG's signed label onto a different JPEG picture.
    jpg = (labelled / "sample.jpg").read_bytes()
    jrec = inspect_bytes(jpg, c2pa=False).record
    assert jrec is not None
    other = io.BytesIO()
    scene(640, 480).rotate(180).save(other, "JPEG", quality=90)
    jh = registry.get("jpeg")
    moved = jh.write_label(other.getvalue(), LabelWrite(jrec.to_json()))
    (dest / "moved-label.jpg").write_bytes(moved)
    shutil.copy(labelled / "sample.webp", dest / "untouched.webp")


def _run(cli: object, argv: list[str], check: bool = True) -> int:
    try:
        cli(argv)  # type: ignore[operator]
    except SystemExit as exc:
        code = int(exc.code or 0)
        if check and code != 0:
            raise SystemExit(
                f"demo step failed: synthlabel {' '.join(argv)} (exit {code})"
            ) from None
        return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
