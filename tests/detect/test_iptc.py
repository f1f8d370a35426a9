"""IPTC DigitalSourceType in XMP and in IPTC-IIM (JPEG APP13 / TIFF / PSD), and hostile input.

IIM blocks are built here byte by byte and checked with exiftool as an independent reader;
files written by exiftool itself are read back by our parser.
"""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.detect.iptc import DETECTOR
from synthlabel.formats import registry
from synthlabel.formats._iim import find_iim, parse_8bim, parse_iim
from synthlabel.formats._xmp import DST_TRAINED, new_packet
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.model.findings import Finding, Strength, Verdict
from synthlabel.model.policy import load_policy
from tests.fixtures import images

NS = "http://cv.iptc.org/newscodes/digitalsourcetype/"
EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed")


# -- builders -------------------------------------------------------------------------------


def dataset(record: int, number: int, value: bytes, *, extended: bool = False) -> bytes:
    if extended or len(value) > 0x7FFF:
        return bytes([0x1C, record, number]) + b"\x80\x04" + struct.pack(">I", len(value)) + value
    return bytes([0x1C, record, number]) + struct.pack(">H", len(value)) + value


def iim(*items: tuple[int, bytes], utf8: bool = True) -> bytes:
    head = dataset(1, 90, b"\x1b%G") if utf8 else b""
    return head + dataset(2, 0, b"\x00\x04") + b"".join(dataset(2, n, v) for n, v in items)


def resource(rid: int, payload: bytes, name: bytes = b"") -> bytes:
    pascal = bytes([len(name)]) + name
    if len(pascal) % 2:
        pascal += b"\0"
    pad = b"\0" if len(payload) % 2 else b""
    return (
        b"8BIM" + struct.pack(">H", rid) + pascal + struct.pack(">I", len(payload)) + payload + pad
    )


def jpeg_with_app13(resources: bytes, *, split: int | None = None) -> bytes:
    jpeg = images.jpeg()
    chunks = (
        [resources]
        if split is None
        else [resources[i : i + split] for i in range(0, len(resources), split)]
    )
    segs = b""
    for c in chunks:
        body = b"Photoshop 3.0\x00" + c
        segs += b"\xff\xed" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segs + jpeg[2:]


def tiff_with_iptc(stream: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 200)).save(buf, "TIFF", tiffinfo={33723: stream})
    return buf.getvalue()


def psd_with_resources(resources: bytes) -> bytes:
    header = b"8BPS" + struct.pack(">H", 1) + b"\0" * 6 + struct.pack(">HIIHH", 3, 4, 4, 8, 3)
    return header + struct.pack(">I", 0) + struct.pack(">I", len(resources)) + resources


def detect(data: bytes) -> list[Finding]:
    report = inspect_bytes(data, c2pa=False)
    handler = registry.get(report.format) if report.format else None
    return DETECTOR.detect(Asset("<bytes>", handler, report, data), DetectOptions())


def exiftool_iptc(path: Path) -> str:
    assert EXIFTOOL is not None
    res = subprocess.run(
        [EXIFTOOL, "-IPTC:all", "-s", "-charset", "iptc=UTF8", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return res.stdout


# -- XMP ------------------------------------------------------------------------------------


def test_xmp_dst_location_says_xmp() -> None:
    buf = io.BytesIO()
    with Image.open(io.BytesIO(images.jpeg())) as im:
        im.save(buf, "JPEG", xmp=new_packet('{"Label":"1"}', DST_TRAINED))
    found = detect(buf.getvalue())
    trained = [f for f in found if f.code == "iptc.dst.trained"]
    assert len(trained) == 1
    assert trained[0].location == "XMP Iptc4xmpExt:DigitalSourceType"
    assert trained[0].strength is Strength.STRONG and trained[0].details["carrier"] == "xmp"


def _png_with_xmp(packet: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    png = buf.getvalue()
    payload = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet
    crc = struct.pack(">I", zlib.crc32(b"iTXt" + payload))
    return png[:33] + struct.pack(">I", len(payload)) + b"iTXt" + payload + crc + png[33:]


def _huge_packet(entries: int) -> bytes:
    body = "".join(f"<rdf:li>{NS}trainedAlgorithmicMedia {i}</rdf:li>" for i in range(entries))
    return new_packet('{"Label":"1"}', DST_TRAINED).replace(
        b"</rdf:RDF>", f"<!-- {body} --></rdf:RDF>".encode()
    )


def test_huge_xmp_is_bounded() -> None:
    data = _png_with_xmp(_huge_packet(40_000))  # 3.7 MB, under the XMP packet limit
    assert len(data) > 3_000_000
    t0 = time.monotonic()
    found = detect(data)
    assert time.monotonic() - t0 < 10
    assert [f.code for f in found] == ["iptc.dst.trained"]


def test_xmp_over_the_packet_limit_is_a_clear_error() -> None:
    report = inspect_bytes(_png_with_xmp(_huge_packet(80_000)), c2pa=False)
    assert any("not read" in w for w in report.warnings), report.warnings


# -- IIM ------------------------------------------------------------------------------------


@needs_exiftool
def test_jpeg_app13_keyword_uri(tmp_path: Path) -> None:
    stream = iim((25, b"portrait"), (25, (NS + "trainedAlgorithmicMedia").encode()))
    data = jpeg_with_app13(resource(0x0404, stream))
    path = tmp_path / "k.jpg"
    path.write_bytes(data)
    assert "trainedAlgorithmicMedia" in exiftool_iptc(path)  # independent reader agrees
    f = [x for x in detect(data) if x.details.get("carrier") == "iim"]
    assert len(f) == 1
    assert (f[0].code, f[0].strength) == ("iptc.dst.trained", Strength.STRONG)
    assert f[0].location == "IPTC-IIM 2:25 Keywords (JPEG APP13 Photoshop 8BIM 0x0404)"
    assert f[0].details["dataset"] == "2:25"


def test_caption_uri_composite_and_split_app13() -> None:
    caption = f"Sunset. Digital source type: {NS}compositeWithTrainedAlgorithmicMedia"
    stream = iim((120, caption.encode()))
    res = resource(0x03ED, b"\0" * 16) + resource(0x0404, stream, b"IPTC")
    data = jpeg_with_app13(res, split=20)  # Photoshop resources spread over APP13 segments
    f = [x for x in detect(data) if x.details.get("carrier") == "iim"]
    assert [(x.code, x.details["dataset_name"]) for x in f] == [
        ("iptc.dst.composite", "Caption-Abstract")
    ]


def test_bare_term_is_one_step_weaker_and_algorithmic_is_weak() -> None:
    stream = iim((25, b"TrainedAlgorithmicMedia"), (40, b"algorithmicMedia"))
    f = {x.code: x for x in detect(jpeg_with_app13(resource(0x0404, stream)))}
    assert f["iptc.dst.trained"].strength is Strength.MODERATE
    assert f["iptc.dst.trained"].details["uri"] is False
    assert f["iptc.dst.algorithmic"].strength is Strength.WEAK
    assert "2:40 SpecialInstructions" in f["iptc.dst.algorithmic"].location


def test_words_that_only_contain_a_term_do_not_count() -> None:
    stream = iim((120, b"not trainedAlgorithmicMedia at all"), (25, b"algorithmic"))
    assert detect(jpeg_with_app13(resource(0x0404, stream))) == []


def test_other_record_and_dataset_ignored() -> None:
    uri = (NS + "trainedAlgorithmicMedia").encode()
    stream = dataset(1, 90, b"\x1b%G") + dataset(2, 116, uri) + dataset(3, 25, uri)
    assert detect(jpeg_with_app13(resource(0x0404, stream))) == []


@needs_exiftool
def test_tiff_iptc_naa_tag(tmp_path: Path) -> None:
    stream = iim((115, (NS + "trainedAlgorithmicMedia").encode()))
    data = tiff_with_iptc(stream)
    path = tmp_path / "t.tif"
    path.write_bytes(data)
    assert "trainedAlgorithmicMedia" in exiftool_iptc(path)
    f = [x for x in detect(data) if x.details.get("carrier") == "iim"]
    assert [x.location for x in f] == ["IPTC-IIM 2:115 Source (TIFF tag 33723 (IPTC-NAA))"]


@needs_exiftool
@pytest.mark.parametrize("suffix", ["jpg", "tif"])
def test_reads_what_exiftool_writes(tmp_path: Path, suffix: str) -> None:
    src = tmp_path / f"in.{suffix}"
    if suffix == "jpg":
        src.write_bytes(images.jpeg())
    else:
        Image.new("RGB", (16, 16)).save(src, "TIFF")
    out = tmp_path / f"out.{suffix}"
    uri = NS + "trainedAlgorithmicMedia"
    assert EXIFTOOL is not None
    subprocess.run(
        [EXIFTOOL, "-q", f"-IPTC:Keywords={uri}", "-IPTC:Keywords=cat", "-o", str(out), str(src)],
        check=True,
    )
    data = out.read_bytes()
    blocks = find_iim(data)
    assert blocks and any(d.tag == "2:25" for b in blocks for d in b.datasets)
    # exiftool truncates Keywords to IIM's 64 bytes: ".../trainedAlgorithmi" still counts
    assert next(d.value for b in blocks for d in b.datasets if d.tag == "2:25").endswith(
        b"/trainedAlgorithmi"
    )
    f = [x for x in detect(data) if x.details.get("carrier") == "iim"]
    assert [x.code for x in f] == ["iptc.dst.trained"]


def test_truncated_uri_only_at_the_end_and_unambiguous() -> None:
    cut = (NS + "composite").encode()  # compositeSynthetic or compositeWith...: ambiguous
    mid = (NS + "trainedAlgorithmi more words").encode()
    stream = iim((25, cut), (120, mid))
    assert detect(jpeg_with_app13(resource(0x0404, stream))) == []


def test_psd_resources() -> None:
    stream = iim((25, (NS + "trainedAlgorithmicMedia").encode()))
    blocks = find_iim(psd_with_resources(resource(0x0404, stream)))
    assert [b.location for b in blocks] == ["PSD image resources 8BIM 0x0404"]
    assert blocks[0].text(blocks[0].datasets[-1]).endswith("trainedAlgorithmicMedia")


def test_extended_length_and_charset() -> None:
    long_caption = ("天空 " * 20).encode() + (NS + "trainedAlgorithmicMedia").encode()
    stream = dataset(1, 90, b"\x1b%G") + dataset(2, 120, long_caption, extended=True)
    datasets, warnings = parse_iim(stream)
    assert warnings == [] and datasets[-1].value == long_caption
    blocks = find_iim(jpeg_with_app13(resource(0x0404, stream)))
    assert blocks[0].utf8 and blocks[0].text(blocks[0].datasets[-1]).startswith("天空")
    latin = parse_iim(dataset(2, 80, "Jos\xe9".encode("latin-1")))[0]
    assert latin[0].value == b"Jos\xe9"


def test_policy_for_iptc_codes() -> None:
    pol = load_policy(None)
    for code, verdict in [
        ("iptc.dst.trained", Verdict.POSSIBLE),
        ("iptc.dst.composite", Verdict.POSSIBLE),
        ("iptc.dst.algorithmic", Verdict.SUSPECTED),
    ]:
        assert pol.decide([Finding("iptc", code, "x", Strength.MODERATE)]).verdict is verdict


# -- hostile input --------------------------------------------------------------------------


def test_malformed_iim_and_8bim_give_warnings_not_errors() -> None:
    uri = (NS + "trainedAlgorithmicMedia").encode()
    cases = {
        "truncated_header": b"\x1c\x02",
        "runs_past_end": b"\x1c\x02\x19\xff\x00" + uri,
        "bad_extended": b"\x1c\x02\x19\x80\x09" + uri,
        "huge_extended": b"\x1c\x02\x19\x80\x04\xff\xff\xff\xff" + uri,
        "garbage_after": dataset(2, 25, uri) + b"\x55" * 10,
    }
    for name, stream in cases.items():
        datasets, warnings = parse_iim(stream)
        assert warnings, name
        assert all(len(d.value) <= len(stream) for d in datasets)
    items, warnings = parse_8bim(b"8BIM\x04\x04\x00\x00\xff\xff\xff\xff" + uri)
    assert warnings and items[0][1] == uri
    assert parse_8bim(b"XXXX" + b"\0" * 20)[1]
    many = b"".join(dataset(2, 25, b"k") for _ in range(30_000))
    datasets, warnings = parse_iim(many)
    assert len(datasets) == 20_000 and warnings


def test_fuzzed_app13_never_raises_and_is_bounded() -> None:
    stream = iim((25, (NS + "trainedAlgorithmicMedia").encode()), (120, b"caption " * 50))
    base = jpeg_with_app13(resource(0x0404, stream))
    start = base.find(b"Photoshop 3.0")
    rng = random.Random(7)
    t0 = time.monotonic()
    for _ in range(300):
        b = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(start - 4, start + 60 + len(stream))] = rng.randrange(256)
        if rng.random() < 0.3:
            b = b[: rng.randrange(start, len(b))]
        blocks = find_iim(bytes(b))
        for block in blocks:
            for d in block.datasets:
                block.text(d)
    # a JPEG made only of empty APP13 segments
    segs = (b"\xff\xed\x00\x10" + b"Photoshop 3.0\x00") * 50_000
    assert find_iim(b"\xff\xd8" + segs + b"\xff\xd9") == []
    assert time.monotonic() - t0 < 10


def test_malformed_tiff_and_psd() -> None:
    assert find_iim(b"II*\x00\xff\xff\xff\x7f") == []
    entry = struct.pack("<HHII", 33723, 7, 0x7FFFFFFF, 8)
    bad_tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry
    assert find_iim(bad_tiff) == []
    assert find_iim(b"8BPS" + b"\0" * 22 + b"\xff\xff\xff\xff") == []
