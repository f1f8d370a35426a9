"""Hostile files for the budget tests, and a child process that inspects them.

``python -m tests.detect._hostile DIR`` writes every case into DIR, inspects each with the
detectors and watermarks on (``inspect_file``) and prints one JSON line per case: seconds,
the process's peak RSS so far, error, warnings, detector errors/skips, verdict.
"""

from __future__ import annotations

import io
import json
import resource
import struct
import sys
import time
import traceback
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.fixtures import traces as tfx

GB4 = 0xFFFFFFFF


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + ctype
        + body
        + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)
    )


def _png_insert(chunks: bytes) -> bytes:
    base = tfx.png()
    return base[:33] + chunks + base[33:]


def zip_bomb_docx(inflated: int = 1 << 30) -> bytes:
    """A DOCX whose document.xml and custom properties inflate to ``inflated`` bytes each
    (written as streamed deflate: the archive stays about a MiB per member)."""
    buf = io.BytesIO()
    head = (
        b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
        b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>'
    )
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/'
            '2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        zf.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>',
        )
        block = b"A" * (1 << 20)
        for name in ("word/document.xml", "docProps/custom.xml"):
            with zf.open(name, "w", force_zip64=True) as fh:
                fh.write(head)
                for _ in range(inflated >> 20):
                    fh.write(block)
    return buf.getvalue()


def ztxt_bomb_png() -> bytes:
    return tfx.zlib_bomb_png(256 << 20)


def deep_json_png() -> bytes:
    return tfx.deep_json_png(400_000)


def _xmp(size: int) -> bytes:
    filler = "<rdf:li>" + "x" * 1000 + "</rdf:li>"
    body = filler * (size // len(filler))
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
        '02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/'
        f'elements/1.1/"><dc:subject><rdf:Bag>{body}</rdf:Bag></dc:subject>'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


_XMP_KEY = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"


def huge_xmp_png() -> bytes:
    """A 40 MB XMP packet in iTXt (over the 16 MiB metadata limit)."""
    return _png_insert(_png_chunk(b"iTXt", _XMP_KEY + _xmp(40 << 20)))


def big_xmp_png() -> bytes:
    """A 12 MB XMP packet (under the 16 MiB metadata limit, over the XMP packet limit)."""
    return _png_insert(_png_chunk(b"iTXt", _XMP_KEY + _xmp(12 << 20)))


def _jumbf_4gb() -> bytes:
    """A ``jumb`` superbox claiming 4 GB (LBox 0xFFFFFFFF) and, inside, a c2pa ``jumd``
    followed by a box whose XLBox claims 2^40 bytes."""
    jumd = b"jumd" + bytes.fromhex("6332706100110010800000aa00389b71") + b"\x03c2pa\x00"
    jumd = struct.pack(">I", 4 + len(jumd)) + jumd
    xl = struct.pack(">I4sQ", 1, b"json", 1 << 40) + b"{}"
    return struct.pack(">I4s", GB4, b"jumb") + jumd + xl


def jumbf_4gb_png() -> bytes:
    return _png_insert(_png_chunk(b"caBX", _jumbf_4gb()))


def jumbf_4gb_jpeg() -> bytes:
    jpeg = tfx.jpeg()
    body = b"JP" + struct.pack(">HI", 1, 1) + _jumbf_4gb()
    seg = b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + seg + jpeg[2:]


def truncated_mp4() -> bytes:
    data = tfx.base_video()
    return data[: len(data) * 6 // 10]


def empty_moov_mp4() -> bytes:
    """An ``ftyp`` then a ``moov`` claiming 4 GB."""
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"isom", 0, b"isom")
    return ftyp + struct.pack(">I4s", GB4, b"moov") + b"\x00" * 64


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "zip-bomb-docx": ("docx", zip_bomb_docx),
    "ztxt-bomb-png": ("png", ztxt_bomb_png),
    "deep-json-png": ("png", deep_json_png),
    "huge-xmp-png": ("png", huge_xmp_png),
    "big-xmp-png": ("png", big_xmp_png),
    "jumbf-4gb-png": ("png", jumbf_4gb_png),
    "jumbf-4gb-jpeg": ("jpg", jumbf_4gb_jpeg),
    "truncated-mp4": ("mp4", truncated_mp4),
    "moov-4gb-mp4": ("mp4", empty_moov_mp4),
}


def main(folder: Path, names: list[str]) -> None:
    from synthlabel.pipeline.inspecting import InspectOptions, inspect_file

    opts = InspectOptions(detect=True, watermarks=True, time_budget=5.0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names or list(CASES):
        ext, make = CASES[name]
        p = folder / f"{name}.{ext}"
        p.write_bytes(make())
        paths[name] = p
    inspect_file(Path(tfx.__file__), opts)  # warm up the imports and the registries
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"case": "baseline", "maxrss_kb": base}), flush=True)
    for name, p in paths.items():
        t0 = time.monotonic()
        try:
            r = inspect_file(p, opts)
            row = {
                "error": r.error,
                "warnings": r.warnings,
                "detectors": r.detectors,
                "verdict": r.decision.verdict.value if r.decision else None,
                "format": r.format,
                "c2pa_error": r.c2pa.error if r.c2pa else "",
            }
        except BaseException:  # the test fails on this: inspect_file must never raise
            row = {"traceback": traceback.format_exc()}
        row.update(
            case=name,
            size=p.stat().st_size,
            seconds=round(time.monotonic() - t0, 3),
            maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        )
        print(json.dumps(row, default=str), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
