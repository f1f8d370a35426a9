"""Service throughput and latency on loopback, with PostgreSQL.

    .venv/bin/python bench/bench_service.py [--n 600] [--clients 8] [--workers 2]

Starts, in its own PostgreSQL schema (dropped at the end): one uvicorn process with the app
(``create_app`` from the environment, no access log) and ``--workers`` ``synthlabel worker``
processes. Then:

* **ingest**: N generated 1-MP JPEGs (1152x864, half labelled with an AIGC record), POSTed to
  ``/api/v1/ingest`` by ``--clients`` threads; timed from the first POST until the queue has
  every job ``done`` (ingests/s end to end), and the accept rate of the POSTs alone. The
  worker runs the metadata path (records, signatures, C2PA, IPTC, metadata traces) with
  ``SYNTHLABEL_INGEST_HASHES=false``: perceptual hashing of stripped images (~30 ms per 1-MP
  image for PDQ + ORB) is off, as it is a content path.
* **inspect latency**: ``POST /api/v1/inspect`` of a small labelled JPEG (320x240), 200
  requests one after another, then 8 clients x 50; p50/p99 per request as the client sees it.

Writes bench/results/service.md and service.json. The machine's cores are shared by the
client, the server, the workers and PostgreSQL; the result says how many there are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
RESULTS = ROOT / "bench" / "results"
PG = os.environ.get("SYNTHLABEL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PRODUCER = "001191110000MA0000000H10001"


def gen_jpegs(n: int) -> list[bytes]:
    import cv2
    import numpy as np

    import synthlabel

    out = []
    rng = np.random.default_rng(1)
    for i in range(n):
        small = rng.integers(0, 255, (27, 36, 3), dtype=np.uint8)
        img = cv2.resize(small, (1152, 864), interpolation=cv2.INTER_CUBIC)
        img = cv2.add(img, rng.integers(0, 12, img.shape, dtype=np.uint8))
        data = bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
        if i % 2 == 0:
            data, _ = synthlabel.label_bytes(
                data, producer=PRODUCER, produce_id=f"bench-{i}", visible=False
            )
        out.append(data)
    return out


def small_labelled() -> bytes:
    import cv2
    import numpy as np

    import synthlabel

    img = cv2.resize(
        np.random.default_rng(2).integers(0, 255, (12, 16, 3), dtype=np.uint8), (320, 240)
    )
    data = bytes(cv2.imencode(".jpg", img)[1].tobytes())
    return synthlabel.label_bytes(data, producer=PRODUCER, produce_id="bench-small", visible=False)[
        0
    ]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=18765)
    args = ap.parse_args()

    import httpx
    import psycopg

    from synthlabel.service.auth import create_user, issue_key
    from synthlabel.service.db.engine import make_engine, session_factory
    from synthlabel.service.db.migrate import upgrade

    schema = f"bench_service_{os.getpid()}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]
    url = f"{PG}?options={quote(f'-csearch_path={schema}')}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "SYNTHLABEL_DATABASE_URL": url,
        "SYNTHLABEL_SECRET_KEY": secret,
        "SYNTHLABEL_BLOB_DIR": str(tmp / "blobs"),
        "SYNTHLABEL_INGEST_HASHES": "false",
        "SYNTHLABEL_AUTO_UPGRADE": "false",
        "PYTHONPATH": str(ROOT / "src"),
    }
    procs: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {}
    try:
        engine = make_engine(url)
        upgrade(engine)
        with session_factory(engine, secret)() as s:
            s.info["actor"] = "bench"
            key, _ = issue_key(s, create_user(s, "bench", "admin"))
            s.commit()
        print("generating images ...", flush=True)
        t0 = time.perf_counter()
        images = gen_jpegs(args.n)
        small = small_labelled()
        print(
            f"  {args.n} JPEGs, mean {statistics.mean(map(len, images)) / 1e3:.0f} kB, "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        py = sys.executable
        server = subprocess.Popen(
            [
                py,
                "-m",
                "uvicorn",
                "synthlabel.service.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
        )
        procs.append(server)
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {key}"}

        def done_count() -> int:
            with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as c:
                return int(
                    c.execute("SELECT count(*) FROM work_queue WHERE status = 'done'").fetchone()[0]
                )  # type: ignore[index]

        for _ in range(args.workers):
            procs.append(
                subprocess.Popen(
                    [
                        py,
                        "-m",
                        "synthlabel.cli.main",
                        "worker",
                        "--poll",
                        "0.05",
                        "--retention-every",
                        "0",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
            )
        time.sleep(3)  # workers up (imports) before the clock starts

        # --- ingest -------------------------------------------------------------------------
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "c"):
                local.c = httpx.Client(base_url=base, headers=headers, timeout=60)
            return local.c  # type: ignore[no-any-return]

        def post(i: int) -> float:
            t = time.perf_counter()
            r = client().post(
                "/api/v1/ingest",
                files={"file": (f"img{i}.jpg", images[i], "image/jpeg")},
                headers={"Idempotency-Key": f"bench-{i}"},
            )
            assert r.status_code == 202, r.text
            return time.perf_counter() - t

        print("ingesting ...", flush=True)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as ex:
            post_lat = list(ex.map(post, range(args.n)))
        accepted_s = time.perf_counter() - t0
        while done_count() < args.n:
            time.sleep(0.05)
            if time.perf_counter() - t0 > 240:
                raise SystemExit(f"timed out: {done_count()}/{args.n} done")
        total_s = time.perf_counter() - t0
        result["ingest"] = {
            "n": args.n,
            "clients": args.clients,
            "workers": args.workers,
            "end_to_end_per_s": round(args.n / total_s, 1),
            "accepted_per_s": round(args.n / accepted_s, 1),
            "seconds": round(total_s, 2),
            "post_p50_ms": round(pct(post_lat, 50) * 1000, 1),
            "post_p99_ms": round(pct(post_lat, 99) * 1000, 1),
            "mean_jpeg_kb": round(statistics.mean(map(len, images)) / 1000, 1),
        }
        print(" ", result["ingest"], flush=True)

        # --- inspect latency ----------------------------------------------------------------
        def inspect_once(_: int) -> float:
            t = time.perf_counter()
            r = client().post("/api/v1/inspect", files={"file": ("s.jpg", small, "image/jpeg")})
            assert r.status_code == 200 and r.json()["verdict"] == "confirmed", r.text
            return time.perf_counter() - t

        for _ in range(20):
            inspect_once(0)  # warm-up
        seq = [inspect_once(i) for i in range(200)]
        with ThreadPoolExecutor(8) as ex:
            conc = list(ex.map(inspect_once, range(400)))
        result["inspect"] = {
            "sequential": {
                "n": len(seq),
                "p50_ms": round(pct(seq, 50) * 1000, 1),
                "p99_ms": round(pct(seq, 99) * 1000, 1),
            },
            "concurrent_8": {
                "n": len(conc),
                "p50_ms": round(pct(conc, 50) * 1000, 1),
                "p99_ms": round(pct(conc, 99) * 1000, 1),
            },
            "file_bytes": len(small),
        }
        print(" ", result["inspect"], flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]
        shutil.rmtree(tmp, ignore_errors=True)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": "127.0.0.1:5432 (shared)",
    }
    write(result)
    return 0


def write(r: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "service.json").write_text(json.dumps(r, indent=2) + "\n")
    ing, ins = r["ingest"], r["inspect"]
    e2e, sq, cc = ing["end_to_end_per_s"], ins["sequential"], ins["concurrent_8"]
    goal_ingest = "met" if ing["end_to_end_per_s"] >= 200 else "not met"
    goal_p99 = "met" if ins["sequential"]["p99_ms"] <= 50 else "not met"
    md = f"""# Service benchmark (bench/bench_service.py)

uvicorn (1 process) + {ing["workers"]} `synthlabel worker` processes + PostgreSQL on loopback,
one machine with {r["machine"]["cpus"]} CPU cores shared by all of them and the client.
Python {r["machine"]["python"]}.

## Ingest ({ing["n"]} 1-MP JPEGs, ~{ing["mean_jpeg_kb"]:.0f} kB, half labelled; metadata path)

| | |
|---|---|
| end to end (first POST to last job done) | **{e2e} ingests/s** ({ing["seconds"]} s) |
| accepted (POSTs alone, {ing["clients"]} clients) | {ing["accepted_per_s"]} /s |
| POST latency p50 / p99 | {ing["post_p50_ms"]} / {ing["post_p99_ms"]} ms |

Goal >= 200 ingests/s: **{goal_ingest}**.

## `POST /api/v1/inspect` latency ({ins["file_bytes"]} B labelled JPEG)

| | p50 | p99 |
|---|---|---|
| sequential ({sq["n"]}) | {sq["p50_ms"]} ms | {sq["p99_ms"]} ms |
| 8 concurrent ({cc["n"]}) | {cc["p50_ms"]} ms | {cc["p99_ms"]} ms |

Goal p99 <= 50 ms (sequential): **{goal_p99}**.
"""
    (RESULTS / "service.md").write_text(md)


if __name__ == "__main__":
    raise SystemExit(main())
