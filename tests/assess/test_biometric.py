"""The biometric (face/voice) editing checklist: statuses from answers and evidence, the
automatic label check on sample outputs, the report section and the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from synthlabel.assess.biometric import (
    ChecklistError,
    conformance_available,
    evaluate,
    load_answers,
    load_checklist,
    parse_answers,
)
from synthlabel.assess.sections import Section
from synthlabel.cli.main import app

runner = CliRunner()
PRODUCER = "001191110000MA0000000H10001"
ITEMS = [
    "consent-prompt",
    "consent-record",
    "security-assessment",
    "algorithm-review",
    "label-face",
    "label-voice",
    "identity-verification",
    "logs-kept",
]


def complete_answers(d: Path) -> Path:
    """Every duty answered yes with the evidence it asks for (files made here)."""
    (d / "evidence").mkdir(parents=True)
    for name in ("consent.png", "consents.csv", "assessment.pdf"):
        (d / "evidence" / name).write_bytes(name.encode() * 10)
    (d / "samples").mkdir()
    (d / "samples" / "swap1.png").write_bytes(b"not judged in manual mode")
    (d / "samples" / "voice1.wav").write_bytes(b"not judged in manual mode")
    doc = {
        "service": {"name": "FaceFun", "edits": ["face", "voice"]},
        "items": {
            "consent-prompt": {"answer": "yes", "evidence": ["evidence/consent.png"]},
            "consent-record": {"answer": True, "evidence": "evidence/consents.csv"},
            "security-assessment": {"answer": "yes", "evidence": ["evidence/assessment.pdf"]},
            "algorithm-review": {"answer": "yes", "statement": "Quarterly; last 2025-06-30."},
            "label-face": {"answer": "yes", "samples": ["samples/swap1.png"]},
            "label-voice": {"answer": "yes", "samples": ["samples/voice1.wav"]},
            "identity-verification": {"answer": "是", "statement": "Mobile number + SMS code."},
            "logs-kept": {"answer": "yes", "evidence": ["evidence/"]},
        },
    }
    p = d / "answers.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return p


def test_shipped_checklist_covers_the_duties() -> None:
    cl = load_checklist()
    assert [i.id for i in cl.items] == ITEMS
    clauses = " ".join(i.clause for i in cl.items)
    for art in (
        "DSP Art. 14 ¶2",
        "DSP Art. 15",
        "DSP Art. 17 ¶1 (2)",
        "DSP Art. 17 ¶1 (3)",
        "DSP Art. 9",
        "LM Art. 9",
    ):
        assert art in clauses
    assert cl.item("label-face").check == "conformance" and cl.item("label-face").applies_to == (
        "face",
    )
    assert len(cl.sha256) == 64


def test_complete_answers_pass(tmp_path: Path) -> None:
    cl = load_checklist()
    res = evaluate(cl, load_answers(complete_answers(tmp_path), cl), automatic=False)
    assert {r.item.id: r.status for r in res.items} == dict.fromkeys(ITEMS, "pass")
    assert res.status == "pass"
    face = next(r for r in res.items if r.item.id == "label-face")
    assert face.check is not None and face.check.mode == "manual" and "manual" in face.message
    ev = next(r for r in res.items if r.item.id == "consent-prompt").evidence[0]
    data = (tmp_path / "evidence" / "consent.png").read_bytes()
    assert ev.sha256 == hashlib.sha256(data).hexdigest() and ev.size == len(data)
    logs = next(r for r in res.items if r.item.id == "logs-kept")
    assert len(logs.evidence) == 3  # a directory: every file in it, hashed
    doc = res.to_dict()
    assert doc["schema"] == "synthlabel.biometric/1" and doc["summary"]["pass"] == 8
    sec = Section.from_dict(doc["sections"][0])
    assert sec.kind == "biometric" and sec.status == "pass"
    assert sec.tables[0].row_status == ["pass"] * 8
    assert sec.charts[0].kind == "pie" and sec.charts[0].series == {"items": [8.0]}
    assert any(row[1] == "DSP Art. 14 ¶2" for row in sec.tables[0].rows)


def test_missing_evidence_needs_evidence(tmp_path: Path) -> None:
    cl = load_checklist()
    p = complete_answers(tmp_path)
    doc = yaml.safe_load(p.read_text("utf-8"))
    doc["items"]["consent-prompt"] = {"answer": "yes"}  # no file
    doc["items"]["security-assessment"]["evidence"] = ["evidence/gone.pdf"]  # not found
    doc["items"]["algorithm-review"] = {"answer": "yes"}  # neither file nor statement
    doc["items"]["label-face"] = {"answer": "yes"}  # no samples
    del doc["items"]["logs-kept"]  # unanswered
    doc["items"]["identity-verification"] = {"answer": "n/a"}  # n/a without a reason
    res = evaluate(cl, parse_answers(doc, cl, base_dir=tmp_path), automatic=False)
    st = {r.item.id: (r.status, r.message) for r in res.items}
    assert st["consent-prompt"][0] == "needs-evidence"
    assert st["consent-prompt"][1].startswith("answered yes without an evidence file")
    assert st["security-assessment"] == ("needs-evidence", "evidence not found: evidence/gone.pdf")
    assert "an evidence file or a statement" in st["algorithm-review"][1]
    assert "sample output files" in st["label-face"][1]
    assert st["logs-kept"] == ("needs-evidence", "not answered")
    assert st["identity-verification"] == ("needs-evidence", "n/a needs a statement saying why")
    assert st["consent-record"][0] == "pass"
    assert res.status == "warn"
    gone = next(r for r in res.items if r.item.id == "security-assessment").evidence[0]
    assert gone.sha256 is None


def test_no_fails_and_modalities_limit_what_applies(tmp_path: Path) -> None:
    cl = load_checklist()
    doc = yaml.safe_load(complete_answers(tmp_path).read_text("utf-8"))
    doc["service"]["edits"] = ["face"]
    doc["items"]["consent-record"] = {"answer": False}
    res = evaluate(cl, parse_answers(doc, cl, base_dir=tmp_path), automatic=False)
    st = {r.item.id: r.status for r in res.items}
    assert st["label-voice"] == "not-applicable" and st["consent-record"] == "fail"
    assert res.status == "fail" and res.counts["not-applicable"] == 1


def test_automatic_check_decides_label_items(tmp_path: Path) -> None:
    cl = load_checklist()
    ans = load_answers(complete_answers(tmp_path), cl)

    def fake_runner(files: list[Path]) -> list[tuple[str, bool, list[str]]]:
        return [
            (str(f), f.suffix == ".png", [] if f.suffix == ".png" else ["no prompt"]) for f in files
        ]

    res = evaluate(cl, ans, runner=fake_runner)
    st = {r.item.id: (r.status, r.message) for r in res.items}
    assert st["label-face"] == (
        "pass",
        "answered yes with 1 sample; label check (synthlabel assess): 1 of 1 sample conform",
    )
    assert st["label-voice"][0] == "fail"
    assert "1 of 1 sample do not conform (first: voice1.wav: no prompt)" in st["label-voice"][1]

    def broken(files: list[Path]) -> list[tuple[str, bool, list[str]]]:
        raise RuntimeError("ocr missing")

    res = evaluate(cl, ans, runner=broken)
    face = next(r for r in res.items if r.item.id == "label-face")
    assert face.status == "needs-evidence" and "failed to run: ocr missing" in face.message


@pytest.mark.skipif(not conformance_available(), reason="synthlabel.assess.conformance absent")
def test_real_label_check_on_sample_outputs(tmp_path: Path) -> None:
    import synthlabel

    rng = np.random.default_rng(1)
    src = tmp_path / "face.png"
    Image.fromarray(rng.integers(60, 200, (360, 480, 3), dtype=np.uint8)).save(src)
    good = tmp_path / "samples" / "swap-labelled.png"
    good.parent.mkdir()
    synthlabel.label(str(src), str(good), producer=PRODUCER)
    cl = load_checklist()
    doc = {
        "service": {"name": "x", "edits": ["face"]},
        "items": {"label-face": {"answer": "yes", "samples": ["samples/"]}},
    }
    res = evaluate(cl, parse_answers(doc, cl, base_dir=tmp_path))
    face = next(r for r in res.items if r.item.id == "label-face")
    assert face.check is not None and face.check.mode == "automatic"
    assert face.status == "pass", face.message
    (tmp_path / "samples" / "raw.png").write_bytes(src.read_bytes())  # unlabelled
    res = evaluate(cl, parse_answers(doc, cl, base_dir=tmp_path))
    face = next(r for r in res.items if r.item.id == "label-face")
    assert face.status == "fail" and "1 of 2 samples do not conform" in face.message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("items:\n  selfie-check: yes\n", "items.selfie-check: unknown checklist item"),
        (
            "items:\n  consent-prompt: {answer: maybe}\n",
            "items.consent-prompt.answer: yes, no or n/a, found 'maybe'",
        ),
        (
            "items:\n  consent-prompt: {answer: yes, proof: x}\n",
            "items.consent-prompt.proof: unknown key",
        ),
        ("service: {edits: [fingerprint]}\n", "service.edits: a list of face, voice"),
        ("items: [\n  bad\n", "not valid YAML at line"),
        (
            "items:\n  consent-prompt: {answer: yes, evidence: 3}\n",
            "items.consent-prompt.evidence: a path or a list of paths",
        ),
    ],
)
def test_bad_answers_name_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "answers.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ChecklistError) as ei:
        load_answers(p, load_checklist())
    assert str(ei.value).startswith(f"{p}: ") and needle in str(ei.value), str(ei.value)


def test_cli_template_checklist_and_exit_codes(tmp_path: Path) -> None:
    tpl = tmp_path / "tpl.yaml"
    res = runner.invoke(app, ["biometric", "template", "-o", str(tpl)])
    assert res.exit_code == 0 and "8 items" in res.stdout
    doc = yaml.safe_load(tpl.read_text("utf-8"))
    assert set(doc["items"]) == set(ITEMS) and doc["items"]["label-face"]["samples"] == []
    out = tmp_path / "bio.json"
    res = runner.invoke(app, ["biometric", "checklist", "--answers", str(tpl), "-o", str(out)])
    assert res.exit_code == 6, res.output  # nothing answered yet: all need evidence
    assert json.loads(out.read_text("utf-8"))["summary"]["needs-evidence"] == 8
    good = complete_answers(tmp_path / "svc")
    res = runner.invoke(
        app,
        [
            "biometric",
            "checklist",
            "--answers",
            str(good),
            "-o",
            str(out),
            "--no-auto-check",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == "pass" and doc["sections"][0]["kind"] == "biometric"
    assert json.loads(out.read_text("utf-8")) == doc
    bad = tmp_path / "bad.yaml"
    bad.write_text("items:\n  consent-prompt: no\n", "utf-8")
    res = runner.invoke(
        app, ["biometric", "checklist", "--answers", str(bad), "-o", str(out), "--no-auto-check"]
    )
    assert res.exit_code == 1 and "fail" in res.stdout
    res = runner.invoke(app, ["biometric", "checklist", "-o", str(out)])
    assert res.exit_code == 2 and "--interactive" in res.stderr


def test_cli_interactive_collects_and_saves_answers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("consent.png").write_bytes(b"png")
    keys = [
        "FaceFun",  # service name
        "y",
        "n",  # edits faces, not voices
        "yes",
        "consent.png",  # consent-prompt
        "no",  # consent-record
        "skip",  # security-assessment
        "yes",
        "",
        "Reviewed every quarter.",  # algorithm-review: no file, a statement
        "yes",
        "",  # label-face: no samples
        "n/a",
        "Publishing is not offered.",  # identity-verification
        "maybe",
        "skip",  # logs-kept: a wrong answer is asked again
    ]
    saved = tmp_path / "saved.yaml"
    res = runner.invoke(
        app,
        [
            "biometric",
            "checklist",
            "--interactive",
            "-o",
            "bio.json",
            "--save-answers",
            str(saved),
            "--no-auto-check",
        ],
        input="\n".join(keys) + "\n",
    )
    assert res.exit_code == 1, res.output
    doc = json.loads(Path("bio.json").read_text("utf-8"))
    st = {i["id"]: i["status"] for i in doc["items"]}
    assert st == {
        "consent-prompt": "pass",
        "consent-record": "fail",
        "security-assessment": "needs-evidence",
        "algorithm-review": "pass",
        "label-face": "needs-evidence",
        "label-voice": "not-applicable",
        "identity-verification": "not-applicable",
        "logs-kept": "needs-evidence",
    }
    again = yaml.safe_load(saved.read_text("utf-8"))
    assert again["service"] == {"name": "FaceFun", "edits": ["face"]}
    assert again["items"]["consent-prompt"]["evidence"] == ["consent.png"]
