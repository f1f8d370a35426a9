"""HEIC/AVIF labelled by our HEIF handler, then signed by c2pa-python (c2pa-rs).

c2pa-rs inserts its manifest ``uuid`` box after ``ftyp`` and shifts every file offset in
``iloc`` by the box's size. These tests prove that what our writer leaves survives that shift
for every ``iloc`` layout the handler tests build: the picture decodes to the same pixels,
ExifTool and our handler read the AIGC record, the content digest is unchanged and c2pa reads
a valid manifest back.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from synthlabel.formats import _xmp, heif
from synthlabel.inspect.c2pa import read_c2pa
from synthlabel.label.c2pa import C2paCredentials, add_manifest
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import images as fx
from tests.formats.test_heif import LAYOUTS, relayout
from tests.helpers.c2pa_ca import PkiBundle, make_pki

pytest.importorskip("c2pa")

H = heif.HANDLER
RECORD = AIGCRecord(
    label="1",
    content_producer="001191101080000000000000000",
    produce_id="synthlabel-heif-c2pa-0001",
)
MIME = {"heic": "image/heic", "avif": "image/avif"}
BASES = {"heic": fx.heic, "avif": fx.avif}


@pytest.fixture(scope="module")
def pki() -> PkiBundle:
    return make_pki()


@pytest.fixture(scope="module")
def creds(pki: PkiBundle) -> C2paCredentials:
    return C2paCredentials(pki.chain_pem, pki.signer_key_pem, "es256")


def label(data: bytes) -> bytes:
    xmps = H.read(data).xmp
    base = xmps[0].data if xmps else None
    packet = _xmp.update_packet(base, aigc_json=RECORD.to_json())
    return H.write_xmp(data, packet)


def exiftool_aigc(path: Path) -> str:
    res = subprocess.run(["exiftool", "-j", "-XMP:all", str(path)], capture_output=True, text=True)
    info = json.loads(res.stdout)[0]
    values = [v for k, v in info.items() if k.lower() == "aigc"]
    assert len(values) == 1, info
    return str(values[0])


def check_signed(tmp_path: Path, base: str, src: bytes, labelled: bytes, signed: bytes) -> None:
    mime = MIME[base]
    # the picture: same pixels as before labelling and signing
    assert fx.decoded_frames(signed) == fx.decoded_frames(src)
    # our handler: one XMP item, the record, the same content digest
    meta = H.read(signed)
    assert len(meta.xmp) == 1 and len(meta.c2pa) == 1
    assert meta.xmp[0].data == H.read(labelled).xmp[0].data
    assert parse_record(_xmp.read_fields(meta.xmp[0].data).aigc[0]).record == RECORD
    assert H.content_digest(signed) == H.content_digest(src) == H.content_digest(labelled)
    # c2pa: a manifest whose signature and hard binding validate (the test signer is untrusted)
    s = read_c2pa(signed, mime)
    assert s.present and s.checked and not s.error, s
    assert s.validation_state == "Valid", s.validation_errors
    assert s.validation_errors == ["signingCredential.untrusted"]
    assert s.ai_claim is True
    # ExifTool finds the TC260 AIGC value
    if shutil.which("exiftool"):
        p = tmp_path / f"signed.{base}"
        p.write_bytes(signed)
        assert parse_record(exiftool_aigc(p)).record == RECORD


@pytest.mark.parametrize("base", list(BASES))
def test_label_then_sign(tmp_path: Path, base: str, creds: C2paCredentials) -> None:
    src = BASES[base]()
    labelled = label(src)
    signed = add_manifest(labelled, MIME[base], creds, record=RECORD)  # verify_carriers on
    check_signed(tmp_path, base, src, labelled, signed)
    # relabelling the signed file keeps the manifest box and stays decodable
    again = label(signed)
    assert fx.decoded_frames(again) == fx.decoded_frames(src)
    assert [c.data for c in H.read(again).c2pa] == [c.data for c in H.read(signed).c2pa]


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_label_then_sign_every_layout(
    tmp_path: Path, base: str, layout: str, creds: C2paCredentials
) -> None:
    src = relayout(BASES[base](), LAYOUTS[layout])
    labelled = label(src)
    signed = add_manifest(labelled, MIME[base], creds, record=RECORD)
    check_signed(tmp_path, base, src, labelled, signed)


@pytest.mark.parametrize("base", list(BASES))
def test_sign_replaces_existing_libheif_xmp(
    tmp_path: Path, base: str, creds: C2paCredentials
) -> None:
    old = _xmp.update_packet(None, aigc_json=RECORD.replace(produce_id="OLDID").to_json())
    buf = io.BytesIO()
    fx.picture().save(buf, "HEIF" if base == "heic" else "AVIF", quality=80, xmp=old)
    src = buf.getvalue()
    labelled = label(src)
    assert b"OLDID" not in labelled
    signed = add_manifest(labelled, MIME[base], creds, record=RECORD)
    check_signed(tmp_path, base, src, labelled, signed)
