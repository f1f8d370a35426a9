"""MP4 / MOV / M4A: the ``mdta`` AIGC key, offsets after moov grows, fragments, streaming."""

from __future__ import annotations

import contextlib
import io
import struct
import subprocess
import tracemalloc
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.formats import _bmff as bm
from synthlabel.formats import _xmp, registry
from synthlabel.formats._media_io import BytesSource, New, Source
from synthlabel.formats.base import LabelWrite
from synthlabel.formats.mp4 import (
    C2PA_UUID,
    HANDLER,
    M4A_HANDLER,
    XMP_UUID,
    Mp4Handler,
    _parse,
    _rebuild,
    classify,
    new_meta,
)
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import video

pytestmark = pytest.mark.skipif(not video.available(), reason="ffmpeg/ffprobe not installed")

RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
LONGER = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="4242")
LABEL = LabelWrite(RECORD.to_json())
H = cast(Mp4Handler, HANDLER)


def label(data: bytes, record: AIGCRecord = RECORD) -> bytes:
    return H.write_label(data, LabelWrite(record.to_json()))


def values(data: bytes) -> list[str]:
    return [c.data.decode() for c in H.read(data).of_kind("aigc")]


def ffmpeg(*args: str) -> None:
    assert video.FFMPEG
    subprocess.run([video.FFMPEG, "-v", "error", "-y", *args], check=True, capture_output=True)


def top(data: bytes) -> list[bm.Box]:
    return list(bm.iter_boxes(data))


def types(data: bytes) -> list[bytes]:
    return [b.type for b in top(data)]


def box_path(data: bytes, *path: bytes) -> list[bm.Box]:
    """Every box at ``path`` (descending containers and both meta forms)."""

    def descend(p: tuple[bytes, ...], b: bm.Box) -> int | None:
        if b.type == b"meta":
            return bm.meta_skip(data, b)
        return 0 if b.type in bm.CONTAINERS else None

    return [b for p, b in bm.walk(data, descend=descend) if (*p, b.type) == path]


def stco(data: bytes) -> list[list[int]]:
    out = []
    for t in (b"stco", b"co64"):
        for b in box_path(data, b"moov", b"trak", b"mdia", b"minf", b"stbl", t):
            out.append(list(bm.chunk_offsets(data, b).offsets))
    return out


def written(tmp_path: Path, data: bytes, ext: str = "mp4") -> Path:
    p = tmp_path / f"out.{ext}"
    p.write_bytes(data)
    return p


def sample(variant: str) -> bytes:
    return video.make(variant)


# --- the carrier ---------------------------------------------------------------------------------


def test_meta_box_is_byte_identical_to_ffmpeg_use_metadata_tags(tmp_path: Path) -> None:
    src = written(tmp_path, sample("mp4"), "mp4")
    ref = tmp_path / "ref.mp4"
    ffmpeg(
        "-i", str(src), "-map_metadata", "-1", "-fflags", "+bitexact", "-c", "copy",
        "-metadata", f"AIGC={RECORD.to_json()}", "-movflags", "use_metadata_tags", str(ref),
    )  # fmt: skip
    theirs = ref.read_bytes()
    metas = [
        m for m in box_path(theirs, b"moov", b"udta", b"meta") if b"mdta" in m.raw(theirs)[:48]
    ]
    assert len(metas) == 1
    assert metas[0].raw(theirs) == new_meta(RECORD.to_json().encode())
    ours = label(sample("mp4"))
    assert new_meta(RECORD.to_json().encode()) in ours
    # and we read what ffmpeg wrote
    assert values(theirs) == [RECORD.to_json()]


def test_ffmpeg_written_key_is_replaced_and_other_keys_kept(tmp_path: Path) -> None:
    src = written(tmp_path, sample("mp4-udta"))
    ref = tmp_path / "ref.mp4"
    ffmpeg(
        "-i", str(src), "-c", "copy", "-metadata", "AIGC=old", "-metadata", "comment=keep me",
        "-movflags", "use_metadata_tags", str(ref),
    )  # fmt: skip
    before = ref.read_bytes()
    assert values(before) == ["old"]
    out = label(before)
    assert values(out) == [RECORD.to_json()]
    tags = video.probe_tags(written(tmp_path, out))
    assert tags["AIGC"] == RECORD.to_json()
    assert tags["comment"] == "keep me" and tags["title"] == "existing title"
    keys = box_path(out, b"moov", b"udta", b"meta", b"keys")
    assert len(keys) == 1
    assert bm.full_box(out, keys[0]) and out.count(b"mdtaAIGC") == 1
    assert label(out) == out


def _mdta_meta(keys: list[bytes], items: list[tuple[int, bytes]], *, full: bool = True) -> bytes:
    hdlr = bm.make_full_box(b"hdlr", 0, 0, bytes(4) + b"mdta" + bytes(13))
    k = bm.make_full_box(
        b"keys",
        0,
        0,
        struct.pack(">I", len(keys))
        + b"".join(struct.pack(">I", 8 + len(n)) + b"mdta" + n for n in keys),
    )
    il = bm.make_box(
        b"ilst",
        b"".join(
            bm.make_box(struct.pack(">I", i), bm.make_box(b"data", struct.pack(">II", 1, 0) + v))
            for i, v in items
        ),
    )
    body = hdlr + k + il
    return bm.make_full_box(b"meta", 0, 0, body) if full else bm.make_box(b"meta", body)


def _with_moov_children(data: bytes, extra: bytes, *, into_udta: bool = False) -> bytes:
    """``data`` (moov at the end) with ``extra`` appended to moov (or to its udta)."""
    boxes = top(data)
    moov = next(b for b in boxes if b.type == b"moov")
    assert moov.end == len(data)
    kids = bm.children(data, moov)
    parts = []
    for k in kids:
        if into_udta and k.type == b"udta":
            parts.append(bm.make_box(b"udta", k.payload(data) + extra))
        else:
            parts.append(k.raw(data))
    if not into_udta:
        parts.append(extra)
    return data[: moov.start] + bm.make_box(b"moov", b"".join(parts))


def test_duplicate_keys_are_removed_and_items_renumbered(tmp_path: Path) -> None:
    meta = _mdta_meta(
        [b"first", b"AIGC", b"second", b"aigc"],
        [(1, b"one"), (2, b"old record"), (3, b"two"), (4, b"stale")],
    )
    data = _with_moov_children(sample("mp4"), meta, into_udta=True)
    assert len(values(data)) == 2
    out = label(data)
    assert values(out) == [RECORD.to_json()]
    tags = video.probe_tags(written(tmp_path, out))
    assert tags["first"] == "one" and tags["second"] == "two" and tags["AIGC"] == RECORD.to_json()
    assert out.count(b"mdtaAIGC") == 1 and b"mdtaaigc" not in out
    assert label(out) == out


def test_quicktime_style_moov_meta_gets_the_key(tmp_path: Path) -> None:
    """Apple devices write moov/meta (no FullBox header): the key joins that table."""
    qt = _mdta_meta([b"com.apple.quicktime.make"], [(1, b"Apple")], full=False)
    data = _with_moov_children(sample("mov"), qt)
    out = label(data)
    metas = box_path(out, b"moov", b"meta")
    assert len(metas) == 1 and b"mdtaAIGC" in metas[0].raw(out)
    assert not any(b"mdtaAIGC" in m.raw(out) for m in box_path(out, b"moov", b"udta", b"meta"))
    tags = video.probe_tags(written(tmp_path, out, "mov"))
    assert tags["AIGC"] == RECORD.to_json()
    assert tags["com.apple.quicktime.make"] == "Apple"


def test_itunes_mdir_meta_is_kept_beside_the_mdta_meta(tmp_path: Path) -> None:
    data = sample("mp4-udta")  # ffmpeg's udta/meta (mdir): ©nam, ©too
    out = label(data)
    metas = box_path(out, b"moov", b"udta", b"meta")
    assert len(metas) == 2
    assert b"mdir" in metas[0].raw(out)[:40] and b"mdta" in metas[1].raw(out)[:40]
    assert metas[0].raw(out) == box_path(data, b"moov", b"udta", b"meta")[0].raw(data)
    tags = video.probe_tags(written(tmp_path, out))
    assert tags["title"] == "existing title" and tags["AIGC"] == RECORD.to_json()


def _mdir_item(fourcc: bytes, value: bytes, name: bytes | None = None) -> bytes:
    body = b""
    if name is not None:
        body += bm.make_full_box(b"mean", 0, 0, b"com.apple.iTunes")
        body += bm.make_full_box(b"name", 0, 0, name)
    body += bm.make_box(b"data", struct.pack(">II", 1, 0) + value)
    return bm.make_box(fourcc, body)


def test_wild_variants_are_read_and_removed_on_write() -> None:
    """mdir items holding a record (freeform ----/AIGC, a comment that is a record) and an
    XMP uuid box with TC260:AIGC: all read; the writer leaves one record (the mdta key)."""
    wrapped = '{"AIGC":' + LONGER.to_json() + "}"
    hdlr = bm.make_full_box(b"hdlr", 0, 0, bytes(4) + b"mdirappl" + bytes(9))
    ilst = bm.make_box(
        b"ilst",
        _mdir_item(b"\xa9nam", b"a title")
        + _mdir_item(b"----", LONGER.to_json().encode(), name=b"AIGC")
        + _mdir_item(b"\xa9cmt", wrapped.encode()),
    )
    mdir = bm.make_full_box(b"meta", 0, 0, hdlr + ilst)
    base = sample("mp4")
    moov = next(b for b in top(base) if b.type == b"moov")
    kids = [k.raw(base) for k in bm.children(base, moov) if k.type != b"udta"]
    packet = _xmp.new_packet(LONGER.to_json())
    xmp_box = bm.make_box(b"uuid", packet, usertype=XMP_UUID)
    data = (
        base[: moov.start]
        + bm.make_box(b"moov", b"".join(kids) + bm.make_box(b"udta", mdir))
        + xmp_box
    )
    meta = H.read(data)
    assert len(meta.of_kind("aigc")) == 2 and len(meta.xmp) == 1
    assert [parse_record(c.data.decode()).record for c in meta.of_kind("aigc")] == [LONGER] * 2
    out = label(data)
    meta = H.read(out)
    assert [c.data.decode() for c in meta.of_kind("aigc")] == [RECORD.to_json()]
    assert not _xmp.read_fields(meta.xmp[0].data).aigc
    assert len(meta.xmp[0].data) == len(packet)  # padded: the uuid box kept its size
    assert b"a title" in out and wrapped.encode() not in out
    assert label(out) == out


def test_c2pa_uuid_box_is_reported() -> None:
    store = b"\x00\x00\x00\x10jumbfake-store!!"
    body = bytes(4) + b"manifest\x00" + bytes(8) + store
    data = sample("mp4") + bm.make_box(b"uuid", body, usertype=C2PA_UUID)
    [c] = H.read(data).c2pa
    assert c.data == store


# --- layout -------------------------------------------------------------------------------------


def test_fast_start_stays_fast_start_and_chunk_offsets_shift(tmp_path: Path) -> None:
    data = sample("mp4-faststart")
    t = types(data)
    assert t.index(b"moov") < t.index(b"mdat")
    out = label(data)
    assert types(out).index(b"moov") < types(out).index(b"mdat")
    mdat_old = next(b for b in top(data) if b.type == b"mdat")
    mdat_new = next(b for b in top(out) if b.type == b"mdat")
    delta = mdat_new.start - mdat_old.start
    assert delta > 0
    assert stco(out) == [[o + delta for o in offs] for offs in stco(data)]
    p = written(tmp_path, out)
    assert video.decode_errors(p) == ""
    assert video.packets(p) == video.packets(written(tmp_path, data, "orig.mp4"))


def test_moov_at_the_end_is_rewritten_in_place() -> None:
    data = sample("mp4")
    assert types(data)[-1] == b"moov"
    out = label(data)
    moov = next(b for b in top(data) if b.type == b"moov")
    assert out[: moov.start] == data[: moov.start]  # mdat untouched
    assert stco(out) == stco(data)


def test_free_reserve_absorbs_growth_and_shrinkage(tmp_path: Path) -> None:
    src = written(tmp_path, sample("mp4"))
    ref = tmp_path / "reserve.mp4"
    ffmpeg("-i", str(src), "-c", "copy", "-moov_size", "4000", str(ref))
    data = ref.read_bytes()
    assert types(data)[:3] == [b"ftyp", b"moov", b"free"]
    grown = label(data, LONGER)
    assert len(grown) == len(data) and stco(grown) == stco(data)
    shrunk = label(grown, RECORD)
    assert len(shrunk) == len(data) and stco(shrunk) == stco(data)
    assert values(shrunk) == [RECORD.to_json()]
    assert video.decode_errors(written(tmp_path, shrunk)) == ""


def test_shrinking_moov_without_free_neighbour_inserts_free() -> None:
    data = label(sample("mp4-faststart"), LONGER)
    out = label(data, RECORD)
    assert len(out) == len(data) and stco(out) == stco(data)
    assert b"free" in types(out)


def test_mdat_to_end_of_file_after_moov() -> None:
    data = bytearray(sample("mp4-faststart"))
    mdat = next(b for b in top(bytes(data)) if b.type == b"mdat")
    assert mdat.end == len(data)
    data[mdat.start : mdat.start + 4] = bytes(4)  # size 0: "to the end of the file"
    out = label(bytes(data))
    assert values(out) == [RECORD.to_json()]
    assert top(out)[-1].to_end and H.content_digest(out) == H.content_digest(bytes(data))


class _Sparse(Source):
    """A huge file that is all zeros except a real head (never read past it here)."""

    def __init__(self, head: bytes, size: int) -> None:
        self.head = head
        self.size = size
        self.max_read = 0

    def read_upto(self, pos: int, n: int) -> bytes:
        self.max_read = max(self.max_read, n)
        end = min(pos + n, self.size)
        out = bytearray(max(0, end - pos))
        if pos < len(self.head):
            chunk = self.head[pos : min(end, len(self.head))]
            out[: len(chunk)] = chunk
        return bytes(out)


def _synthetic_movie(offsets: list[int], mdat_size: int) -> bytes:
    """ftyp + moov (one video track whose chunks sit at ``offsets``) + mdat header."""
    n = len(offsets)
    entry = bm.make_box(b"avc1", bytes(6) + b"\x00\x01" + bytes(16) + struct.pack(">HH", 64, 48))
    stbl = bm.make_box(
        b"stbl",
        bm.make_full_box(b"stsd", 0, 0, struct.pack(">I", 1) + entry)
        + bm.make_full_box(b"stts", 0, 0, struct.pack(">III", 1, n, 1))
        + bm.make_full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, 1, 1))
        + bm.make_full_box(b"stsz", 0, 0, struct.pack(">II", 16, n))
        + bm.make_full_box(b"stco", 0, 0, struct.pack(f">I{n}I", n, *offsets)),
    )
    hdlr = bm.make_full_box(b"hdlr", 0, 0, bytes(4) + b"vide" + bytes(13))
    trak = bm.make_box(b"trak", bm.make_box(b"mdia", hdlr + bm.make_box(b"minf", stbl)))
    moov = bm.make_box(b"moov", bm.make_full_box(b"mvhd", 0, 0, bytes(96)) + trak)
    ftyp = bm.make_box(b"ftyp", b"isom" + bytes(4) + b"isommp41")
    return ftyp + moov + struct.pack(">I4sQ", 1, b"mdat", mdat_size)


def test_stco_is_promoted_to_co64_when_offsets_pass_4_gib() -> None:
    size = 5 << 30
    head = _synthetic_movie([0, 0], 0)
    start = len(head)  # mdat header position
    offsets = [start + 16, 0xFFFFFF00]
    head = _synthetic_movie(offsets, size - start)
    src = _Sparse(head, size)
    pieces = H._plan(src, LABEL)
    moov = next(p for p in pieces if isinstance(p, New) and p.data[4:8] == b"moov")
    assert isinstance(moov, New)
    [co] = box_path(moov.data, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"co64")
    new = bm.chunk_offsets(moov.data, co).offsets
    delta = new[0] - offsets[0]
    assert delta > 0 and list(new) == [o + delta for o in offsets] and new[1] > 0xFFFFFFFF
    assert src.max_read <= 1 << 20  # the 5 GiB mdat was copied in chunks, never loaded


def test_fragmented_base_offsets_and_mfra_are_shifted(tmp_path: Path) -> None:
    data = sample("mp4-fragmented")
    assert b"moof" in types(data) and b"mfra" in types(data)
    out = label(data)
    moofs = [b for b in top(out) if b.type == b"moof"]
    assert len(moofs) >= 2
    for moof in moofs:
        for tfhd in box_path(out[moof.start : moof.end], b"moof", b"traf", b"tfhd"):
            _, flags, p = bm.full_box(out[moof.start : moof.end], tfhd)
            assert flags & 1  # ffmpeg writes explicit base data offsets
            base = struct.unpack_from(">Q", out, moof.start + p + 4)[0]
            assert base == moof.start
    mfra = next(b for b in top(out) if b.type == b"mfra")
    tfra_targets = set()
    for tfra in bm.children(out, mfra):
        if tfra.type == b"tfra":
            c = bm.Cursor(out, tfra.payload_start, tfra.end)
            version = c.u8()
            c.take(3 + 8)
            for _ in range(c.u32()):
                c.take(8 if version else 4)
                tfra_targets.add(c.uint(8 if version else 4))
                c.take(3)
    assert tfra_targets <= {m.start for m in moofs}
    p = written(tmp_path, out)
    assert video.decode_errors(p) == ""


@pytest.mark.parametrize("flags", ["frag_keyframe+empty_moov+default_base_moof", "frag_keyframe"])
def test_other_fragmented_layouts(tmp_path: Path, flags: str) -> None:
    src = written(tmp_path, sample("mp4"))
    ref = tmp_path / "frag.mp4"
    ffmpeg("-i", str(src), "-c", "copy", "-movflags", flags, "-frag_duration", "300000", str(ref))
    data = ref.read_bytes()
    out = label(data)
    p = written(tmp_path, out, "out.mp4")
    assert video.packets(p) == video.packets(ref)
    assert video.decode_errors(p) == video.decode_errors(ref)
    assert video.probe_tags(p)["AIGC"] == RECORD.to_json()


def test_global_sidx_stays_valid(tmp_path: Path) -> None:
    src = written(tmp_path, sample("mp4"))
    ref = tmp_path / "sidx.mp4"
    ffmpeg("-i", str(src), "-c", "copy", "-movflags", "frag_keyframe+empty_moov+global_sidx",
           str(ref))  # fmt: skip
    out = label(ref.read_bytes())
    boxes = top(out)
    for sidx in (b for b in boxes if b.type == b"sidx"):
        c = bm.Cursor(out, sidx.payload_start, sidx.end)
        version = c.u8()
        c.take(3 + 8)
        c.take(8 if version else 4)
        anchor = sidx.end + c.uint(8 if version else 4)
        assert anchor in {b.start for b in boxes}
    p = written(tmp_path, out, "out.mp4")
    assert video.packets(p) == video.packets(ref)


def test_sidx_that_would_move_is_refused(tmp_path: Path) -> None:
    """A sidx before moov indexing fragments after it: moov growth would break it."""
    src = written(tmp_path, sample("mp4"))
    ref = tmp_path / "frag.mp4"
    flags = "frag_keyframe+empty_moov+default_base_moof"
    ffmpeg("-i", str(src), "-c", "copy", "-movflags", flags, "-frag_duration", "300000", str(ref))
    data = ref.read_bytes()
    boxes = [b for b in top(data) if b.type != b"mfra"]  # mfra holds absolute offsets
    ftyp, moov = boxes[0], boxes[1]
    assert moov.type == b"moov"
    first_moof = next(b for b in boxes if b.type == b"moof")
    total = boxes[-1].end - first_moof.start
    first_offset = moov.size + (first_moof.start - moov.end)
    sidx = bm.make_full_box(
        b"sidx",
        1,
        0,
        struct.pack(">IIQQHH", 1, 1000, 0, first_offset, 0, 1)
        + struct.pack(">III", total, 1000, 1 << 31),
    )
    mutated = ftyp.raw(data) + sidx + data[moov.start : boxes[-1].end]
    p = written(tmp_path, mutated, "sidx.mp4")
    assert video.packets(p) == video.packets(ref)  # a valid file
    with pytest.raises(UnsupportedFormat, match="sidx"):
        H.write_label(mutated, LABEL)
    assert H.write_label(data, LABEL)  # the usual layout is fine


def test_compressed_moov_is_refused() -> None:
    moov = bm.make_box(b"moov", bm.make_box(b"cmov", bytes(16)))
    data = bm.make_box(b"ftyp", b"qt  " + bytes(4) + b"qt  ") + moov
    with pytest.raises(UnsupportedFormat, match="cmov"):
        H.write_label(data, LABEL)
    assert H.read(data).warnings


def test_top_level_iloc_that_would_move_is_refused() -> None:
    data = sample("mp4-faststart")
    boxes = top(data)
    meta = bm.make_full_box(
        b"meta",
        0,
        0,
        bm.make_full_box(b"hdlr", 0, 0, bytes(4) + b"pict" + bytes(13))
        + bm.make_full_box(b"iloc", 0, 0, bytes(4)),
    )
    i = types(data).index(b"mdat")
    mutated = b"".join(b.raw(data) for b in boxes[:i]) + meta + data[boxes[i].start :]
    # the chunk offsets now point len(meta) bytes early: fix them as a muxer would
    fixed = bytearray(mutated)
    for tb in box_path(mutated, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stco"):
        co = bm.chunk_offsets(mutated, tb)
        for k, o in enumerate(co.offsets):
            struct.pack_into(">I", fixed, co.first_entry + 4 * k, o + len(meta))
    with pytest.raises(UnsupportedFormat, match="top-level 'meta'"):
        H.write_label(bytes(fixed), LABEL)


def test_external_data_reference_is_not_shifted() -> None:
    """A track whose samples live in another file (dref url without the self flag)."""
    data = sample("mp4-faststart")
    mv = _parse(BytesSource(data))
    url_ext = bm.make_full_box(b"url ", 0, 0, b"file:///elsewhere.mov\x00")
    edits = {}
    for d in box_path(mv.buf, b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref"):
        n = len(bm.children(mv.buf, d, 8))
        edits[d.start] = bm.make_full_box(b"dref", 0, 0, struct.pack(">I", n) + url_ext * n)
    new_moov = _rebuild(mv.buf, mv.root, edits, {}, bm.Budget())
    assert len(new_moov) > mv.moov.size
    mutated = data[: mv.moov.start] + new_moov + data[mv.moov.end :]
    out = label(mutated)
    assert len(out) > len(mutated)
    assert stco(out) == stco(mutated) == stco(data)  # offsets name another file: not moved


# --- robustness ----------------------------------------------------------------------------------


def test_truncated_moov_at_end_is_malformed_not_a_hang() -> None:
    data = sample("mp4")
    moov = next(b for b in top(data) if b.type == b"moov")
    for cut in (moov.start + 4, moov.start + 100, len(data) - 1, 40, 100):
        for op in (H.read, H.content_digest, lambda d: H.write_label(d, LABEL)):
            with pytest.raises(MalformedInput):
                op(data[:cut])


@pytest.mark.parametrize(
    "bad",
    [
        struct.pack(">I4s", 0xFFFFFFF0, b"moov"),  # oversized
        struct.pack(">I4s", 4, b"moov") + bytes(8),  # smaller than its header
        struct.pack(">I4sQ", 1, b"moov", 3),  # largesize smaller than the header
        struct.pack(">I4sQ", 1, b"mdat", 1 << 62),  # absurd largesize
        struct.pack(">I4s", 8, b"free") * 3,  # no moov
        b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isom" + b"\x00\x00\x00\x01\x00\x00",
    ],
)
def test_hostile_atoms_raise_typed_errors(bad: bytes) -> None:
    for op in (H.read, H.content_digest, lambda d: H.write_label(d, LABEL)):
        with pytest.raises((MalformedInput, LimitExceeded)):
            op(bad)


def test_deeply_nested_or_huge_tables_are_bounded() -> None:
    count = struct.pack(">I", 0xFFFFFFFF)
    stco_box = bm.make_full_box(b"stco", 0, 0, count)
    stbl = bm.make_box(b"stbl", stco_box)
    trak = bm.make_box(b"trak", bm.make_box(b"mdia", bm.make_box(b"minf", stbl)))
    data = sample("mp4-faststart")
    boxes = top(data)
    moov = next(b for b in boxes if b.type == b"moov")
    kids = b"".join(k.raw(data) for k in bm.children(data, moov)) + trak
    mutated = data[: moov.start] + bm.make_box(b"moov", kids) + data[moov.end :]
    with pytest.raises((MalformedInput, LimitExceeded)):
        H.write_label(mutated, LABEL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_raise_only_typed_errors(data: st.DataObject) -> None:
    variant = data.draw(st.sampled_from(["mp4", "mp4-faststart", "mp4-fragmented", "m4a"]))
    base = bytearray(label(sample(variant)))
    n = data.draw(st.integers(1, 8))
    for _ in range(n):
        pos = data.draw(st.integers(0, min(len(base), 6000) - 1))
        base[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        base = base[: data.draw(st.integers(0, len(base)))]
    blob = bytes(base)
    for op in (H.read, H.content_digest, lambda d: H.write_label(d, LABEL)):
        with contextlib.suppress(SynthlabelError):
            op(blob)


# --- streaming -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant", ["mp4", "mp4-faststart", "mov", "mp4-fragmented", "mp4-udta", "m4a", "3gp"]
)
def test_streaming_methods_equal_bytes_methods(tmp_path: Path, variant: str) -> None:
    h = registry.get(video._FORMAT.get(variant, "mp4"))
    data = sample(variant)
    src = written(tmp_path, data, video.EXTENSIONS[variant])
    buf = io.BytesIO()
    h.write_label_stream(src, buf, LABEL)  # type: ignore[attr-defined]
    assert buf.getvalue() == h.write_label(data, LABEL)
    out = written(tmp_path, buf.getvalue(), "out." + video.EXTENSIONS[variant])
    assert h.read_path(out) == h.read(buf.getvalue())  # type: ignore[attr-defined]
    assert h.content_digest_path(src) == h.content_digest(data)  # type: ignore[attr-defined]


def test_streaming_write_does_not_load_mdat(tmp_path: Path) -> None:
    """A 24 MiB mdat goes through in chunks: peak memory stays far below the file size."""
    data = bytearray(sample("mp4-faststart"))
    mdat = next(b for b in top(bytes(data)) if b.type == b"mdat")
    assert mdat.end == len(data)
    pad = 24 << 20
    struct.pack_into(">I", data, mdat.start, mdat.size + pad)
    src = tmp_path / "big.mp4"
    with open(src, "wb") as f:
        f.write(data)
        f.write(bytes(pad))
    dst = tmp_path / "big-out.mp4"
    tracemalloc.start()
    try:
        with open(dst, "wb") as f:
            H.write_label_stream(src, f, LABEL)
        digest = H.content_digest_path(dst)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 << 20
    base = sample("mp4-faststart")
    assert dst.stat().st_size == src.stat().st_size + (len(label(base)) - len(base))
    assert digest == H.content_digest_path(src)
    assert [c.data.decode() for c in H.read_path(dst).of_kind("aigc")] == [RECORD.to_json()]


# --- sniffing ------------------------------------------------------------------------------------


def _ftyp(major: bytes, *compat: bytes) -> bytes:
    return bm.make_box(b"ftyp", major + bytes(4) + b"".join(compat)) + bytes(32)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (_ftyp(b"isom", b"isom", b"avc1"), "video"),
        (_ftyp(b"qt  ", b"qt  "), "video"),
        (_ftyp(b"M4V ", b"M4V ", b"M4A ", b"mp42"), "video"),
        (_ftyp(b"3gp6", b"3gp6"), "video"),
        (_ftyp(b"M4A ", b"M4A ", b"mp42"), "audio"),
        (_ftyp(b"M4B ", b"M4B "), "audio"),
        (_ftyp(b"mp42", b"M4A ", b"isom"), "audio"),
        (_ftyp(b"heic", b"mif1", b"heic"), None),
        (_ftyp(b"avif", b"avif", b"mif1", b"miaf"), None),
        (_ftyp(b"mp42", b"mif1"), None),
        (struct.pack(">I4s", 1000, b"moov"), "video"),
        (b"\x00\x00\x00\x10notabox" + bytes(8), None),
    ],
)
def test_classify_brands(head: bytes, kind: str | None) -> None:
    assert classify(head) == kind
    assert HANDLER.sniff(head[:64]) is (kind == "video")
    assert M4A_HANDLER.sniff(head[:64]) is (kind == "audio")


def test_m4a_round_trip_reads_with_ffprobe(tmp_path: Path) -> None:
    out = M4A_HANDLER.write_label(sample("m4a"), LABEL)
    assert M4A_HANDLER.sniff(out[:64]) and not HANDLER.sniff(out[:64])
    assert video.probe_tags(written(tmp_path, out, "m4a"))["AIGC"] == RECORD.to_json()
