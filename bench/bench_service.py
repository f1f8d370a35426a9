"""Service throughput and latency on loopback, with PostgreSQL, against a baseline.

    .venv/bin/python bench/bench_service.py [--n 600] [--clients 8] [--workers 2]
                                            [--repeat 3] [--baseline REV | --baseline none]

Each round starts, in a fresh PostgreSQL schema (dropped afterwards): one uvicorn process with
the app (``create_app`` from the environment, no access log) and ``--workers`` ``synthlabel
worker`` processes. Rounds alternate between the code now and the **baseline**: the same
processes run from ``git archive REV src`` (default: the commit before the audit log was
changed to append pending rows and chain them afterwards, so both are measured on the same
machine under the same load). Medians of ``--repeat`` rounds of each are reported. A round:

* **ingest**: N generated 1-MP JPEGs (1152x864, half labelled with an AIGC record), POSTed to
  ``/api/v1/ingest`` by ``--clients`` threads; timed from the first POST until the queue has
  every job ``done`` (ingests/s end to end), and the accept rate of the POSTs alone. The
  worker runs the metadata path (records, signatures, C2PA, IPTC, metadata traces) with
  ``SYNTHLABEL_INGEST_HASHES=false``: perceptual hashing of stripped images (~30 ms per 1-MP
  image for PDQ + ORB) is off, as it is a content path.
* **inspect latency**: ``POST /api/v1/inspect`` of a small labelled JPEG (320x240), 200
  requests one after another, then 8 clients x 50; p50/p99 per request as the client sees it.

* **CPU per ingest**: the CPU time the server, the workers, their PostgreSQL backends (by
  ``application_name``) and the client used during the ingest, per item: what the rate would
  be on more cores.

Writes bench/results/service.md and service.json. The machine's cores are shared by the
client, the server, the workers and PostgreSQL (and whatever else runs: the load average is
recorded); the result says how many there are.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
RESULTS = ROOT / "bench" / "results"
PG = os.environ.get("SYNTHLABEL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PRODUCER = "001191110000MA0000000H10001"
#: The code before the audit change: every write locked the one chain-head row.
BASELINE_REV = "fdafc14"
TICK = os.sysconf("SC_CLK_TCK")
WORKER_ARGS = ("--retention-every", "0")


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


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _pg_backends(app_name: str) -> list[int]:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as c:
        rows = c.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app_name,)
        ).fetchall()
    return [int(r[0]) for r in rows]


@dataclass
class Variant:
    name: str  # "baseline" | "now"
    src: Path
    label: str


def _setup_db(v: Variant, url: str, secret: str) -> str:
    """Migrate the schema with the variant's code and make an admin key; the key."""
    code = (
        "import sys\n"
        "from synthlabel.service.auth import create_user, issue_key\n"
        "from synthlabel.service.db.engine import make_engine, session_factory\n"
        "from synthlabel.service.db.migrate import upgrade\n"
        "e = make_engine(sys.argv[1]); upgrade(e)\n"
        "with session_factory(e, sys.argv[2])() as s:\n"
        "    s.info['actor'] = 'bench'\n"
        "    key, _ = issue_key(s, create_user(s, 'bench', 'admin')); s.commit()\n"
        "print(key)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url, secret],
        env={**os.environ, "PYTHONPATH": str(v.src)},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def run_round(
    v: Variant,
    args: argparse.Namespace,
    images: list[bytes],
    small: bytes | None,
) -> dict[str, Any]:
    import httpx
    import psycopg

    tag = f"bench_service_{os.getpid()}_{v.name}_{secrets.token_hex(3)}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{tag}"')  # type: ignore[arg-type]
    plain = f"{PG}?options={quote(f'-csearch_path={tag}')}"
    url = f"{plain}&application_name={tag}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "SYNTHLABEL_DATABASE_URL": url,
        "SYNTHLABEL_SECRET_KEY": secret,
        "SYNTHLABEL_BLOB_DIR": str(tmp / "blobs"),
        "SYNTHLABEL_INGEST_HASHES": "false",
        "SYNTHLABEL_AUTO_UPGRADE": "false",
        "PYTHONPATH": str(v.src),
    }
    procs: list[subprocess.Popen[bytes]] = []
    out: dict[str, Any] = {}
    try:
        key = _setup_db(v, url, secret)
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
                "--http",
                args.http,
                "--loop",
                "asyncio" if args.http == "h11" else "auto",
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
        poll = psycopg.connect(plain, autocommit=True)
        has_pending = v.name == "now"

        def counts() -> tuple[int, int]:
            done = poll.execute("SELECT count(*) FROM work_queue WHERE status = 'done'")
            n_done = int(done.fetchone()[0])  # type: ignore[index]
            if not has_pending:
                return n_done, 0
            pend = poll.execute("SELECT count(*) FROM audit_event WHERE seq IS NULL")
            return n_done, int(pend.fetchone()[0])  # type: ignore[index]

        workers = [
            subprocess.Popen(
                [py, "-m", "synthlabel.cli.main", "worker", "--poll", "0.05", *WORKER_ARGS],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        procs += workers
        time.sleep(3)  # workers up (imports) before the clock starts

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

        # pg_stat_activity of this round's backends every 20 ms during the ingest: how often
        # an active backend waits on a lock (the old audit head serialised every writer)
        waits = {"active": 0, "lock": 0}
        sampling = threading.Event()

        def sample() -> None:
            with psycopg.connect(PG, autocommit=True) as c:
                while not sampling.is_set():
                    for state, wtype in c.execute(
                        "SELECT state, wait_event_type FROM pg_stat_activity "
                        "WHERE application_name = %s",
                        (tag,),
                    ).fetchall():
                        if state == "active":
                            waits["active"] += 1
                            waits["lock"] += wtype == "Lock"
                    sampling.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        backends0 = {pid: _cpu_s(pid) for pid in _pg_backends(tag)}
        proc0 = {p.pid: _cpu_s(p.pid) for p in procs}
        client0 = time.process_time()
        max_pending = 0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as ex:
            post_lat = list(ex.map(post, range(args.n)))
        accepted_s = time.perf_counter() - t0
        while True:
            done, pending = counts()
            max_pending = max(max_pending, pending)
            if done >= args.n:
                break
            time.sleep(0.05)
            if time.perf_counter() - t0 > 300:
                raise SystemExit(f"{v.name}: timed out: {done}/{args.n} done")
        total_s = time.perf_counter() - t0
        client_cpu = time.process_time() - client0
        sampling.set()
        sampler.join(timeout=10)
        backends1 = {pid: _cpu_s(pid) for pid in _pg_backends(tag)}
        pg_cpu = sum(c - backends0.get(pid, 0.0) for pid, c in backends1.items())
        n = args.n
        out["ingest"] = {
            "end_to_end_per_s": round(n / total_s, 1),
            "accepted_per_s": round(n / accepted_s, 1),
            "seconds": round(total_s, 2),
            "post_p50_ms": round(pct(post_lat, 50) * 1000, 1),
            "post_p99_ms": round(pct(post_lat, 99) * 1000, 1),
            "cpu_ms_per_item": {
                "server": round((_cpu_s(server.pid) - proc0[server.pid]) / n * 1000, 2),
                "workers": round(sum(_cpu_s(w.pid) - proc0[w.pid] for w in workers) / n * 1000, 2),
                "postgresql": round(pg_cpu / n * 1000, 2),
                "client": round(client_cpu / n * 1000, 2),
            },
            "max_pending_audit_events": max_pending if has_pending else None,
            "lock_wait_share": round(waits["lock"] / max(1, waits["active"]), 3),
        }
        if has_pending:  # the chainers caught up, and the chain is whole
            deadline = time.monotonic() + 30
            while counts()[1] and time.monotonic() < deadline:
                time.sleep(0.1)
            out["ingest"]["pending_after_s"] = counts()[1]
            sys.path[:0] = [str(v.src)]
            from synthlabel.service import audit
            from synthlabel.service.db.engine import make_engine

            engine = make_engine(plain)
            with engine.connect() as conn:
                res = audit.verify(conn, secret)
            engine.dispose()
            out["ingest"]["audit_chain_ok"] = res.ok
            out["ingest"]["audit_events_chained"] = res.checked
        poll.close()
        print(f"  {v.name}: {out['ingest']}", flush=True)

        if small is not None:

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
            out["inspect"] = {
                "sequential_p50_ms": round(pct(seq, 50) * 1000, 1),
                "sequential_p99_ms": round(pct(seq, 99) * 1000, 1),
                "concurrent_8_p50_ms": round(pct(conc, 50) * 1000, 1),
                "concurrent_8_p99_ms": round(pct(conc, 99) * 1000, 1),
                "file_bytes": len(small),
            }
            print(f"  {v.name}: {out['inspect']}", flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')  # type: ignore[arg-type]
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _median_of(rounds: list[dict[str, Any]], *path: str) -> float:
    vals = []
    for r in rounds:
        x: Any = r
        for p in path:
            x = x[p]
        vals.append(float(x))
    return round(statistics.median(vals), 2)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--port", type=int, default=18765)
    ap.add_argument(
        "--http",
        choices=("auto", "h11", "httptools"),
        default="auto",
        help="uvicorn's HTTP parser (h11 also means the asyncio loop instead of uvloop)",
    )
    ap.add_argument(
        "--baseline",
        default=BASELINE_REV,
        help="git revision to compare with (its src/ is run as is), or 'none'",
    )
    args = ap.parse_args()

    variants = [Variant("now", ROOT / "src", "now (working tree)")]
    tmp_base = Path(tempfile.mkdtemp(prefix="bench-service-baseline-"))
    try:
        if args.baseline != "none":
            rev = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", args.baseline],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(tmp_base)], input=archive, check=True)
            variants.insert(0, Variant("baseline", tmp_base / "src", f"baseline ({rev})"))

        print("generating images ...", flush=True)
        t0 = time.perf_counter()
        images = gen_jpegs(args.n)
        small = small_labelled()
        print(
            f"  {args.n} JPEGs, mean {statistics.mean(map(len, images)) / 1e3:.0f} kB, "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        load0 = os.getloadavg()
        rounds: dict[str, list[dict[str, Any]]] = {v.name: [] for v in variants}
        for i in range(args.repeat):
            order = variants if i % 2 == 0 else variants[::-1]  # no side always goes first
            for v in order:
                print(f"round {i + 1}/{args.repeat}: {v.label}", flush=True)
                rounds[v.name].append(
                    run_round(v, args, images, small if v.name == "now" else None)
                )
        load1 = os.getloadavg()
    finally:
        shutil.rmtree(tmp_base, ignore_errors=True)

    result: dict[str, Any] = {
        "n": args.n,
        "clients": args.clients,
        "workers": args.workers,
        "repeat": args.repeat,
        "uvicorn_http": args.http,
        "mean_jpeg_kb": round(statistics.mean(map(len, images)) / 1000, 1),
        "variants": {v.name: v.label for v in variants},
        "rounds": rounds,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "postgresql": "127.0.0.1:5432 (shared)",
            "loadavg_1m_start_end": [round(load0[0], 2), round(load1[0], 2)],
        },
    }
    write(result)
    return 0


def write(r: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "service.json").write_text(json.dumps(r, indent=2) + "\n")
    names = list(r["variants"])
    rounds = r["rounds"]

    def row(label: str, *path: str, unit: str = "") -> str:
        cells = [f"{_median_of(rounds[n], *path)}{unit}" for n in names]
        return f"| {label} | " + " | ".join(cells) + " |"

    cpu_parts = ("server", "workers", "postgresql", "client")

    def cpu_total(n: str) -> float:
        tot = [sum(x["ingest"]["cpu_ms_per_item"][k] for k in cpu_parts) for x in rounds[n]]
        return round(statistics.median(tot), 2)

    now = rounds["now"]
    e2e = _median_of(now, "ingest", "end_to_end_per_s")
    cores = r["machine"]["cpus"]
    goal = "met" if e2e >= 200 else "not met"
    lines = [
        "# Service benchmark (bench/bench_service.py)",
        "",
        f"uvicorn (1 process) + {r['workers']} `synthlabel worker` processes + PostgreSQL on "
        f"loopback, one machine with {cores} CPU cores shared by all of them and the client "
        f"(and by other work: 1-minute load average {r['machine']['loadavg_1m_start_end'][0]} "
        f"at the start, {r['machine']['loadavg_1m_start_end'][1]} at the end). "
        f"Python {r['machine']['python']}. Medians of {r['repeat']} rounds per column, the "
        "columns' rounds alternating.",
        "",
        f"## Ingest ({r['n']} 1-MP JPEGs, ~{r['mean_jpeg_kb']:.0f} kB, half labelled; "
        f"metadata path; {r['clients']} clients)",
        "",
        "| | " + " | ".join(r["variants"][n] for n in names) + " |",
        "|---|" + "---|" * len(names),
        row("end to end (first POST to last job done), ingests/s", "ingest", "end_to_end_per_s"),
        row("accepted (POSTs alone), /s", "ingest", "accepted_per_s"),
        row("POST latency p50, ms", "ingest", "post_p50_ms"),
        row("POST latency p99, ms", "ingest", "post_p99_ms"),
    ]
    for k in cpu_parts:
        lines.append(row(f"CPU per ingest: {k}, ms", "ingest", "cpu_ms_per_item", k))
    lines.append(
        "| active PostgreSQL backends waiting on a lock (share of 20-ms samples) | "
        + " | ".join(
            f"{100 * _median_of(rounds[n], 'ingest', 'lock_wait_share'):.0f} %" for n in names
        )
        + " |"
    )
    lines.append(
        "| CPU per ingest: all, ms | " + " | ".join(str(cpu_total(n)) for n in names) + " |"
    )
    lines.append(
        "| rounds, end to end /s | "
        + " | ".join(
            ", ".join(str(x["ingest"]["end_to_end_per_s"]) for x in rounds[n]) for n in names
        )
        + " |"
    )
    total = cpu_total("now")
    lines += [
        "",
        f"Goal >= 200 ingests/s: **{goal}** here ({e2e}/s). At {total} ms of CPU per ingest "
        f"(all processes together) 200/s needs about {total * 200 / 1000:.1f} cores that are "
        f"free; this machine has {cores}, shared.",
    ]
    pend = [x["ingest"].get("max_pending_audit_events") for x in now]
    if all(p is not None for p in pend):
        ok = all(x["ingest"].get("audit_chain_ok") for x in now)
        lines += [
            "",
            f"Audit chain (now): at most {max(pend)} events pending during a round's ingest "
            f"(chained every second by the app and each worker); after each round the chain "
            f"verified: {'yes' if ok else 'NO'} "
            f"({now[-1]['ingest'].get('audit_events_chained')} events in the last round).",
        ]
    if "inspect" in now[0]:
        ins = [x["inspect"] for x in now]

        def med(k: str) -> float:
            return round(statistics.median(float(i[k]) for i in ins), 1)

        goal_p99 = "met" if med("sequential_p99_ms") <= 50 else "not met"
        lines += [
            "",
            f"## `POST /api/v1/inspect` latency ({ins[0]['file_bytes']} B labelled JPEG; now)",
            "",
            "| | p50 | p99 |",
            "|---|---|---|",
            f"| sequential (200) | {med('sequential_p50_ms')} ms | {med('sequential_p99_ms')} ms |",
            f"| 8 concurrent (400) | {med('concurrent_8_p50_ms')} ms | "
            f"{med('concurrent_8_p99_ms')} ms |",
            "",
            f"Goal p99 <= 50 ms (sequential): **{goal_p99}**.",
        ]
    (RESULTS / "service.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
