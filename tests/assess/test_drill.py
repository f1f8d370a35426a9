"""`synthlabel drill` on small files labelled by our pipeline: which labels survive which
attacks (real behaviour: metadata strip removes the record, not the watermark), the JSON and
the report sections, and the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile  # type: ignore[import-untyped]
from typer.testing import CliRunner

from synthlabel.assess.drill import DrillOptions, DrillResult, run_drill
from synthlabel.assess.samples import SAMPLE_PRODUCER, watermarked_text
from synthlabel.assess.sections import Section
from synthlabel.cli.main import app
from synthlabel.model.keys import KeyStore
from synthlabel.pipeline.labeling import LabelOptions, label_file

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
runner = CliRunner()


def _scene(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([60 + 150 * yy, 90 + 100 * xx, 170 - 80 * yy], axis=-1)
    img += (
        25 * np.kron(rng.normal(0, 1, (h // 16 + 1, w // 16 + 1, 1)), np.ones((16, 16, 3)))[:h, :w]
    )
    return np.clip(img + rng.normal(0, 4, (h, w, 1)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("drill")
    home = d / "keys"
    KeyStore(home).generate(algorithm="sm2", name="t")
    raw = {"image": d / "raw.png", "audio": d / "raw.wav", "text": d / "raw.md"}
    Image.fromarray(_scene(192, 256)).save(raw["image"])
    t = np.arange(4 * 16000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    wavfile.write(raw["audio"], 16000, (tone * 32767).astype(np.int16))
    raw["text"].write_text(f"# Notes\n\n{watermarked_text(260)}\n", encoding="utf-8")
    out: dict[str, object] = {"home": str(home)}
    for kind, src in raw.items():
        dest = d / f"sample{src.suffix}"
        res = label_file(
            src,
            dest,
            LabelOptions(
                producer=SAMPLE_PRODUCER,
                sign_key="t",
                key_home=str(home),
                watermark=None if kind == "text" else "auto",
                audio_mode="rhythm",
            ),
        )
        assert res.ok, res.error
        out[kind] = dest
    return out


ATTACKS = (
    "image.strip",
    "image.jpeg70",
    "audio.strip",
    "audio.mp3_64k",
    "text.copy_paste",
    "text.synonyms",
)


@pytest.fixture(scope="module")
def result(labelled: dict[str, object]) -> DrillResult:
    files = [Path(str(labelled[k])) for k in ("image", "audio", "text")]
    options = DrillOptions(attacks=ATTACKS, key_home=str(labelled["home"]), seed=1)
    return run_drill(files, options, workers=2)


def _trial(result: DrillResult, attack: str) -> dict[str, bool]:
    (t,) = [t for t in result.trials if t.attack == attack]
    assert not t.error, t.error
    return t.survived


def test_baselines_carry_record_signature_and_watermark(result: DrillResult) -> None:
    by_kind = {b.media_kind: b for b in result.baselines}
    assert set(by_kind) == {"image", "audio", "text"}
    for b in by_kind.values():
        assert {"record", "signature", "watermark", "verdict"} <= set(b.kinds), b.path
        assert b.observation.verdict == "confirmed"
    assert "visible" in by_kind["text"].kinds  # the notice is read without OCR
    assert len(by_kind["image"].observation.payloads[0]) == 16  # 64-bit payload


def test_metadata_strip_removes_the_record_but_not_the_watermark(result: DrillResult) -> None:
    for attack in ("image.strip", "audio.strip"):
        s = _trial(result, attack)
        assert s["record"] is False and s["signature"] is False, attack
        assert s["watermark"] is True and s["verdict"] is True, attack


def test_lossy_codecs_keep_the_watermark(result: DrillResult) -> None:
    for attack in ("image.jpeg70", "audio.mp3_64k"):
        s = _trial(result, attack)
        assert s["watermark"] is True and s["record"] is False, attack


def test_text_copy_paste_and_edits(result: DrillResult) -> None:
    cp = _trial(result, "text.copy_paste")
    assert cp["record"] is False and cp["visible"] is True and cp["watermark"] is True
    syn = _trial(result, "text.synonyms")
    # the front matter stays but the edit breaks the signature's content binding
    assert syn["record"] is True and syn["signature"] is False


def test_summary_json_and_sections(result: DrillResult) -> None:
    doc = json.loads(json.dumps(result.to_dict()))
    assert doc["schema"] == "synthlabel.drill/1" and doc["seed"] == 1
    img = doc["summary"]["survival"]["image"]
    assert img["image.strip"]["record"] == {"present": 1, "survived": 0, "rate": 0.0}
    assert img["image.strip"]["watermark"]["rate"] == 1.0
    assert doc["summary"]["trials"] == len(ATTACKS) and doc["summary"]["untraceable"] == 0
    sections = [Section.from_dict(s) for s in doc["sections"]]
    assert [s.title for s in sections] == [
        "Attack drill: label survival",
        "Attack drill: image",
        "Attack drill: audio",
        "Attack drill: text",
    ]
    assert sections == result.sections()  # JSON round trip
    image = sections[1]
    chart = image.charts[0]
    assert chart.labels == ["strip", "jpeg70"] and chart.max_value == 100.0
    assert chart.series["implicit record"] == [0.0, 0.0]
    assert chart.series["watermark"] == [100.0, 100.0]
    assert all(len(v) == len(chart.labels) for v in chart.series.values())
    assert chart.colours["watermark"] == sections[0].charts[0].colours["watermark"]
    assert len(set(chart.colours.values())) == len(chart.series)  # one colour per label kind
    table = image.tables[0]
    assert table.rows[0][0] == "image.strip" and table.row_status == ["pass", "pass"]
    assert "0/1 (0 %)" in table.rows[0] and "1/1 (100 %)" in table.rows[0]
    assert sections[0].status == "pass" and sections[0].metrics["still traceable"] == "6/6"


def cli(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["drill", *args])
    return res.exit_code, res.stdout, res.stderr


def test_cli_json_output_file_and_table(labelled: dict[str, object], tmp_path: Path) -> None:
    img = str(labelled["image"])
    out = tmp_path / "drill.json"
    code, stdout, _ = cli(
        img, "-a", "image.strip", "--home", str(labelled["home"]), "-o", str(out), "--json"
    )
    assert code == 0
    doc = json.loads(stdout)
    assert doc == json.loads(out.read_text()) and doc["sections"]
    assert doc["trials"][0]["survived"]["watermark"] is True
    code, stdout, _ = cli(img, "-a", "image.strip", "--home", str(labelled["home"]))
    assert code == 0 and "image: labels surviving each attack" in stdout
    assert "1/1 attacked copies keep at least one label" in stdout


def test_cli_generate_keeps_samples_and_attacked_copies(tmp_path: Path) -> None:
    work = tmp_path / "work"
    code, stdout, _ = cli(
        "--generate", "--sample-kinds", "text", "-a", "text.copy_paste", "--work-dir", str(work),
        "--json",
    )  # fmt: skip
    assert code == 0, stdout
    doc = json.loads(stdout)
    (trial,) = doc["trials"]
    assert trial["survived"] == {
        "record": False,
        "signature": False,
        "watermark": True,
        "visible": True,
        "verdict": True,
    }
    assert (work / "samples" / "text.md").is_file() and Path(trial["output"]).is_file()
    assert Path(trial["output"]).suffix == ".txt"


def test_cli_errors(labelled: dict[str, object], tmp_path: Path) -> None:
    img = str(labelled["image"])
    code, _, err = cli(img, "-a", "image.nope")
    assert code == 2 and "no attack 'image.nope'" in err
    code, _, err = cli(img, "--detector", "nope")
    assert code == 2 and "no detector 'nope'" in err
    code, _, err = cli()
    assert code == 2 and "--generate" in err
    code, _, err = cli(str(tmp_path / "missing.png"))
    assert code == 3 and "missing.png" in err
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    code, stdout, _ = cli(str(junk), "-a", "image.strip", "--json")
    assert code == 3 and json.loads(stdout)["inputs"][0]["error"]
    code, stdout, _ = cli("--list", "--json")
    listing = json.loads(stdout)
    assert code == 0 and "image.screenshot" in {a["id"] for a in listing["attacks"]}
    assert "default" in listing["suites"]


def test_attacks_only_run_on_formats_they_handle(tmp_path: Path) -> None:
    src = tmp_path / "doc.json"
    src.write_text('{"answer": "The quick brown fox makes a small picture."}\n')
    dest = tmp_path / "labelled.json"
    assert label_file(src, dest, LabelOptions(producer=SAMPLE_PRODUCER)).ok
    res = run_drill([dest], DrillOptions(attacks=("text.synonyms",)), workers=1)
    assert res.trials == [] and res.baselines[0].kinds
    assert res.notes == [f"{dest}: no selected attack works on json files"]


def test_registry_match_is_a_label_kind(labelled: dict[str, object], tmp_path: Path) -> None:
    from synthlabel.detect import hashes, hashregistry

    img = Path(str(labelled["image"]))
    reg = hashregistry.Registry(tmp_path / "reg.sqlite")
    reg.add(hashes.hash_file(img), name="sample")
    reg.close()
    options = DrillOptions(
        attacks=("image.strip", "image.jpeg70"),
        key_home=str(labelled["home"]),
        registry_path=str(tmp_path / "reg.sqlite"),
    )
    res = run_drill([img], options, workers=1)
    assert "registry" in res.baselines[0].kinds
    assert all(t.survived["registry"] for t in res.trials)
    assert "registry match" in res.sections()[1].charts[0].series
