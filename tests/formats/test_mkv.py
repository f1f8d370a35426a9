"""Matroska / WebM: the AIGC SimpleTag, placement without moving Clusters, streaming."""

from __future__ import annotations

import contextlib
import io
import struct
import subprocess
import zlib
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.formats import _media_io, mkv
from synthlabel.formats.base import LabelWrite
from synthlabel.formats.mkv import HANDLER, El, MkvHandler, element, uint_element, void
from synthlabel.model.aigc import AIGCRecord
from tests.fixtures import video

pytestmark = pytest.mark.skipif(not video.available(), reason="ffmpeg/ffprobe not installed")

RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
LONGER = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="4242")
LABEL = LabelWrite(RECORD.to_json())
H = cast(MkvHandler, HANDLER)
BUDGET = mkv.Counter(1_000_000, "elements")


def label(data: bytes, record: AIGCRecord = RECORD) -> bytes:
    return H.write_label(data, LabelWrite(record.to_json()))


def values(data: bytes) -> list[str]:
    return [c.data.decode() for c in H.read(data).of_kind("aigc")]


def ffmpeg(*args: str, stdout: Path | None = None) -> None:
    assert video.FFMPEG
    res = subprocess.run(
        [video.FFMPEG, "-v", "error", "-y", *args], check=True, capture_output=True
    )
    if stdout is not None:
        stdout.write_bytes(res.stdout)


def written(tmp_path: Path, data: bytes, name: str = "out.mkv") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def segment(data: bytes) -> tuple[El, list[El]]:
    """The Segment (size resolved) and its children, parsed with the module's primitives."""
    f = mkv._parse(_media_io.BytesSource(data))
    return f.seg, f.children


def level1(data: bytes) -> dict[int, list[El]]:
    out: dict[int, list[El]] = {}
    for el in segment(data)[1]:
        out.setdefault(el.id, []).append(el)
    return out


def check_structure(data: bytes) -> None:
    """SeekHead entries point at elements of the named ID; CRC-32 elements are right."""
    seg, kids = segment(data)
    starts = {el.start - seg.data_start: el.id for el in kids}
    for el in kids:
        if el.id not in (mkv.SEEKHEAD, mkv.TAGS, mkv.INFO, mkv.TRACKS, mkv.CUES):
            continue
        sub = mkv._kids(data, el, BUDGET)
        if sub and sub[0].id == mkv.CRC32:
            body = data[sub[0].end : el.end]
            assert data[sub[0].data_start : sub[0].end] == struct.pack("<I", zlib.crc32(body))
        if el.id == mkv.SEEKHEAD:
            for seek in (k for k in sub if k.id == mkv.SEEK):
                parts = {k.id: k for k in mkv._kids(data, seek, BUDGET)}
                target = int.from_bytes(mkv._data(data, parts[mkv.SEEKID]), "big")
                pos = mkv._uint(data, parts[mkv.SEEKPOSITION])
                assert starts.get(pos) == target, (hex(target), pos)


def fixed(el_list: list[El], data: bytes) -> list[tuple[int, bytes]]:
    return [(el.start, data[el.start : el.end]) for el in el_list]


SAMPLES = ["mkv", "mkv-flac", "webm", "webm-vp8", "mka"]


@pytest.mark.parametrize("variant", SAMPLES)
def test_clusters_and_cues_never_move(tmp_path: Path, variant: str) -> None:
    data = video.make(variant)
    out = label(data)
    before, after = level1(data), level1(out)
    for eid in (mkv.CLUSTER, mkv.CUES, mkv.INFO, mkv.TRACKS):
        assert fixed(after.get(eid, []), out) == fixed(before.get(eid, []), data)
    check_structure(out)
    assert values(out) == [RECORD.to_json()]
    p = written(tmp_path, out, "out." + video.EXTENSIONS[variant])
    assert video.decode_errors(p) == ""
    assert video.probe_tags(p)["AIGC"] == RECORD.to_json()
    twice = label(out, LONGER)
    check_structure(twice)
    assert values(twice) == [LONGER.to_json()] and label(twice, LONGER) == twice


def test_simple_tag_matches_what_ffmpeg_writes(tmp_path: Path) -> None:
    src = written(tmp_path, video.make("mkv"), "in.mkv")
    ref = tmp_path / "ref.mkv"
    ffmpeg("-i", str(src), "-c", "copy", "-metadata", f"AIGC={RECORD.to_json()}", str(ref))
    theirs = ref.read_bytes()
    assert mkv.simple_tag(RECORD.to_json().encode()) in theirs
    assert values(theirs) == [RECORD.to_json()]
    # ffmpeg put it in the global Tag: we replace it there, in place
    out = label(theirs, LONGER)
    [tags] = level1(out)[mkv.TAGS]
    first_tag = mkv._kids(out, tags, BUDGET)[1]  # after the CRC-32
    assert first_tag.id == mkv.TAG
    body = out[first_tag.start : first_tag.end]
    assert mkv.simple_tag(LONGER.to_json().encode()) in body and b"ENCODER" in body
    tags = video.probe_tags(written(tmp_path, out))
    assert tags["AIGC"] == LONGER.to_json() and tags["ENCODER"]
    check_structure(out)


def test_existing_tags_are_kept(tmp_path: Path) -> None:
    out = label(video.make("mkv-flac"))
    tags = video.probe_tags(written(tmp_path, out))
    assert tags["title"] == "existing" and tags["AIGC"] == RECORD.to_json()


def test_reserved_void_takes_the_tags_and_the_file_keeps_its_size(tmp_path: Path) -> None:
    src = written(tmp_path, video.make("mkv"), "in.mkv")
    ref = tmp_path / "ref.mkv"
    ffmpeg("-i", str(src), "-c", "copy", "-reserve_index_space", "2000", str(ref))
    data = ref.read_bytes()
    out = label(data)
    assert len(out) == len(data)
    check_structure(out)
    tags = level1(out)[mkv.TAGS]
    assert len(tags) == 1 and tags[0].start < level1(out)[mkv.CLUSTER][0].start
    assert video.probe_tags(written(tmp_path, out))["AIGC"] == RECORD.to_json()


def _live(tmp_path: Path) -> Path:
    """ffmpeg writing to a pipe: an unknown-size Segment, no Cues."""
    live = tmp_path / "live.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=duration=1:size=64x48:rate=10", "-f", "lavfi", "-i",
        "sine=duration=1:sample_rate=8000", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-c:a", "flac", "-f", "matroska", "-", stdout=live,
    )  # fmt: skip
    return live


def test_unknown_size_segment_stays_unknown(tmp_path: Path) -> None:
    live = _live(tmp_path)
    data = live.read_bytes()
    assert segment(data)[0].unknown
    out = label(data)
    assert segment(out)[0].unknown
    check_structure(out)
    p = written(tmp_path, out)
    assert video.probe_tags(p)["AIGC"] == RECORD.to_json()
    assert video.packets(p) == video.packets(live)


def test_unknown_size_clusters(tmp_path: Path) -> None:
    """Live-style Clusters without sizes end at the next top-level element."""
    live = _live(tmp_path)
    data = bytearray(live.read_bytes())
    clusters = level1(bytes(data))[mkv.CLUSTER]
    for cluster in clusters:
        w = cluster.size_width
        unknown = bytes([(1 << (8 - w)) | ((1 << (8 - w)) - 1)]) + b"\xff" * (w - 1)
        data[cluster.start + 4 : cluster.start + 4 + w] = unknown
    blob = bytes(data)
    parsed = level1(blob)[mkv.CLUSTER]
    assert all(c.unknown for c in parsed)
    assert [(c.start, c.end) for c in parsed] == [(c.start, c.end) for c in clusters]
    out = label(blob)
    assert H.content_digest(out) == H.content_digest(blob) == H.content_digest(live.read_bytes())
    p = written(tmp_path, out)
    assert video.packets(p) == video.packets(live)
    assert video.probe_tags(p)["AIGC"] == RECORD.to_json()


def test_segment_size_field_is_widened(tmp_path: Path) -> None:
    """A 2-byte Segment size that no longer fits grows to 3 bytes; positions stay valid."""
    data = video.make("mkv")
    seg, _ = segment(data)
    body = data[seg.data_start : seg.end] + void(300) * 19  # Voids too small for the Tags
    assert len(body) < 16383 < len(body) + 500
    narrow = data[: seg.start] + element(mkv.SEGMENT, body, 2)
    assert segment(narrow)[0].size_width == 2
    out = label(narrow)
    assert segment(out)[0].size_width == 3
    check_structure(out)
    p = written(tmp_path, out)
    assert video.probe_tags(p)["AIGC"] == RECORD.to_json()
    assert video.packets(p) == video.packets(written(tmp_path, data, "in.mkv"))


def _replace_region(data: bytes, start: int, end: int, new: bytes) -> bytes:
    assert len(new) == end - start
    return data[:start] + new + data[end:]


def test_no_seekhead_is_refused_when_tags_must_move() -> None:
    data = video.make("mkv")
    head = level1(data)[mkv.SEEKHEAD][0]
    blob = _replace_region(data, head.start, head.end, void(head.total))
    with pytest.raises(UnsupportedFormat, match="SeekHead"):
        label(blob)


def test_seekhead_without_room_is_refused() -> None:
    data = video.make("mkv")
    kids = segment(data)[1]
    head = kids[0]
    assert head.id == mkv.SEEKHEAD and kids[1].id == mkv.VOID
    region = kids[1].end - head.start
    seeks = [
        k
        for k in mkv._kids(data, head, BUDGET)
        if k.id == mkv.SEEK and mkv.id_bytes(mkv.TAGS) not in data[k.start : k.end]
    ]
    entries = b"".join(data[k.start : k.end] for k in seeks)
    # pad with a Void *inside* a Seek entry: not free space for the SeekHead
    first = mkv._data(data, seeks[0])
    pad = region - 12 - len(entries)  # SeekHead: 4-byte ID, 8-byte size
    padded = element(mkv.SEEK, first + void(pad - 3 - len(first)))
    new_head = element(mkv.SEEKHEAD, entries + padded, 8)
    assert len(new_head) == region
    blob = _replace_region(data, head.start, kids[1].end, new_head)
    with pytest.raises(UnsupportedFormat, match="no room"):
        label(blob)


def test_track_targeted_record_is_moved_to_the_segment(tmp_path: Path) -> None:
    src = written(tmp_path, video.make("mkv"), "in.mkv")
    ref = tmp_path / "ref.mkv"
    ffmpeg("-i", str(src), "-c", "copy", "-metadata:s:v:0", "AIGC=stale", str(ref))
    data = ref.read_bytes()
    meta = H.read(data)
    assert [c.data for c in meta.of_kind("aigc")] == [b"stale"]
    assert any("targets a track" in w for w in meta.warnings)
    out = label(data)
    assert values(out) == [RECORD.to_json()]
    assert b"stale" not in out
    check_structure(out)


def test_crc_is_recomputed() -> None:
    data = video.make("mkv")
    out = label(data)
    tags = level1(out)[mkv.TAGS][0]
    sub = mkv._kids(out, tags, BUDGET)
    assert sub[0].id == mkv.CRC32
    check_structure(out)


# --- robustness ----------------------------------------------------------------------------------


def _mkv_with_tags(tags_payload: bytes) -> bytes:
    header = element(mkv.EBML, element(mkv.DOCTYPE, b"matroska"))
    return header + element(mkv.SEGMENT, element(mkv.TAGS, tags_payload))


def test_deeply_nested_simple_tags_hit_the_limit() -> None:
    inner = element(mkv.TAGNAME, b"x")
    for _ in range(40):
        inner = element(mkv.SIMPLETAG, element(mkv.TAGNAME, b"x") + inner)
    data = _mkv_with_tags(element(mkv.TAG, inner))
    with pytest.raises(LimitExceeded):
        H.read(data)
    with pytest.raises(LimitExceeded):
        H.write_label(data, LABEL)


_HEADER = element(mkv.EBML, element(mkv.DOCTYPE, b"matroska"))


@pytest.mark.parametrize(
    ("bad", "digest_too"),
    [
        (b"", True),
        (b"\x1a\x45\xdf\xa3", True),
        (_HEADER, True),  # no Segment
        (_HEADER + b"\x18\x53\x80\x67\x88" + bytes(3), True),  # Segment past the end
        (_HEADER + element(mkv.SEGMENT, b"\x12\x54\xc3\x67\xff" + bytes(4)), True),
        (_HEADER + b"\x00" * 9, True),
        (_HEADER + element(mkv.SEGMENT, b"\x1f\x43\xb6\x75\x85\xa3\x88"), True),
        (_mkv_with_tags(b"\x00\x81\x00"), False),  # invalid ID inside Tags
        (_mkv_with_tags(element(mkv.TAG, b"\x67\xc8\x01\xff\xff\xff\xff\xff\xff\xff")), False),
    ],
)
def test_hostile_ebml_raises_typed_errors(bad: bytes, digest_too: bool) -> None:
    """Broken structure: every operation fails; broken Tags: the digest does not read them."""
    ops = [H.read, lambda d: H.write_label(d, LABEL)]
    if digest_too:
        ops.append(H.content_digest)
    for op in ops:
        with pytest.raises((MalformedInput, LimitExceeded)):
            op(bad)


def test_other_doctypes_are_not_matroska() -> None:
    other = element(mkv.EBML, element(mkv.DOCTYPE, b"dvb-something")) + element(mkv.SEGMENT, b"")
    assert not H.sniff(other[:64])
    with pytest.raises(UnsupportedFormat):
        H.read(other)
    assert H.sniff(video.make("webm")[:64]) and H.sniff(video.make("mka")[:64])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_raise_only_typed_errors(data: st.DataObject) -> None:
    variant = data.draw(st.sampled_from(SAMPLES))
    base = bytearray(label(video.make(variant)))
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, min(len(base), 4000) - 1))
        base[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        base = base[: data.draw(st.integers(0, len(base)))]
    blob = bytes(base)
    for op in (H.read, H.content_digest, lambda d: H.write_label(d, LABEL)):
        with contextlib.suppress(SynthlabelError):
            op(blob)


# --- streaming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", SAMPLES)
def test_streaming_methods_equal_bytes_methods(tmp_path: Path, variant: str) -> None:
    data = video.make(variant)
    src = written(tmp_path, data, "in." + video.EXTENSIONS[variant])
    buf = io.BytesIO()
    H.write_label_stream(src, buf, LABEL)
    assert buf.getvalue() == H.write_label(data, LABEL)
    out = written(tmp_path, buf.getvalue(), "out." + video.EXTENSIONS[variant])
    assert H.read_path(out) == H.read(buf.getvalue())
    assert H.content_digest_path(src) == H.content_digest(data)


def test_uint_element_is_minimal() -> None:
    assert uint_element(mkv.TARGETTYPEVALUE, 50) == b"\x68\xca\x81\x32"
    assert uint_element(mkv.SEEKPOSITION, 0) == b"\x53\xac\x81\x00"
