"""Batch scanning with the local engine: rows, sinks, resume, inputs and the CLI."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from synthlabel.batch import (
    COLUMN_NAMES,
    FileSink,
    LocalExecutor,
    iter_paths,
    run_scan,
    scan_one,
)
from synthlabel.batch.arrow import schema
from synthlabel.batch.engine import WORKER_DIED
from synthlabel.cli.main import app
from synthlabel.errors import SynthlabelError
from tests.batch.conftest import PRODUCER, Corpus

runner = CliRunner()


def check_rows(corpus: Corpus, rows: list[Mapping[str, Any]]) -> None:
    """Every corpus file exactly once, with the expected verdict, compliance and error."""
    by_path = {r["path"]: r for r in rows}
    assert len(by_path) == len(rows) == len(corpus.expected)
    for rel, (verdict, compliance, error) in corpus.expected.items():
        row = by_path[str(corpus.root / rel)]
        assert row["verdict"] == verdict, rel
        assert row["compliance"] == compliance, rel
        if error is None:
            assert row["error"] is None, (rel, row["error"])
        else:
            assert error in (row["error"] or ""), (rel, row["error"])


def read_out(out: Path) -> list[dict[str, Any]]:
    if out.suffix == ".parquet":
        return pq.read_table(out).to_pylist()  # type: ignore[no-any-return]
    return [json.loads(line) for line in out.read_text().splitlines()]


# ------------------------------------------------------------------------------ scan_one
def test_scan_one_row_fields(corpus: Corpus) -> None:
    row = scan_one(corpus.root / "img/signed.jpg", corpus.config())
    assert list(row) == list(COLUMN_NAMES)
    data = (corpus.root / "img/signed.jpg").read_bytes()
    import hashlib

    assert row["sha256"] == hashlib.sha256(data).hexdigest()
    assert row["size"] == len(data)
    assert (row["media_kind"], row["format"]) == ("image", "jpeg")
    assert (row["record_label"], row["content_producer"]) == ("1", PRODUCER)
    assert row["produce_id"]
    assert (row["signature"], row["binding"], row["signer_trusted"]) == ("valid", "intact", True)
    assert row["label_value"] == "1" and row["policy"].endswith("/1")
    evidence = json.loads(row["evidence"])
    assert any(f["code"].startswith("aigc.record") for f in evidence)
    assert "aigc" in row["detectors"] and row["reasons"]
    assert row["elapsed_ms"] > 0 and row["synthlabel_version"]


def test_scan_one_bad_files_give_error_rows(corpus: Corpus, tmp_path: Path) -> None:
    for rel in ("bad/truncated.jpg", "bad/garbage.bin", "bad/empty.png"):
        row = scan_one(corpus.root / rel, corpus.config())
        assert row["error"] and row["verdict"] is None and row["sha256"] is None
    missing = scan_one(tmp_path / "nope.jpg", corpus.config())
    assert missing["error"] == "no such file" and missing["size"] is None
    directory = scan_one(tmp_path, corpus.config())
    assert directory["error"] == "is a directory"


# -------------------------------------------------------------------------------- engine
def test_local_engine_matches_expectations_and_scan_one(corpus: Corpus) -> None:
    rows = list(LocalExecutor(2, chunk=3).map(iter(corpus.paths()), corpus.config()))
    check_rows(corpus, rows)
    # the engine adds nothing of its own: same rows as scan_one in this process
    serial = {p: scan_one(p, corpus.config()) for p in corpus.paths()}
    for row in rows:
        want = dict(serial[row["path"]])
        got = dict(row)
        want.pop("elapsed_ms"), got.pop("elapsed_ms")
        assert got == want


def test_a_file_that_kills_its_worker_gets_a_row_and_the_scan_goes_on(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHLABEL_FAULT_CRASH", "plain-1.png")
    rows = list(LocalExecutor(2, chunk=4).map(corpus.paths(), corpus.config()))
    by_path = {r["path"]: r for r in rows}
    assert len(rows) == len(by_path) == len(corpus.expected)
    assert by_path[str(corpus.root / "img/plain-1.png")]["error"] == WORKER_DIED
    others = [r for p, r in by_path.items() if not p.endswith("plain-1.png")]
    assert sum(1 for r in others if r["error"]) == 3  # only the three broken files


# --------------------------------------------------------------------------------- sinks
@pytest.mark.parametrize("name", ["out.parquet", "out.jsonl"])
def test_scan_to_file(corpus: Corpus, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    summary = run_scan(
        iter_paths([str(corpus.root)]), corpus.config(), LocalExecutor(2), FileSink(out)
    )
    assert summary.files == len(corpus.expected) and summary.errors == 3
    assert summary.verdicts == {"confirmed": 9, "no_trace": 9, "possible": 1}
    assert not (tmp_path / f"{name}.parts").exists()
    rows = read_out(out)
    check_rows(corpus, rows)
    assert all(list(r) == list(COLUMN_NAMES) for r in rows)


def test_parquet_schema_and_row_groups(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    sink = FileSink(out, shard_rows=5)
    run_scan(corpus.paths(), corpus.config(), LocalExecutor(1), sink)
    meta = pq.ParquetFile(out)
    assert meta.schema_arrow.equals(schema())
    assert meta.num_row_groups == 5  # 22 rows in shards of 5: one row group per shard
    t = pq.read_table(out)
    assert str(t.schema.field("watermarks").type) == "list<element: string>"
    assert str(t.schema.field("size").type) == "int64"


def test_output_name_must_say_the_format(tmp_path: Path) -> None:
    with pytest.raises(SynthlabelError, match=r"\.parquet or \.jsonl"):
        FileSink(tmp_path / "out.csv")
    with pytest.raises(SynthlabelError, match="output directory does not exist"):
        FileSink(tmp_path / "nope" / "out.jsonl")


# -------------------------------------------------------------------------------- resume
class Interrupt(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("name", ["r.parquet", "r.jsonl"])
def test_resume_skips_done_files(corpus: Corpus, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    seen: list[str] = []

    def stop_after_twelve(row: Mapping[str, Any]) -> None:
        seen.append(row["path"])
        if len(seen) == 12:
            raise Interrupt  # what Ctrl-C does in the middle of a run

    with pytest.raises(Interrupt):
        run_scan(
            corpus.paths(),
            corpus.config(),
            LocalExecutor(2),
            FileSink(out, shard_rows=5),
            on_row=stop_after_twelve,
        )
    assert not out.exists()  # nothing final until the scan completes
    parts = tmp_path / f"{name}.parts"
    assert parts.is_dir()
    # Without --resume the leftovers are not silently thrown away
    with pytest.raises(SynthlabelError, match="--resume"):
        FileSink(out)
    sink = FileSink(out, resume=True)
    done = sink.done()
    assert done == set(seen)  # every received row was kept: the last partial shard too
    again: list[str] = []
    summary = run_scan(
        corpus.paths(),
        corpus.config(),
        LocalExecutor(2),
        sink,
        on_row=lambda r: again.append(r["path"]),
    )
    assert summary.skipped == 12 and summary.files == len(corpus.expected) - 12
    assert not set(again) & done  # nothing redone
    check_rows(corpus, read_out(out))
    assert not parts.exists()
    # Resuming a finished scan does nothing and keeps the output
    before = out.read_bytes()
    summary = run_scan(
        corpus.paths(), corpus.config(), LocalExecutor(2), FileSink(out, resume=True)
    )
    assert (summary.files, summary.skipped) == (0, len(corpus.expected))
    assert out.read_bytes() == before


def test_resume_from_a_finished_output_with_new_files(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    paths = corpus.paths()
    run_scan(paths[:10], corpus.config(), LocalExecutor(2), FileSink(out))
    summary = run_scan(paths, corpus.config(), LocalExecutor(2), FileSink(out, resume=True))
    assert (summary.skipped, summary.files) == (10, len(paths) - 10)
    check_rows(corpus, read_out(out))


# -------------------------------------------------------------------------------- inputs
def test_inputs_walk_glob_and_lists(corpus: Corpus, tmp_path: Path) -> None:
    walked = list(iter_paths([str(corpus.root)]))
    assert sorted(walked) == corpus.paths()  # the hidden file is skipped
    jpgs = list(iter_paths([str(corpus.root)], globs=["*.jpg"]))
    assert len(jpgs) == 10 and all(p.endswith(".jpg") for p in jpgs)
    audio = list(iter_paths([str(corpus.root)], globs=["audio/*"]))
    assert sorted(Path(p).name for p in audio) == ["lab.wav", "plain.wav"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"{corpus.paths()[0]}\n\n{corpus.root / 'audio'}\n{tmp_path / 'gone'}\n")
    listed = list(iter_paths([], lists=[str(listing)]))
    assert listed[0] == corpus.paths()[0] and len(listed) == 4
    assert listed[-1] == str(tmp_path / "gone")  # kept: its row will say it is missing


# ----------------------------------------------------------------------------------- CLI
def test_cli_json_summary_and_exit_code(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"
    res = runner.invoke(
        app,
        [
            "scan",
            str(corpus.root),
            "--out",
            str(out),
            "-j",
            "2",
            "--json",
            "--home",
            str(corpus.home),
            "--no-watermarks",
        ],
    )
    assert res.exit_code == 3, res.output  # three files could not be read
    summary = json.loads(res.stdout)
    assert summary["schema"] == "synthlabel.scan/1" and summary["engine"] == "local"
    assert summary["files"] == len(corpus.expected) and summary["errors"] == 3
    assert summary["verdicts"] == {"confirmed": 9, "no_trace": 9, "possible": 1}
    check_rows(corpus, read_out(out))


def test_cli_stdin_list_and_table(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "stdin.parquet"
    good = [p for p in corpus.paths() if "/bad/" not in p]
    res = runner.invoke(
        app,
        ["scan", "-", "--out", str(out), "--metadata-only", "--home", str(corpus.home)],
        input="\n".join(good) + "\n",
    )
    assert res.exit_code == 0, res.output
    assert "scanned" in res.stdout and str(len(good)) in res.stdout
    rows = read_out(out)
    assert sorted(r["path"] for r in rows) == good
    assert all(r["watermarks"] == [] for r in rows)  # --metadata-only: no watermark search
    assert not any("traces-pixels" in r["detectors"] for r in rows)


def test_cli_usage_errors(corpus: Corpus, tmp_path: Path) -> None:
    cases = [
        (["scan", str(corpus.root)], "--out is required"),
        (["scan", "--out", str(tmp_path / "x.jsonl")], "give files"),
        (["scan", str(corpus.root), "--out", str(tmp_path / "x.csv")], ".parquet or .jsonl"),
        (
            ["scan", str(corpus.root), "-o", str(tmp_path / "x.jsonl"), "--engine", "spark"],
            "local or ray",
        ),
        (
            ["scan", "--list", str(tmp_path / "none.txt"), "-o", str(tmp_path / "x.jsonl")],
            "no such list file",
        ),
        (["scan", str(corpus.root), "-o", str(tmp_path / "x.jsonl"), "--policy", "nope"], "nope"),
    ]
    for args, message in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.output


def test_docs_list_every_column_in_order() -> None:
    from synthlabel.batch import COLUMNS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "scan.md").read_text()
    section = doc.split("## Output schema", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    documented = [(line.split("`")[1], line.split("|")[2].strip()) for line in table]
    assert documented == [(name, kind) for name, kind, _ in COLUMNS]


def test_ctrl_c_keeps_finished_rows_and_resume_completes(corpus: Corpus, tmp_path: Path) -> None:
    """A real SIGINT to the real command: exit 130, no traceback, then --resume finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    many = tmp_path / "many"
    many.mkdir()
    images = [p for p in corpus.paths() if p.endswith((".jpg", ".png")) and "/bad/" not in p]
    for i in range(400):
        (many / f"{i:04d}{Path(images[i % len(images)]).suffix}").symlink_to(
            images[i % len(images)]
        )
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "synthlabel.cli.main", "scan", str(many), "-o", str(out)]
    cmd += ["-j", "2", "--no-watermarks"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = tmp_path / "r.jsonl.parts"
    deadline = time.monotonic() + 60
    while not parts.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the scan finished before the signal arrived")
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr
    if out.exists():  # the signal came after the final merge: nothing left to resume
        pytest.skip("the scan had written its output before the signal arrived")
    kept = FileSink(out, resume=True).done()
    res = subprocess.run(
        [*cmd, "--resume", "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["skipped"] == len(kept) and summary["files"] == 400 - len(kept)
    rows = read_out(out)
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in many.iterdir())
    assert os.path.isdir(parts) is False


def test_resume_onto_an_output_of_another_schema_is_a_clear_error(
    corpus: Corpus, tmp_path: Path
) -> None:
    import pyarrow as pa

    out = tmp_path / "r.parquet"
    pq.write_table(pa.table({"path": ["x"], "other": [1]}), out)
    sink = FileSink(out, resume=True)
    with pytest.raises(SynthlabelError, match="cannot write output"):
        run_scan(corpus.paths()[:2], corpus.config(), LocalExecutor(1), sink)
    assert pq.read_table(out).column_names == ["path", "other"]  # left as it was


@pytest.mark.parametrize("name", ["r.parquet", "r.jsonl"])
def test_a_file_name_that_is_not_utf8(corpus: Corpus, tmp_path: Path, name: str) -> None:
    import os

    odd = tmp_path / "odd"
    odd.mkdir()
    raw = os.path.join(os.fsencode(odd), b"caf\xe9.jpg")  # Latin-1, not UTF-8
    with open(raw, "wb") as fh:
        fh.write((corpus.root / "img/lab-0.jpg").read_bytes())
    out = tmp_path / name
    summary = run_scan(iter_paths([str(odd)]), corpus.config(), LocalExecutor(1), FileSink(out))
    assert (summary.files, summary.errors) == (1, 0)
    (row,) = read_out(out)
    assert row["path"] == str(odd / "caf\\xe9.jpg") and row["verdict"] == "confirmed"
    again = run_scan(
        iter_paths([str(odd)]), corpus.config(), LocalExecutor(1), FileSink(out, resume=True)
    )
    assert (again.files, again.skipped) == (0, 1)
