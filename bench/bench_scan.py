"""Batch-scan throughput: the local engine on 1 and 2 workers against the Ray engine on 2 CPUs.

    python bench/bench_scan.py [--n 1000] [--runs 3] [--mode metadata|default]

The corpus is bench_inspect's (``bench/work/inspect/``, generated once and kept: images of
0.3-1 MP, some labelled, watermarked, C2PA-signed or with A1111/ComfyUI chunks; WAV, MP3,
MP4, Markdown, PDF). Every run is a whole ``synthlabel.batch.run_scan`` to a Parquet file
(inputs walked, every file hashed, rows merged and renamed into place). The Ray cluster is
started once (its start-up is timed on its own) and each Ray run pays for its dataset and
actor pool, as every ``synthlabel scan --engine ray`` does. Median of ``--runs`` runs; the
verdict counts must be equal across engines. Writes bench/results/scan.md and scan.json.

``--mode metadata`` (default): the ``--metadata-only`` scan (detectors up to max_cost
cheap, no pixel decoding, no watermark search), where the engine's own overhead shows most;
``--mode default``: every detector up to max_cost medium without the watermark search.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
RESULTS = ROOT / "bench" / "results"


def config(mode: str) -> Any:
    from synthlabel.batch import ScanConfig
    from synthlabel.pipeline.inspecting import InspectOptions

    cost = "cheap" if mode == "metadata" else "medium"
    return ScanConfig(InspectOptions(detect=True, max_cost=cost, watermarks=False))


def one_run(engine: str, workers: int, corpus: Path, mode: str) -> tuple[float, dict[str, Any]]:
    from synthlabel.batch import FileSink, LocalExecutor, iter_paths, run_scan
    from synthlabel.batch.ray_engine import RayExecutor

    tmp = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        t0 = time.perf_counter()
        ex: Any = LocalExecutor(workers) if engine == "local" else RayExecutor(workers)
        summary = run_scan(
            iter_paths([str(corpus)]), config(mode), ex, FileSink(tmp / "out.parquet")
        )
        took = time.perf_counter() - t0
        return took, summary.to_dict()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", choices=["metadata", "default"], default="metadata")
    args = ap.parse_args()

    from bench.bench_inspect import WORK, build

    t0 = time.perf_counter()
    paths = build(args.n)
    print(f"corpus: {len(paths)} files ({time.perf_counter() - t0:.0f} s)", flush=True)
    # Scan exactly the first n files of the cached corpus: link them into one directory.
    corpus = Path(tempfile.mkdtemp(prefix="bench-scan-corpus-"))
    for p in paths:
        os.symlink(p, corpus / p.name)
    size = sum(p.stat().st_size for p in paths)

    from synthlabel.batch.ray_engine import import_ray

    ray = import_ray()
    t0 = time.perf_counter()
    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    ray_start = time.perf_counter() - t0
    print(f"ray cluster start: {ray_start:.1f} s", flush=True)

    configs = [("local", 1), ("local", 2), ("ray", 2)]
    times: dict[str, list[float]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    try:
        for r in range(args.runs):
            for engine, workers in configs:
                key = f"{engine}/{workers}"
                took, summary = one_run(engine, workers, corpus, args.mode)
                times.setdefault(key, []).append(took)
                summaries[key] = summary
                print(f"run {r} {key}: {took:.2f} s ({summary['files']} files)", flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(corpus, ignore_errors=True)
    verdicts = {k: s["verdicts"] for k, s in summaries.items()}
    errors = {k: s["errors"] for k, s in summaries.items()}
    same = len({json.dumps(v, sort_keys=True) for v in verdicts.values()}) == 1
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: len(paths) / v for k, v in med.items()}
    doc = {
        "files": len(paths),
        "bytes": size,
        "mode": args.mode,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "load_avg_at_end": os.getloadavg(),
        "corpus": str(WORK.relative_to(ROOT)),
        "ray_cluster_start_s": ray_start,
        "runs_s": times,
        "median_s": med,
        "files_per_s": rate,
        "verdicts": verdicts,
        "errors": errors,
        "verdicts_equal": same,
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.mode == "metadata" else f"-{args.mode}"
    (RESULTS / f"scan{suffix}.json").write_text(json.dumps(doc, indent=1))
    lines = [
        f"# Batch scan throughput ({args.mode} mode)",
        "",
        f"`python bench/bench_scan.py --n {args.n} --runs {args.runs} --mode {args.mode}` "
        f"(raw numbers: `scan{suffix}.json`). {len(paths)} files, {size / 1e6:.0f} MB "
        f"(bench_inspect's corpus), {os.cpu_count()} cores, load average at the end "
        f"{os.getloadavg()[0]:.1f}. Each run: walk, inspect, hash, write Parquet. Median of "
        f"{args.runs} runs.",
        "",
        "| engine | workers | median s | files/s | vs local/1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for engine, workers in configs:
        k = f"{engine}/{workers}"
        lines.append(
            f"| {engine} | {workers} | {med[k]:.2f} | {rate[k]:.0f} | "
            f"{rate[k] / rate['local/1']:.2f}x |"
        )
    lines += [
        "",
        f"Ray cluster start-up (once, not in the runs above): {ray_start:.1f} s. "
        f"Verdicts equal across engines: {'yes' if same else 'NO'} "
        f"({json.dumps(verdicts['local/1'], sort_keys=True)}; errors "
        f"{errors['local/1']}).",
        "",
    ]
    (RESULTS / f"scan{suffix}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
