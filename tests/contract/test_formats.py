"""The conformance suite every registered image container runs.

A new format plug-in adds samples to ``tests/fixtures/images.py`` and passes this file
unchanged.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import subprocess

import pytest
from PIL import Image

from synthlabel.errors import SynthlabelError
from synthlabel.formats import _xmp, registry
from synthlabel.formats.base import FormatHandler, LabelWrite, XmpContainer
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import images as fx

RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
SAMPLES = [pytest.param(fid, name, fn, id=name) for fid, name, fn in fx.all_samples()]


def handler_for(fid: str) -> FormatHandler:
    try:
        return registry.get(fid)
    except SynthlabelError:
        pytest.skip(f"format {fid} not registered")


def labelled(h: FormatHandler, data: bytes, record: AIGCRecord = RECORD) -> bytes:
    return h.write_label(data, LabelWrite(record.to_json()))


def aigc_values(h: FormatHandler, data: bytes) -> list[str]:
    meta = h.read(data)
    out: list[str] = []
    for c in meta.carriers:
        if c.kind == "xmp":
            out.extend(_xmp.read_fields(c.data).aigc)
        elif c.kind == "aigc":
            out.append(c.data.decode("latin-1"))
    return out


def test_every_handler_implements_the_protocol() -> None:
    for h in registry.handlers():
        assert isinstance(h, FormatHandler), h
        if h.media_kind.value == "image":
            assert isinstance(h, XmpContainer), h


def test_registry_has_all_image_formats() -> None:
    ids = {h.id for h in registry.handlers()}
    missing = {"jpeg", "png", "gif", "webp", "tiff", "heif"} - ids
    assert not missing, f"not registered: {missing}; load errors: {registry.load_errors()}"


@pytest.mark.parametrize(("fid", "name", "make"), SAMPLES)
def test_sniff_by_magic_not_extension(fid, name, make) -> None:
    h = handler_for(fid)
    data = make()
    assert registry.sniff(data[: registry.max_sniff_bytes()]).id == fid
    for other_fid, _, other_make in fx.all_samples():
        if other_fid != fid:
            assert not h.sniff(other_make()[: h.sniff_bytes])


@pytest.mark.parametrize(("fid", "name", "make"), SAMPLES)
def test_write_read_round_trip_is_lossless(fid, name, make) -> None:
    h = handler_for(fid)
    data = make()
    assert aigc_values(h, data) == []
    out = labelled(h, data)
    values = aigc_values(h, out)
    assert len(values) == 1
    assert parse_record(values[0]).record == RECORD
    # Never re-encoded: decoded pixels of every frame identical, content digest unchanged.
    assert fx.decoded_frames(out) == fx.decoded_frames(data)
    assert h.content_digest(out) == h.content_digest(data)
    assert h.sniff(out[: h.sniff_bytes])


@pytest.mark.parametrize(("fid", "name", "make"), SAMPLES)
def test_rewrite_replaces_not_duplicates(fid, name, make) -> None:
    h = handler_for(fid)
    once = labelled(h, make())
    second = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
    twice = labelled(h, once, second)
    values = aigc_values(h, twice)
    assert [parse_record(v).record for v in values] == [second]
    assert len(h.read(twice).xmp) == 1
    assert labelled(h, twice, second) == twice  # idempotent


@pytest.mark.parametrize(("fid", "name", "make"), SAMPLES)
def test_content_digest_changes_with_pixels(fid, name, make) -> None:
    """Same container, different picture (another seed, saved by Pillow): another digest."""
    h = handler_for(fid)
    a = make()
    with Image.open(io.BytesIO(a)) as im:
        fmt = im.format
    buf = io.BytesIO()
    fx.picture(seed=99).save(buf, fmt)
    b = buf.getvalue()
    if h.sniff(b[: h.sniff_bytes]):  # Pillow may have picked another container for fmt
        assert h.content_digest(a).digest != h.content_digest(b).digest
    d = h.content_digest(a)
    assert d.selector.startswith("synthlabel.") and d.algorithm == "sha256" and len(d.digest) == 32


@pytest.mark.exiftool
@pytest.mark.parametrize(("fid", "name", "make"), SAMPLES)
def test_exiftool_reads_what_we_wrote(tmp_path, fid, name, make) -> None:
    h = handler_for(fid)
    out = labelled(h, make())
    path = tmp_path / f"sample.{fx.EXTENSIONS[name]}"
    path.write_bytes(out)
    res = subprocess.run(
        ["exiftool", "-j", "-G1", "-struct", "-XMP:all", "-Warning", "-Error", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(res.stdout)[0]
    # exiftool without a TC260 table names the property from its local name: "Aigc".
    aigc = [v for k, v in info.items() if k.lower().endswith(":aigc")]
    dst = [v for k, v in info.items() if k.endswith(":DigitalSourceType")]
    assert aigc, info
    assert parse_record(aigc[0]).record == RECORD
    assert dst == [_xmp.DST_TRAINED]
    assert "Error" not in info, info


def _mutations(data: bytes, n: int = 40) -> list[bytes]:
    rnd = random.Random(len(data))
    out = [b"", data[:1], data[:8], data[: len(data) // 2], data[:-1], data + b"\x00" * 7]
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        out.append(bytes(b))
    return out


@pytest.mark.parametrize(("fid", "name", "make"), SAMPLES)
def test_bad_input_raises_only_typed_errors(fid, name, make) -> None:
    h = handler_for(fid)
    data = labelled(h, make())
    packet = _xmp.new_packet(RECORD.to_json())
    for bad in _mutations(data):
        for op in (h.read, h.content_digest, lambda d: h.write_xmp(d, packet)):
            with contextlib.suppress(SynthlabelError):
                op(bad)
