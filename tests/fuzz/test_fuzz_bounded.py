"""Bounded coverage-guided fuzzing in the suite (the long run is `make fuzz`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")
RUNNER = Path(__file__).with_name("run_fuzz.py")
TARGETS = [
    "jpeg",
    "png",
    "gif",
    "webp",
    "tiff",
    "heif",
    "wav",
    "mp3",
    "flac",
    "ogg",
    "mp4",
    "m4a",
    "mkv",
    "markdown",
    "html",
    "json",
    "pdf",
    "ooxml",
    "record",
    "xmp",
]


@pytest.mark.parametrize("target", TARGETS)
def test_bounded_fuzz(target: str) -> None:
    from synthlabel.formats import registry

    if target not in ("record", "xmp") and target not in {h.id for h in registry.handlers()}:
        pytest.skip(f"{target} not registered")
    res = subprocess.run(
        [sys.executable, str(RUNNER), "--target", target, "--runs", "1500", "--seconds", "40"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
