"""End-to-end tests of the CLI on real files, cross-checked with exiftool."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthlabel.cli.main import app
from tests.fixtures import images as fx

PRODUCER = "001191110000MA0000000H10001"
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema" / "inspect-1.schema.json"
runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def sl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point, in a subprocess (no traceback may reach the user)."""
    return subprocess.run(
        [sys.executable, "-m", "synthlabel.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture()
def samples(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for _, name, make in fx.all_samples():
        (d / f"{name}.{fx.EXTENSIONS[name]}").write_bytes(make())
    return d


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    code, _out, err = cli("keys", "generate", "--name", "test-producer", "--home", str(h))
    assert code == 0, err
    return h


def inspect_json(*paths: Path, home: Path | None = None) -> dict:  # type: ignore[type-arg]
    args = ["inspect", *map(str, paths), "--json", "--no-c2pa"]
    if home:
        args += ["--home", str(home)]
    code, out, _ = cli(*args)
    return json.loads(out) | {"_exit": code}


def test_label_every_format_signed_then_inspect_and_verify(
    samples: Path, tmp_path: Path, home: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = cli(
        "label",
        str(samples),
        "--out-dir",
        str(out),
        "--producer",
        PRODUCER,
        "--sign",
        "test-producer",
        "--home",
        str(home),
    )
    assert code == 0, stdout + stderr
    n = len(list(samples.iterdir()))
    assert f"{n} labelled, 0 failed" in stdout
    doc = inspect_json(out, home=home)
    assert doc["_exit"] == 0
    assert doc["summary"]["compliant"] == n
    for r in doc["results"]:
        (rec,) = r["records"]
        assert rec["record"]["ContentProducer"] == PRODUCER
        sig = rec["producer_signature"]
        assert (sig["status"], sig["binding"], sig["trusted"]) == ("valid", "intact", True), r[
            "path"
        ]
        assert r["digital_source_types"] == [
            "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
        ]
    code, stdout, _ = cli("verify", str(out), "--home", str(home), "--require-trusted")
    assert code == 0, stdout
    # ProduceIDs are unique
    ids = {r["records"][0]["record"]["ProduceID"] for r in doc["results"]}
    assert len(ids) == n


def test_inspect_json_matches_published_schema(samples: Path, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "out"
    assert (
        cli("label", str(samples), "--out-dir", str(out), "--producer", PRODUCER, "--no-visible")[0]
        == 0
    )
    doc = inspect_json(out, samples / "png.png")
    doc.pop("_exit")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


@pytest.mark.exiftool
def test_exiftool_sees_the_label_written_by_the_cli(
    samples: Path, tmp_path: Path, home: Path
) -> None:
    out = tmp_path / "out"
    assert (
        cli(
            "label",
            str(samples),
            "--out-dir",
            str(out),
            "--producer",
            PRODUCER,
            "--sign",
            "test-producer",
            "--home",
            str(home),
        )[0]
        == 0
    )
    res = subprocess.run(
        ["exiftool", "-j", "-XMP-TC260:AIGC", "-XMP-iptcExt:DigitalSourceType", "-r", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(res.stdout)
    assert len(info) == len(list(samples.iterdir()))
    for entry in info:
        rec = json.loads(next(v for k, v in entry.items() if k.lower() == "aigc"))
        assert rec["ContentProducer"] == PRODUCER and rec["ReservedCode1"].startswith(
            '{"SecurityData"'
        )
        assert entry["DigitalSourceType"].endswith("trainedAlgorithmicMedia")


def test_tampering_shows_as_invalid_and_moved_label_as_broken(tmp_path: Path, home: Path) -> None:
    from synthlabel.formats import _xmp, registry
    from synthlabel.inspect.reader import inspect_bytes

    src = tmp_path / "a.png"
    src.write_bytes(fx.png())
    dst = tmp_path / "a.out.png"
    assert (
        cli(
            "label",
            str(src),
            "-o",
            str(dst),
            "--producer",
            PRODUCER,
            "--sign",
            "test-producer",
            "--home",
            str(home),
        )[0]
        == 0
    )
    data = dst.read_bytes()
    rec = inspect_bytes(data).record
    assert rec is not None
    h = registry.get("png")
    for field, value in (
        ("label", "3"),
        ("content_producer", "001191440300MA0000001L20000"),
        ("produce_id", "01JD3Q8W5Z6V7K2M4N8P0R2S4X"),
    ):
        bad = rec.replace(**{field: value})
        p = tmp_path / f"tampered-{field}.png"
        p.write_bytes(
            h.write_xmp(data, _xmp.update_packet(h.read(data).xmp[0].data, aigc_json=bad.to_json()))
        )
        code, out, _ = cli("verify", str(p), "--home", str(home))
        assert code == 1 and "invalid" in out, (field, out)
    moved = tmp_path / "moved.png"
    other = fx.picture(seed=5)
    import io

    buf = io.BytesIO()
    other.save(buf, "PNG")
    moved.write_bytes(h.write_xmp(buf.getvalue(), _xmp.new_packet(rec.to_json())))
    code, out, _ = cli("verify", str(moved), "--home", str(home))
    assert code == 1 and "binding-broken" in out
    doc = inspect_json(moved, home=home)
    assert doc["results"][0]["compliance"] == "noncompliant"


def test_key_rotation_keeps_old_signatures_valid(tmp_path: Path, home: Path) -> None:
    a = tmp_path / "a.jpg"
    a.write_bytes(fx.jpeg())
    assert (
        cli(
            "label",
            str(a),
            "-o",
            str(tmp_path / "old.jpg"),
            "--producer",
            PRODUCER,
            "--sign",
            "test-producer",
            "--home",
            str(home),
        )[0]
        == 0
    )
    assert cli("keys", "generate", "--name", "rotated", "--home", str(home))[0] == 0
    code, out, _ = cli("keys", "list", "--home", str(home), "--json")
    keys = json.loads(out)
    assert len(keys) == 2 and [k["name"] for k in keys if k["active"]] == ["rotated"]
    assert (
        cli(
            "label",
            str(a),
            "-o",
            str(tmp_path / "new.jpg"),
            "--producer",
            PRODUCER,
            "--sign",
            "rotated",
            "--home",
            str(home),
        )[0]
        == 0
    )
    code, out, _ = cli(
        "verify",
        str(tmp_path / "old.jpg"),
        str(tmp_path / "new.jpg"),
        "--home",
        str(home),
        "--require-trusted",
    )
    assert code == 0, out
    key_files = list((home / "keys").glob("*.pem"))
    assert key_files and all((p.stat().st_mode & 0o777) == 0o600 for p in key_files)


def test_export_public_is_openssl_readable(home: Path, tmp_path: Path) -> None:
    code, out, _ = cli("keys", "export-public", "--home", str(home))
    assert code == 0 and out.startswith("-----BEGIN PUBLIC KEY-----")
    if shutil.which("openssl"):
        (tmp_path / "pub.pem").write_text(out)
        res = subprocess.run(
            ["openssl", "pkey", "-pubin", "-in", str(tmp_path / "pub.pem"), "-noout", "-text"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stderr


@pytest.mark.parametrize(
    ("content", "name", "expect"),
    [
        (b"", "empty.jpg", "empty file"),
        (b"\x00\x01\x02 binary garbage \xff\xfe", "garbage.jpg", "not a supported format"),
        (None, "truncated.png", ""),
    ],
)
def test_bad_inputs_give_one_clear_line(
    tmp_path: Path, content: bytes | None, name: str, expect: str
) -> None:
    p = tmp_path / name
    p.write_bytes(content if content is not None else fx.png()[:200])
    res = sl("label", str(p), "-o", str(tmp_path / "out.png"), "--producer", PRODUCER)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr + res.stdout
    err_lines = [line for line in (res.stderr + res.stdout).splitlines() if str(p) in line]
    assert err_lines, res.stderr + res.stdout
    assert expect in err_lines[0]
    assert not (tmp_path / "out.png").exists()
    res = sl("inspect", str(p))
    assert res.returncode == 3 and "Traceback" not in res.stderr + res.stdout


def test_wrong_extension_is_sniffed(tmp_path: Path) -> None:
    p = tmp_path / "really-a-png.jpg"
    p.write_bytes(fx.png())
    code, _out, _ = cli(
        "label", str(p), "-o", str(tmp_path / "o.jpg"), "--producer", PRODUCER, "--no-visible"
    )
    assert code == 0
    assert inspect_json(tmp_path / "o.jpg")["results"][0]["format"] == "png"


def test_invalid_provider_code_names_the_part(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    p.write_bytes(fx.png())
    bad = PRODUCER[:-6] + "X" + PRODUCER[-5:]  # break the USCC check character
    res = sl("label", str(p), "-o", str(tmp_path / "o.png"), "--producer", bad)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "check" in res.stderr.lower() or "subject" in res.stderr.lower()


def test_unwritable_output_directory(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/synthlabel-cannot-write-here")
    else:  # pragma: no cover
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o500)
    p = tmp_path / "a.png"
    p.write_bytes(fx.png())
    res = sl("label", str(p), "-o", str(target / "o.png"), "--producer", PRODUCER)
    assert res.returncode in (1, 2) and "Traceback" not in res.stderr
    assert "o.png" in res.stderr or str(target) in res.stderr


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    import struct
    import zlib

    # A PNG declaring 100000 x 100000 pixels with a tiny IDAT.
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )
    p = tmp_path / "bomb.png"
    p.write_bytes(data)
    t0 = time.monotonic()
    res = sl("label", str(p), "-o", str(tmp_path / "o.png"), "--producer", PRODUCER)
    assert time.monotonic() - t0 < 60
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "bomb.png" in res.stderr and ("limit" in res.stderr or "pixels" in res.stderr)


def test_in_place_and_sigkill_never_leave_a_partial_file(tmp_path: Path) -> None:
    from synthlabel.inspect.reader import inspect_bytes

    p = tmp_path / "victim.png"
    original = fx.png()
    p.write_bytes(original)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "synthlabel.cli.main",
            "label",
            str(p),
            "--in-place",
            "--producer",
            PRODUCER,
        ],
        env={**os.environ, "SYNTHLABEL_FAULT_PAUSE": "30"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(".victim.png.*.synthlabel-tmp")):
        time.sleep(0.05)
    assert list(tmp_path.glob(".victim.png.*.synthlabel-tmp")), "temp file never appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert p.read_bytes() == original  # killed before rename: original intact
    # Without the pause the in-place label completes and the file is whole and labelled.
    res = sl("label", str(p), "--in-place", "--producer", PRODUCER)
    assert res.returncode == 0, res.stderr
    assert inspect_bytes(p.read_bytes()).record is not None
    # The leftover temp file of the killed run is hidden and ignored by directory walks.
    _code, out, _ = cli("inspect", str(tmp_path), "--json")
    assert [r["path"] for r in json.loads(out)["results"]] == [str(p)]


def _with_packet(packet: bytes) -> bytes:
    from synthlabel.formats import registry

    return registry.get("jpeg").write_xmp(fx.jpeg(), packet)


def test_malformed_existing_xmp_is_refused_unless_asked(tmp_path: Path) -> None:
    p = tmp_path / "bad-xmp.jpg"
    p.write_bytes(_with_packet(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><unclosed>'))
    res = sl("label", str(p), "-o", str(tmp_path / "o.jpg"), "--producer", PRODUCER)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "bad-xmp.jpg" in res.stderr and "XMP" in res.stderr and "malformed" in res.stderr
    assert not (tmp_path / "o.jpg").exists()
    res = sl(
        "label",
        str(p),
        "-o",
        str(tmp_path / "o.jpg"),
        "--producer",
        PRODUCER,
        "--replace-malformed-xmp",
    )
    assert res.returncode == 0, res.stderr
    assert inspect_json(tmp_path / "o.jpg")["results"][0]["compliance"] == "compliant"


def test_broken_existing_record_is_reported_then_replaced(tmp_path: Path) -> None:
    from synthlabel.formats import _xmp

    packet = _xmp.new_packet('{"Label":"1","ContentProducer":"x",')  # truncated JSON
    p = tmp_path / "broken-record.jpg"
    p.write_bytes(_with_packet(packet))
    doc = inspect_json(p)
    assert doc["_exit"] == 1
    (r,) = doc["results"]
    assert r["compliance"] == "noncompliant" and "not valid JSON" in r["records"][0]["errors"][0]
    code, _out, err = cli("label", str(p), "-o", str(tmp_path / "o.jpg"), "--producer", PRODUCER)
    assert code == 0, err
    doc = inspect_json(tmp_path / "o.jpg")
    assert doc["results"][0]["compliance"] == "compliant"
    assert len(doc["results"][0]["records"]) == 1


def test_json_output_of_label(tmp_path: Path) -> None:
    p = tmp_path / "a.gif"
    p.write_bytes(fx.gif_animated())
    code, out, _ = cli(
        "label",
        str(p),
        "-o",
        str(tmp_path / "o.gif"),
        "--producer",
        PRODUCER,
        "--produce-id",
        "GIF-0001",
        "--json",
    )
    doc = json.loads(out)
    assert code == 0 and doc["summary"] == {"labelled": 1, "failed": 0, "skipped": 0}
    (r,) = doc["results"]
    assert r["record"]["ProduceID"] == "GIF-0001" and r["visible"] and r["format"] == "gif"


def test_formats_command_lists_every_image_container() -> None:
    code, out, _ = cli("formats", "--json")
    ids = {f["id"] for f in json.loads(out)}
    assert code == 0 and {"jpeg", "png", "gif", "webp", "tiff", "heif"} <= ids


def test_text_formats_get_notice_record_and_sidecar(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\nBody text.\n")
    (tmp_path / "b.txt").write_text("plain words\n")
    out = tmp_path / "out"
    code, stdout, err = cli(
        "label",
        str(tmp_path / "a.md"),
        str(tmp_path / "b.txt"),
        "--out-dir",
        str(out),
        "--producer",
        PRODUCER,
        "--sidecar",
        "--language",
        "zh",
    )
    assert code == 0, stdout + err
    md = (out / "a.md").read_text()
    assert md.startswith("---\nAIGC:\n  Label: '1'\n") and "本内容由人工智能生成" in md
    txt = (out / "b.txt").read_text()
    assert "本内容由人工智能生成" in txt and "plain words" in txt
    assert "no implicit slot" in stdout
    doc = inspect_json(out / "a.md", out / "b.txt")
    assert [r["compliance"] for r in doc["results"]] == ["compliant", "compliant"]
    assert doc["results"][1]["records"][0]["carrier"] == "sidecar"


def test_plain_text_without_notice_or_sidecar_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "b.txt"
    p.write_text("plain words\n")
    code, _, err = cli(
        "label", str(p), "-o", str(tmp_path / "o.txt"), "--producer", PRODUCER, "--no-visible"
    )
    assert code == 1 and "no metadata slot" in err
    assert not (tmp_path / "o.txt").exists()


def test_large_media_are_labelled_by_streaming(tmp_path: Path, home: Path) -> None:
    from tests.fixtures import video

    if not video.SAMPLES.get("mp4"):
        pytest.skip("ffmpeg not available")
    src = tmp_path / "big.mp4"
    src.write_bytes(next(iter(video.SAMPLES["mp4"].values()))())
    env = {"SYNTHLABEL_STREAM_THRESHOLD": "1000", "SYNTHLABEL_HOME": str(home)}
    res = sl(
        "label",
        str(src),
        "-o",
        str(tmp_path / "o.mp4"),
        "--producer",
        PRODUCER,
        "--no-visible",
        "--sign",
        "test-producer",
        "--json",
        env=env,
    )
    assert res.returncode == 0, res.stderr
    (r,) = json.loads(res.stdout)["results"]
    assert any("streamed" in w for w in r["warnings"]) and r["signed"]
    res = sl("verify", str(tmp_path / "o.mp4"), env=env)  # inspected by streaming too
    assert res.returncode == 0, res.stdout + res.stderr
    res = sl("inspect", str(tmp_path / "o.mp4"), "--json", env=env)
    (rep,) = json.loads(res.stdout)["results"]
    assert rep["compliance"] == "compliant" and rep["content_selector"] == "synthlabel.mp4.v1"
    assert rep["records"][0]["producer_signature"]["binding"] == "intact"
    assert video.fingerprint("mp4", (tmp_path / "o.mp4").read_bytes()) == video.fingerprint(
        "mp4", src.read_bytes()
    )
