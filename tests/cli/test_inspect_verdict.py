"""`synthlabel inspect` gives the Labeling Measures' verdict with its evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import synthlabel
from synthlabel.cli.main import EXIT_VERDICT, app
from synthlabel.formats import registry
from synthlabel.formats.base import LabelWrite
from synthlabel.model.findings import Verdict
from synthlabel.model.keys import KeyStore
from tests.fixtures import images as fx

PRODUCER = "001191110000MA0000000H10001"
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema" / "inspect-1.schema.json"
runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    """A signed labelled JPEG, the same label moved to another picture, an unlabelled PNG."""
    home = tmp_path / "home"
    KeyStore(home).generate(name="p")
    src = tmp_path / "in.jpg"
    src.write_bytes(fx.jpeg())
    signed = tmp_path / "signed.jpg"
    synthlabel.label(src, signed, producer=PRODUCER, sign="p", key_home=home, visible=False)
    rec = synthlabel.inspect(signed, key_home=home, detect=False).record
    assert rec is not None
    other = fx._save(fx.picture(seed=5), "JPEG", quality=85)
    moved = tmp_path / "moved.jpg"
    moved.write_bytes(registry.get("jpeg").write_label(other, LabelWrite(rec.to_json())))
    plain = tmp_path / "plain.png"
    plain.write_bytes(fx.png())
    return {"home": home, "signed": signed, "moved": moved, "plain": plain}


def inspect_json(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, out, _ = cli("inspect", *args, "--json", "--no-c2pa")
    return code, json.loads(out)


def by_name(doc: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {Path(r["path"]).name: r for r in doc["results"]}


def test_verdicts_evidence_and_schema(files: dict[str, Path]) -> None:
    code, doc = inspect_json(
        str(files["signed"]), str(files["moved"]), str(files["plain"]), "--home", str(files["home"])
    )
    res = by_name(doc)
    signed = res["signed.jpg"]
    assert signed["verdict"]["verdict"] == "confirmed" and signed["verdict"]["label_value"] == "1"
    codes = [e["code"] for e in signed["evidence"]]
    assert codes[0] == "aigc.record.valid"  # strongest first
    assert signed["evidence"][0]["strength"] == "conclusive"
    assert signed["evidence"][0]["location"] and signed["evidence"][0]["source"]
    moved = res["moved.jpg"]
    assert moved["verdict"]["verdict"] == "possible"
    assert "aigc.record.tampered" in [e["code"] for e in moved["evidence"]]
    assert any("fails its checks" in r for r in moved["verdict"]["reasons"])
    plain = res["plain.png"]
    assert plain["verdict"]["verdict"] == "no_trace" and plain["evidence"] == []
    assert set(plain["detectors"]["ran"]) >= {"aigc", "c2pa", "iptc"}
    assert doc["summary"]["verdict_confirmed"] == 1 and doc["summary"]["verdict_no_trace"] == 1
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert code == 1  # the moved label is non-compliant (broken binding)


def test_fail_on_declared_and_policies(files: dict[str, Path]) -> None:
    home = ("--home", str(files["home"]))
    plain = str(files["plain"])
    assert cli("inspect", plain, "--fail-on", "suspected", *home)[0] == 0
    code, _out, _ = cli("inspect", plain, "--declared", "--fail-on", "possible", *home)
    assert code == EXIT_VERDICT
    assert cli("inspect", plain, "--declared", "--fail-on", "confirmed", *home)[0] == 0
    code, doc = inspect_json(plain, "--declared", *home)
    assert doc["results"][0]["verdict"]["declared"] is True
    signed = str(files["signed"])
    assert cli("inspect", signed, "--fail-on", "confirmed", *home)[0] == EXIT_VERDICT
    code, doc = inspect_json(str(files["moved"]), "--policy", "measures-strict", *home)
    assert doc["results"][0]["verdict"]["verdict"] == "confirmed"  # Art. 6(1) read literally
    assert doc["results"][0]["verdict"]["policy"] == "measures-strict/1"


def test_human_table_explains_the_verdict(files: dict[str, Path]) -> None:
    _code, out, _ = cli("inspect", str(files["moved"]), "--home", str(files["home"]), "--no-c2pa")
    assert "possible" in out and "aigc.record.tampered" in out and "because" in out


def test_bad_options_are_usage_errors(files: dict[str, Path], tmp_path: Path) -> None:
    plain = str(files["plain"])
    code, _o, err = cli("inspect", plain, "--fail-on", "human")
    assert code == 2 and "confirmed, possible or suspected" in err
    bad = tmp_path / "p.toml"
    bad.write_text("id = 'x'\n", encoding="utf-8")
    code, _o, err = cli("inspect", plain, "--policy", str(bad))
    assert code == 2 and "p.toml" in err and "version" in err
    code, _o, err = cli("inspect", plain, "--only", "aigc,nosuch")
    assert code == 2 and "nosuch" in err
    code, _o, err = cli("inspect", plain, "--no-detect", "--declared")
    assert code == 2


def test_only_and_no_detect(files: dict[str, Path]) -> None:
    _code, doc = inspect_json(str(files["signed"]), "--only", "aigc", "--home", str(files["home"]))
    r = doc["results"][0]
    assert set(r["detectors"]["ran"]) == {"aigc"} and r["verdict"]["verdict"] == "confirmed"
    _code, doc = inspect_json(str(files["signed"]), "--no-detect", "--no-watermarks")
    assert doc["results"][0]["verdict"] is None and doc["results"][0]["evidence"] == []


def test_python_api(files: dict[str, Path]) -> None:
    rep = synthlabel.inspect(files["signed"], key_home=files["home"])
    assert rep.verdict is Verdict.CONFIRMED
    assert rep.evidence[0].code == "aigc.record.valid"
    rep = synthlabel.inspect(files["plain"], declared=True, policy="measures-strict")
    assert rep.verdict is Verdict.POSSIBLE and rep.decision is not None
    assert rep.decision.policy == "measures-strict/1"


def test_detectors_command() -> None:
    code, out, _ = cli("detectors", "--json")
    doc = json.loads(out)
    assert code == 0 and {"aigc", "c2pa", "iptc", "watermark"} <= {
        d["id"] for d in doc["detectors"]
    }
    assert doc["policy"]["id"] == "synthlabel-default"
    code, out, _ = cli("detectors", "--policy", "measures-strict")
    assert code == 0 and "measures-strict/1" in out
