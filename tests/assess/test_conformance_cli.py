"""``synthlabel assess``: exit codes, JSON (published schema), ``-o`` results with report
sections, profile errors as one line naming the file and key, ``--set``, ``--list``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthlabel.cli.main import app
from synthlabel.detect import _ocr
from tests.assess import conformance_samples as cs

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema" / "assess-1.schema.json"
runner = CliRunner()
needs_ocr = pytest.mark.skipif(not _ocr.available(), reason="synthlabel[ocr] not installed")


def cli(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["assess", *args], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A labelled picture and Markdown file (conformant), Markdown without a notice (fails an
    error rule) and an unsigned labelled Markdown file (fails only the signature warning)."""
    d = tmp_path_factory.mktemp("cli")
    home = cs.key_home(d)
    raw = d / "raw"
    raw.mkdir()
    (raw / "pic.png").write_bytes(cs.png_bytes(cs.background(400, 300)))
    (raw / "a.md").write_text("# Report\n\nAll good.\n")
    cs.label(raw / "pic.png", d / "ok.png", home)
    cs.label(raw / "a.md", d / "ok.md", home)
    cs.label(raw / "a.md", d / "nonotice.md", home, visible=False)
    cs.label(raw / "a.md", d / "unsigned.md", home, sign_key=None)
    return {
        "home": home,
        "ok.png": d / "ok.png",
        "ok.md": d / "ok.md",
        "nonotice.md": d / "nonotice.md",
        "unsigned.md": d / "unsigned.md",
    }


@needs_ocr
def test_conformant_files_exit_0_with_json_matching_the_schema(
    files: dict[str, Path], tmp_path: Path
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "results.json"
    code, stdout, stderr = cli(
        str(files["ok.png"]), str(files["ok.md"]), "--home", str(files["home"]),
        "--json", "-o", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    doc = json.loads(stdout)
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert doc == json.loads(out.read_text())  # -o writes the same document
    assert doc["summary"]["conformant"] == 2 and doc["summary"]["score_pct"] == 100.0
    assert doc["sections"][0]["kind"] == "assess" and doc["sections"][0]["status"] == "pass"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


def test_a_failing_error_rule_exits_1_and_names_rule_and_reason(files: dict[str, Path]) -> None:
    code, stdout, _ = cli(
        str(files["nonotice.md"]), str(files["ok.md"]), "--home", str(files["home"])
    )
    assert code == 1
    assert "nonconformant" in stdout and "explicit.text.notice" in stdout
    assert "no notice with both elements" in stdout
    assert "1/2 files conformant" in stdout


def test_warnings_exit_0_unless_fail_on_warning(files: dict[str, Path]) -> None:
    args = (str(files["unsigned.md"]), "--home", str(files["home"]))
    code, stdout, _ = cli(*args)
    assert code == 0
    assert "✗ implicit.signature [warning]: record is not signed" in stdout
    code, _, _ = cli(*args, "--fail-on", "warning")
    assert code == 1
    # a warning made an error with --set
    code, _, _ = cli(*args, "--set", "implicit.signature.severity=error")
    assert code == 1
    # or the rule relaxed: signatures not required
    code, stdout, _ = cli(
        *args, "--set", "implicit.signature.required=false", "--fail-on", "warning"
    )
    assert code == 0, stdout


def test_unreadable_file_exits_3(files: dict[str, Path], tmp_path: Path) -> None:
    code, stdout, _ = cli(str(files["ok.md"]), str(tmp_path / "missing.png"), "--json")
    assert code == 3
    doc = json.loads(stdout)
    assert doc["summary"]["unreadable"] == 1
    assert [f["status"] for f in doc["files"]] == ["conformant", "unreadable"]


def test_profile_errors_are_one_line_usage_errors(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: mine\nversion: 1\ntitle: Mine\nrules:\n"
        "  - id: explicit.caption.size\n    title: Size\n    params: {min_ratio: huge}\n"
    )
    code, _, stderr = cli(str(files["ok.md"]), "--profile", str(bad))
    assert code == 2
    assert stderr.strip() == (
        f"error: {bad}: rules[0] (explicit.caption.size).params.min_ratio: "
        "expected a number, got 'huge'"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\nrules: [\n")
    code, _, stderr = cli(str(files["ok.md"]), "--profile", str(broken))
    assert code == 2 and f"{broken}: not valid YAML at line" in stderr
    assert "Traceback" not in stderr
    code, _, stderr = cli(str(files["ok.md"]), "--profile", "nope")
    assert code == 2 and "unknown profile 'nope'" in stderr
    code, _, stderr = cli(str(files["ok.md"]), "--set", "explicit.caption.size.min_ratio")
    assert code == 2 and "expected RULE.PARAM=VALUE" in stderr
    code, _, stderr = cli(str(files["ok.md"]), "--set", "no.rule.x=1")
    assert code == 2 and "has no rule 'no.rule'" in stderr
    code, _, stderr = cli(str(files["ok.md"]), "--fail-on", "notice")
    assert code == 2 and "--fail-on takes error or warning" in stderr
    code, _, stderr = cli()
    assert code == 2 and "give files or directories" in stderr
    code, _, stderr = cli(str(tmp_path / "empty-dir-that-is-missing"), "--json")
    assert code == 3  # a named path that does not exist is an unreadable file


def test_list_and_show_profile(tmp_path: Path) -> None:
    code, stdout, _ = cli("--list")
    assert code == 0
    for name in ("gb45438", "eu-ai-act-art50", "example-company", "explicit.video.opening"):
        assert name in stdout
    code, stdout, _ = cli("--profile", "example-company", "--show-profile", "--set",
                          "explicit.caption.size.min_ratio=0.07")  # fmt: skip
    assert code == 0
    saved = tmp_path / "resolved.yaml"
    saved.write_text(stdout)
    code, stdout, _ = cli("--profile", str(saved), "--show-profile")
    assert code == 0 and "min_ratio: 0.07" in stdout and "id: example-company" in stdout


def test_console_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("id: x\nversion: 1\ntitle: X\nrules: [{id: unknown.check, title: X}]\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthlabel.cli.main",
            "assess",
            str(tmp_path),
            "--profile",
            str(bad),
        ],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown rule 'unknown.check'" in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_output_is_one_line_naming_the_file(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "missing-dir" / "results.json"
    code, _stdout, stderr = cli(str(files["ok.md"]), "--home", str(files["home"]), "-o", str(out))
    assert code == 1
    assert f"{out}: cannot write the results" in stderr and "Traceback" not in stderr
    assert not out.parent.exists()
