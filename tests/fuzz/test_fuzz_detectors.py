"""Bounded coverage-guided fuzzing of the detection parsers (the long run is `make fuzz`).

IPTC-IIM / 8BIM, the trace rules' field collection and JSON/text matching, the C2PA JUMBF
pre-scan (and c2pa-python's read of what it lets through), the policy TOML parser and
``inspect_file`` end to end with the detectors and watermarks on. Kept apart from
test_fuzz_bounded.py so each file stays under a minute; runs per target are sized to that.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")
RUNNER = Path(__file__).with_name("run_fuzz.py")
TARGETS = [("iim", 1500), ("policy", 1500), ("c2pa", 1000), ("traces", 250), ("inspect", 60)]


@pytest.mark.parametrize(("target", "runs"), TARGETS)
def test_bounded_fuzz_detection(target: str, runs: int) -> None:
    res = subprocess.run(
        [sys.executable, str(RUNNER), "--target", target, "--runs", str(runs), "--seconds", "30"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
