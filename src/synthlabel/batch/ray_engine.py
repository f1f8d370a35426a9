"""The Ray engine (the ``[ray]`` extra): the same ``scan_one`` on a Ray cluster with Ray Data.

With no address, a one-node cluster is started in this process: bound to loopback, no
dashboard, ``num_cpus`` CPUs and a small object store (``RAY_DISABLE_USAGE_STATS=1`` unless
set). With an address (``ray://host:10001`` or ``host:6379``) the engine joins that cluster;
every node needs synthlabel installed (the same version, for identical rows).

The input is read in windows of ``window`` paths: each window becomes a dataset
(``ray.data.from_items``) mapped by an actor pool of :class:`ScanUDF` (``map_batches``, one
CPU per actor, the plug-ins loaded once per actor), and its rows are streamed back to the
sink as blocks finish. Only one window of paths is held in memory at a time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

from synthlabel.batch.engine import chunks
from synthlabel.batch.row import ScanConfig, scan_one
from synthlabel.errors import SynthlabelError

DEFAULT_OBJECT_STORE = 200 * 1024 * 1024


def import_ray() -> Any:
    """The ray module (Ray Data included), or a clear error naming the extra."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    # The driver's C++ core worker logs notices (not errors) at ERROR level on stderr.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
        import ray.data
    except ImportError:
        raise SynthlabelError(
            "the Ray engine needs the [ray] extra: pip install 'synthlabel[ray]'"
        ) from None
    return ray


class ScanUDF:
    """A Ray Data class UDF: ``scan_one`` over a batch of paths, rows back as an Arrow table."""

    def __init__(self, config: ScanConfig) -> None:
        from synthlabel.batch import _preload  # noqa: F401  (plug-ins loaded once per actor)

        self.config = config

    def __call__(self, batch: Any) -> Any:
        from synthlabel.batch.arrow import to_table

        paths = [os.fsdecode(p) for p in batch.column("path").to_pylist()]
        return to_table([scan_one(p, self.config) for p in paths])


class RayExecutor:
    """Runs the scan on Ray: a local cluster of ``num_cpus`` CPUs, or the one at ``address``.

    ``concurrency``: actors in the pool (default: ``num_cpus`` locally, the cluster's CPUs
    when joining); ``batch_size``: paths per UDF call."""

    name = "ray"

    def __init__(
        self,
        num_cpus: int | None = None,
        *,
        address: str | None = None,
        concurrency: int | None = None,
        object_store_memory: int = DEFAULT_OBJECT_STORE,
        batch_size: int = 32,
        window: int = 50_000,
    ) -> None:
        self.ray = import_ray()
        self.address = address
        self.num_cpus = max(1, num_cpus or os.cpu_count() or 1)
        self.concurrency = concurrency
        self.batch_size = max(1, batch_size)
        self.window = max(1, window)
        self._started = False
        if not self.ray.is_initialized():
            try:
                if address:
                    self.ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
                else:
                    self.ray.init(
                        num_cpus=self.num_cpus,
                        object_store_memory=object_store_memory,
                        include_dashboard=False,
                        _node_ip_address="127.0.0.1",
                        log_to_driver=False,
                        logging_level=logging.ERROR,
                    )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                raise SynthlabelError(f"cannot start or join {where}: {exc}") from None
            self._started = True
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ctx = self.ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False

    def _pool_size(self) -> int:
        cpus = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        if self.address:  # a cluster may scale up for an explicit --workers
            return self.concurrency or cpus
        # A local cluster (ours, or one already started in this process) cannot grow: more
        # actors than CPUs would only sit pending.
        return min(self.concurrency or self.num_cpus, cpus)

    def map(self, paths: Iterable[str], config: ScanConfig) -> Iterator[dict[str, Any]]:
        data = self.ray.data
        size = self._pool_size()
        for window in chunks(paths, self.window):
            # Small inputs still spread over the pool: batches shrink so every actor gets one.
            per = max(1, min(self.batch_size, -(-len(window) // size)))
            blocks = max(1, min(-(-len(window) // per), 1000))
            # Paths travel as bytes: a file name that is not UTF-8 is still a valid path.
            items = [{"path": os.fsencode(p)} for p in window]
            ds = data.from_items(items, override_num_blocks=blocks)
            ds = ds.map_batches(
                ScanUDF,
                fn_constructor_kwargs={"config": config},
                batch_size=per,
                batch_format="pyarrow",
                compute=data.ActorPoolStrategy(size=min(size, blocks)),
                num_cpus=1,
            )
            for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                yield from batch.to_pylist()

    def close(self) -> None:
        if self._started:
            self._started = False
            self.ray.shutdown()
