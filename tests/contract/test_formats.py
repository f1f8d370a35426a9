"""The conformance suite every registered container runs.

A new format plug-in adds generated samples to a fixture family module (see
``tests/fixtures/__init__.py``) and passes this file unchanged.
"""

from __future__ import annotations

import contextlib
import random

import pytest

from synthlabel.errors import SynthlabelError
from synthlabel.formats import _xmp, registry
from synthlabel.formats.base import FormatHandler, LabelWrite, XmpContainer
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import Sample, all_samples

RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
ALL = all_samples()
SAMPLES = [pytest.param(s, id=s.name) for s in ALL]


def handler_for(sample: Sample) -> FormatHandler:
    try:
        return registry.get(sample.format_id)
    except SynthlabelError:
        pytest.skip(f"format {sample.format_id} not registered")


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


@pytest.mark.parametrize("sample", SAMPLES)
def test_sniff_by_magic_not_extension(sample: Sample) -> None:
    h = handler_for(sample)
    data = sample.make()
    assert registry.sniff(data[: registry.max_sniff_bytes()], name=f"x.{sample.ext}").id == h.id
    for other in ALL:
        if other.format_id != sample.format_id and int(getattr(h, "sniff_priority", 0)) >= 0:
            assert not h.sniff(other.make()[: h.sniff_bytes]), other.name


@pytest.mark.parametrize("sample", SAMPLES)
def test_write_read_round_trip_is_lossless(sample: Sample) -> None:
    h = handler_for(sample)
    data = sample.make()
    assert aigc_values(h, data) == []
    out = labelled(h, data)
    values = aigc_values(h, out)
    assert len(values) == 1
    assert parse_record(values[0]).record == RECORD
    # Never re-encoded: the content is identical, the content digest unchanged.
    assert sample.fingerprint(out) == sample.fingerprint(data)
    assert h.content_digest(out) == h.content_digest(data)
    assert h.sniff(out[: h.sniff_bytes])


@pytest.mark.parametrize("sample", SAMPLES)
def test_rewrite_replaces_not_duplicates(sample: Sample) -> None:
    h = handler_for(sample)
    once = labelled(h, sample.make())
    second = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
    twice = labelled(h, once, second)
    values = aigc_values(h, twice)
    assert [parse_record(v).record for v in values] == [second]
    assert len(h.read(twice).xmp) <= 1
    assert labelled(h, twice, second) == twice  # idempotent


@pytest.mark.parametrize("sample", SAMPLES)
def test_content_digest_changes_with_content(sample: Sample) -> None:
    """Same container, different content: another digest."""
    h = handler_for(sample)
    a = sample.make()
    b = sample.other_content(a)
    if b is not None and h.sniff(b[: h.sniff_bytes]):
        assert h.content_digest(a).digest != h.content_digest(b).digest
    d = h.content_digest(a)
    assert d.selector.startswith("synthlabel.") and d.algorithm == "sha256" and len(d.digest) == 32


@pytest.mark.exiftool
@pytest.mark.parametrize("sample", SAMPLES)
def test_independent_reader_sees_what_we_wrote(tmp_path, sample: Sample) -> None:
    h = handler_for(sample)
    path = tmp_path / f"sample.{sample.ext}"
    path.write_bytes(labelled(h, sample.make()))
    values = sample.independent_aigc(path)
    if values is None:
        pytest.skip("no independent reader for this container")
    assert values, f"independent reader found no AIGC record in {sample.name}"
    assert parse_record(values[0]).record == RECORD


def _mutations(data: bytes, n: int = 40) -> list[bytes]:
    rnd = random.Random(len(data))
    out = [b"", data[:1], data[:8], data[: len(data) // 2], data[:-1], data + b"\x00" * 7]
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("sample", SAMPLES)
def test_bad_input_raises_only_typed_errors(sample: Sample) -> None:
    h = handler_for(sample)
    data = labelled(h, sample.make())
    label = LabelWrite(RECORD.to_json())
    for bad in _mutations(data):
        for op in (h.read, h.content_digest, lambda d: h.write_label(d, label)):
            with contextlib.suppress(SynthlabelError):
                op(bad)
