"""The Ray engine in Ray's local mode (one small cluster for the whole module: 2 CPUs, a
150 MB object store, no dashboard): the same rows as the local engine, Parquet via the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from synthlabel.batch import FileSink, LocalExecutor, run_scan
from synthlabel.cli.main import app
from tests.batch.conftest import Corpus
from tests.batch.test_scan import check_rows, read_out

if not os.environ.get("CI"):  # in CI the [ray] extra is installed: a missing one must fail
    pytest.importorskip("ray")

runner = CliRunner()


@pytest.fixture(scope="module")
def local_rows(corpus: Corpus) -> list[dict[str, Any]]:
    # Before Ray starts: the local engine forks, and this process then has no Ray threads.
    return list(LocalExecutor(2).map(corpus.paths(), corpus.config()))


@pytest.fixture(scope="module")
def ray_cluster(local_rows: list[dict[str, Any]]) -> Iterator[Any]:
    from synthlabel.batch.ray_engine import import_ray

    ray = import_ray()
    ray.init(
        num_cpus=2,
        object_store_memory=150 * 1024 * 1024,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def _without_timing(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["path"]: {k: v for k, v in r.items() if k != "elapsed_ms"} for r in rows}


def test_ray_engine_gives_the_local_engines_rows(
    corpus: Corpus, local_rows: list[dict[str, Any]], ray_cluster: Any
) -> None:
    from synthlabel.batch.ray_engine import RayExecutor

    ex = RayExecutor(2, batch_size=3)
    rows = list(ex.map(iter(corpus.paths()), corpus.config()))
    ex.close()
    assert ray_cluster.is_initialized()  # a cluster the engine did not start is left running
    check_rows(corpus, rows)
    assert {(r["path"], r["verdict"], r["error"]) for r in rows} == {
        (r["path"], r["verdict"], r["error"]) for r in local_rows
    }
    assert _without_timing(rows) == _without_timing(local_rows)  # every other column too


def test_ray_engine_windows_and_resume(
    corpus: Corpus, local_rows: list[dict[str, Any]], ray_cluster: Any, tmp_path: Path
) -> None:
    from synthlabel.batch.ray_engine import RayExecutor

    out = tmp_path / "r.parquet"
    paths = corpus.paths()
    run_scan(paths[:7], corpus.config(), RayExecutor(2, window=4), FileSink(out))
    summary = run_scan(
        paths, corpus.config(), RayExecutor(2, window=10), FileSink(out, resume=True)
    )
    assert (summary.skipped, summary.files) == (7, len(paths) - 7)
    rows = read_out(out)
    check_rows(corpus, rows)
    assert _without_timing(rows) == _without_timing(local_rows)


def test_cli_ray_engine(corpus: Corpus, ray_cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "cli.parquet"
    res = runner.invoke(
        app,
        [
            "scan",
            str(corpus.root),
            "--engine",
            "ray",
            "-j",
            "2",
            "--out",
            str(out),
            "--json",
            "--home",
            str(corpus.home),
            "--no-watermarks",
        ],
    )
    assert res.exit_code == 3, res.output
    summary = json.loads(res.stdout)
    assert summary["engine"] == "ray" and summary["files"] == len(corpus.expected)
    assert summary["verdicts"] == {"confirmed": 9, "no_trace": 9, "possible": 1}
    check_rows(corpus, read_out(out))
    res = runner.invoke(
        app,
        ["scan", str(corpus.root), "-o", str(tmp_path / "x.jsonl"), "--ray-address", "127.0.0.1:1"],
    )
    assert res.exit_code == 2 and "--ray-address needs --engine ray" in res.stderr


def test_ray_engine_odd_names_and_a_pool_capped_at_the_cluster(
    corpus: Corpus, ray_cluster: Any, tmp_path: Path
) -> None:
    from synthlabel.batch.ray_engine import RayExecutor

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")  # not UTF-8
    with open(raw, "wb") as fh:
        fh.write((corpus.root / "img/lab-0.jpg").read_bytes())
    # 8 actors asked for on a 2-CPU cluster: the pool is the cluster's 2 CPUs, no actor
    # is left pending
    ex = RayExecutor(8)
    assert ex._pool_size() == 2
    (row,) = list(ex.map([os.fsdecode(raw)], corpus.config()))
    ex.close()
    assert row["path"] == str(tmp_path / "caf\\xe9.jpg") and row["verdict"] == "confirmed"
