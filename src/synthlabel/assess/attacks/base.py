"""The attack contract: one named, parameterised, seeded transformation of a file of one kind.

An :class:`Attack` has a file-level function (``src`` in, a new file out, never touching the
input) and, for images, audio and text, an in-memory one (arrays or strings) that the
benchmarks call on generated content. Both take a ``numpy.random.Generator``: every random
choice (an overlay's position, added noise, which words are swapped) comes from it, so an
attack is deterministic given its seed (:func:`rng_for`).

Third-party attacks are plug-ins of the entry-point group ``synthlabel.attacks``: an entry
point names an :class:`Attack` or an :class:`AttackSet` (see :mod:`.registry`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from synthlabel.errors import SynthlabelError

AttackKind = Literal["image", "audio", "video", "text"]
KINDS: tuple[AttackKind, ...] = ("image", "audio", "video", "text")

#: ``run(src, dest_base, rng, **params) -> written path``: ``dest_base`` is the output path
#: without its extension (the attack picks it: a JPEG attack writes ``.jpg``).
FileFn = Callable[..., Path]
#: images: ``fn(pixels, rng, **params) -> pixels``; audio: ``fn(samples, rate, rng, **params)
#: -> (samples, rate)``; text: ``fn(text, rng, **params) -> text``.
MemoryFn = Callable[..., Any]

FFMPEG_TIMEOUT = 300.0


class AttackError(SynthlabelError):
    """An attack could not be applied (unreadable input, a tool missing or failing)."""


@dataclass(frozen=True, eq=False)
class Attack:
    """One attack: ``id`` is ``<kind>.<name>`` (``image.jpeg70``), ``params`` its settings."""

    id: str
    kind: AttackKind
    description: str
    run: FileFn
    params: Mapping[str, Any] = field(default_factory=dict)
    memory: MemoryFn | None = None
    #: what the attack simulates, for reports: "codec", "geometry", "metadata", "signal",
    #: "edit", "composite"
    family: str = "signal"
    #: format plug-in ids it handles (``None``: every format of its kind)
    formats: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"attack {self.id!r}: kind must be one of {KINDS}, not {self.kind!r}")

    def handles(self, fmt: str) -> bool:
        """Whether the attack works on files of this format plug-in id."""
        return self.formats is None or fmt in self.formats

    @property
    def name(self) -> str:
        """The id without its kind prefix (``jpeg70``)."""
        return self.id.split(".", 1)[1] if "." in self.id else self.id

    def with_params(self, new_id: str | None = None, **params: Any) -> Attack:
        """The same attack with some parameters changed (a variant for a benchmark)."""
        return replace(self, id=new_id or self.id, params={**self.params, **params})

    def apply(self, src: Path, out_dir: Path, *, seed: int = 0) -> Path:
        """Attack the file ``src``; the result goes to ``out_dir`` (created), named after the
        input and the attack. Raises :class:`AttackError` with the file name on failure."""
        out_dir.mkdir(parents=True, exist_ok=True)
        base = out_dir / f"{src.stem}.{self.id}"
        try:
            out = self.run(src, base, rng_for(seed, self.id), **self.params)
        except AttackError as exc:
            raise exc.with_path(str(src)) from None
        except SynthlabelError as exc:
            raise AttackError(f"{self.id}: {exc.message}", path=str(src)) from None
        except (OSError, ValueError) as exc:
            raise AttackError(f"{self.id}: {type(exc).__name__}: {exc}", path=str(src)) from None
        return Path(out)

    def __call__(self, *args: Any, seed: int = 0, rng: np.random.Generator | None = None) -> Any:
        """The in-memory form (arrays or text), for benchmarks and tests."""
        if self.memory is None:
            raise AttackError(f"{self.id} works on files only (use .apply)")
        return self.memory(*args, rng if rng is not None else rng_for(seed, self.id), **self.params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "family": self.family,
            "description": self.description,
            "params": {k: _jsonable(v) for k, v in self.params.items()},
            "formats": sorted(self.formats) if self.formats is not None else None,
        }


@dataclass(frozen=True)
class AttackSet:
    """Several attacks under one entry point (``id`` names the set, not an attack)."""

    id: str
    attacks: tuple[Attack, ...]


def _jsonable(v: Any) -> Any:
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    if isinstance(v, Sequence):
        return [_jsonable(x) for x in v]
    return str(v)


def rng_for(seed: int, attack_id: str) -> np.random.Generator:
    """The generator an attack draws from: one stream per (seed, attack id)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(attack_id.encode())])


# ------------------------------------------------------------------------------- helpers
def write_atomic(dest: Path, data: bytes) -> Path:
    """Write ``data`` to ``dest`` through a temp file and a rename; returns ``dest``."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise AttackError(f"{name} not found (Debian/Ubuntu: apt-get install ffmpeg)")
    return exe


def ffmpeg(
    src: Path,
    dest: Path,
    args: Sequence[str],
    *,
    pre: Sequence[str] = (),
    timeout: float = FFMPEG_TIMEOUT,
) -> Path:
    """``ffmpeg [pre] -i src [args] dest``, through a temp file renamed into place (a failed
    run leaves nothing at ``dest``). Errors name the input and ffmpeg's last line."""
    tmp = dest.with_name(f".{dest.stem}.tmp{dest.suffix}")
    cmd = [tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += [*pre, "-i", str(src), *args, str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise AttackError(f"ffmpeg took more than {timeout:g} s", path=str(src)) from None
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else f"exit status {proc.returncode}"
        raise AttackError(f"ffmpeg failed: {why}", path=str(src))
    os.replace(tmp, dest)
    return dest
