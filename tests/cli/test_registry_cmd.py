"""`synthlabel registry add|match|list|remove` on generated files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from synthlabel.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _gen_media as G

runner = CliRunner()
PRODUCER = "001191110000MA0000000H10001"  # fake USCC with a valid check character


def cli(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout


def _write(path: Path, a: np.ndarray, q: int = 95) -> Path:
    cv2.imwrite(str(path), a[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return path


def test_add_refuses_unlabelled_files_without_producer(tmp_path: Path) -> None:
    reg = tmp_path / "r.sqlite"
    f = _write(tmp_path / "a.jpg", G.image(0)[1])
    code, out = cli("registry", "add", str(f), "--registry", str(reg), "--json")
    assert code == 1
    doc = json.loads(out)
    assert "no AIGC record" in doc["added"][0]["error"] and doc["entries"] == 0


def test_add_match_list_remove_round_trip(tmp_path: Path) -> None:
    reg = tmp_path / "r.sqlite"
    src = tmp_path / "src"
    src.mkdir()
    for s in range(3):
        _write(src / f"o{s}.png", G.image(s * 3)[1])  # photos
    code, out = cli(
        "registry",
        "add",
        str(src),
        "--registry",
        str(reg),
        "--producer",
        "acme",
        "--produce-id",
        "run-7",
        "--json",
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["entries"] == 3 and all(i["kind"] == "image" for i in doc["added"])

    # a stripped, resized, cropped JPEG 70 copy of o1 and an unrelated image
    a = G.image(3)[1]
    h, w = a.shape[:2]
    small = cv2.resize(a, (int(w * 0.5), int(h * 0.5)), interpolation=cv2.INTER_AREA)
    copy = _write(tmp_path / "copy.jpg", small[int(h * 0.03) :, int(w * 0.02) :], 70)
    other = _write(tmp_path / "other.jpg", G.image(5000)[1])
    code, out = cli("registry", "match", str(copy), "--registry", str(reg), "--json")
    assert code == 0
    m = json.loads(out)["results"][0]["matches"][0]
    assert m["entry"]["name"] == "o1.png" and m["entry"]["producer"] == "acme"
    assert m["entry"]["produce_id"] == "run-7" and m["level"] == "exact"
    code, out = cli("registry", "match", str(copy), str(other), "--registry", str(reg))
    assert code == 1  # one file matched nothing
    assert "o1.png" in out and "none" in out

    code, out = cli("registry", "list", "--registry", str(reg), "--json")
    assert code == 0 and json.loads(out)["total"] == 3
    code, out = cli("registry", "remove", "run-7", "--registry", str(reg), "--json")
    assert code == 0 and json.loads(out)["entries"] == 0


def test_match_reports_unreadable_files_and_missing_registry(tmp_path: Path) -> None:
    code, _ = cli(
        "registry", "match", str(tmp_path / "x.jpg"), "--registry", str(tmp_path / "no.sqlite")
    )
    assert code == 1  # no registry
    reg = tmp_path / "r.sqlite"
    f = _write(tmp_path / "a.jpg", G.image(0)[1])
    assert cli("registry", "add", str(f), "--registry", str(reg), "--producer", "p")[0] == 0
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20)
    code, out = cli("registry", "match", str(bad), "--registry", str(reg), "--json")
    assert code == 3 and "error" in json.loads(out)["results"][0]


def test_add_uses_the_files_aigc_record(tmp_path: Path) -> None:
    """A labelled file is registered with its own ContentProducer and ProduceID."""
    from synthlabel.pipeline.labeling import LabelOptions, label_file

    src = _write(tmp_path / "in.jpg", G.image(6)[1])
    opts = LabelOptions(producer=PRODUCER, produce_id="job-42", visible=False)
    res = label_file(src, tmp_path / "out.jpg", opts)
    assert not res.error, res.error
    reg = tmp_path / "r.sqlite"
    code, out = cli("registry", "add", str(tmp_path / "out.jpg"), "--registry", str(reg), "--json")
    assert code == 0, out
    item = json.loads(out)["added"][0]
    assert item["produce_id"] == "job-42" and item["record"] is True
