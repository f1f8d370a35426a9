"""`synthlabel propagate` end to end: outputs, JSON, exit codes, cross-checked with exiftool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import synthlabel
from synthlabel.cli.main import app
from synthlabel.formats import registry
from synthlabel.formats.base import LabelWrite
from synthlabel.model.aigc import parse_record
from synthlabel.model.keys import KeyStore
from tests.fixtures import images as fx

PRODUCER = "001191110000MA0000000H10001"
PLATFORM = "001191440300MA0000001L20000"
runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    home = tmp_path / "home"
    ks = KeyStore(home)
    ks.generate("ed25519", name="producer")
    ks.generate("ed25519", name="platform")
    d = tmp_path / "in"
    d.mkdir()
    raw = d / "raw.jpg"
    raw.write_bytes(fx.jpeg())
    signed = d / "signed.jpg"
    synthlabel.label(raw, signed, producer=PRODUCER, sign="producer", key_home=home, visible=False)
    plain = d / "plain.png"
    plain.write_bytes(fx.png())
    raw.unlink()
    rec = synthlabel.inspect(signed, key_home=home, detect=False).record
    assert rec is not None
    moved = tmp_path / "moved.jpg"
    other = fx._save(fx.picture(seed=5), "JPEG", quality=85)
    moved.write_bytes(registry.get("jpeg").write_label(other, LabelWrite(rec.to_json())))
    return {"home": home, "dir": d, "signed": signed, "plain": plain, "moved": moved}


def by_name(doc: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {Path(r["path"]).name: r for r in doc["results"]}


@pytest.mark.exiftool
def test_directory_out_dir_json_and_exiftool(files: dict[str, Path], tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in files["dir"].iterdir()}
    out = tmp_path / "out"
    code, stdout, stderr = cli(
        "propagate",
        str(files["dir"]),
        "--out-dir",
        str(out),
        "--platform",
        PLATFORM,
        "--sign",
        "platform",
        "--home",
        str(files["home"]),
        "--no-watermarks",
        "--json",
    )
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["schema"] == "synthlabel.propagate/1"
    assert doc["summary"] | {} == {
        "propagated": 1,
        "labelled": 0,
        "replaced": 0,
        "no_trace": 1,
        "refused": 0,
        "failed": 0,
        "skipped": 0,
    }
    res = by_name(doc)
    s = res["signed.jpg"]
    assert (s["status"], s["verdict"], s["label"]) == ("propagated", "confirmed", "1")
    assert (s["producer_signature"], s["producer_binding"], s["propagator_signature"]) == (
        "valid",
        "intact",
        "valid",
    )
    assert res["plain.png"]["status"] == "no-trace" and res["plain.png"]["output"] == ""
    assert not (out / "plain.png").exists()
    # Originals untouched; the output read by exiftool carries the completed record.
    assert {p.name: p.read_bytes() for p in files["dir"].iterdir()} == before
    info = json.loads(
        subprocess.run(
            ["exiftool", "-j", "-XMP:all", str(out / "signed.jpg")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]
    values = [v for k, v in info.items() if k.lower().endswith("aigc")]
    assert len(values) == 1
    rec = parse_record(values[0]).record
    assert rec.to_dict() == s["record"]
    assert rec.content_propagator == PLATFORM and rec.reserved_code2.startswith('{"SecurityData"')
    # inspect agrees: both signatures valid, compliant.
    code, stdout, _ = cli(
        "inspect", str(out / "signed.jpg"), "--json", "--no-c2pa", "--home", str(files["home"])
    )
    rep = json.loads(stdout)["results"][0]
    assert code == 0 and rep["compliance"] == "compliant"
    r0 = rep["records"][0]
    assert r0["producer_signature"]["status"] == r0["propagator_signature"]["status"] == "valid"


def test_declared_in_place_and_human_output(files: dict[str, Path]) -> None:
    plain = files["plain"]
    code, stdout, stderr = cli(
        "propagate",
        str(plain),
        "--in-place",
        "-P",
        PLATFORM,
        "--declared",
        "--propagate-id",
        "up-1",
        "--notice",
        "--no-watermarks",
        "--home",
        str(files["home"]),
    )
    assert code == 0, stderr
    assert "labelled; verdict possible; Label 2; PropagateID up-1" in stdout
    assert "1 labelled" in stdout
    rec = synthlabel.inspect(plain, key_home=files["home"], detect=False).record
    assert rec is not None and (rec.label, rec.propagate_id) == ("2", "up-1")


def test_tampered_refused_then_replaced(files: dict[str, Path], tmp_path: Path) -> None:
    args = ["propagate", str(files["moved"]), "-o", str(tmp_path / "o.jpg"), "-P", PLATFORM]
    args += ["--home", str(files["home"]), "--no-watermarks"]
    code, _stdout, stderr = cli(*args)
    assert code == 1
    assert "invalid" in stderr and "--replace-invalid" in stderr
    assert not (tmp_path / "o.jpg").exists()
    code, stdout, stderr = cli(*args, "--replace-invalid", "--json")
    assert code == 0, stderr
    r = json.loads(stdout)["results"][0]
    assert (r["status"], r["label"], r["record"]["ContentProducer"]) == ("replaced", "2", "")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["-P", "not-a-code"], "provider code"),
        (["-P", PLATFORM, "--force-label", "1"], "--force-label"),
        (["-P", PLATFORM, "--notice-text", "4=x"], "--notice-text"),
        (["-P", PLATFORM, "--propagate-id", "x"], "single file"),
    ],
)
def test_usage_errors(
    files: dict[str, Path], tmp_path: Path, extra: list[str], needle: str
) -> None:
    code, _, stderr = cli(
        "propagate",
        str(files["signed"]),
        str(files["plain"]),
        "--out-dir",
        str(tmp_path / "o"),
        *extra,
    )
    assert code == 2 and needle in stderr, stderr


def test_needs_one_output_mode(files: dict[str, Path]) -> None:
    code, _, stderr = cli("propagate", str(files["signed"]), "-P", PLATFORM)
    assert code == 2 and "--in-place" in stderr


def test_many_files_in_parallel(files: dict[str, Path], tmp_path: Path) -> None:
    d = tmp_path / "many"
    d.mkdir()
    data = files["signed"].read_bytes()
    for i in range(9):  # over the pool threshold: exercises the process pool
        (d / f"{i}.jpg").write_bytes(data)
    code, stdout, stderr = cli(
        "propagate", str(d), "--out-dir", str(tmp_path / "o"), "-P", PLATFORM, "-j", "2",
        "--home", str(files["home"]), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["summary"]["propagated"] == 9
    ids = {r["record"]["PropagateID"] for r in doc["results"]}
    assert len(ids) == 9
