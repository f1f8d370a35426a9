"""Detectors: every label and trace in a file, as findings for the verdict policy.

See :mod:`synthlabel.detect.base` for the plug-in contract, :mod:`.registry` for the
registry, :mod:`.run` for running them with time budgets, and docs/verdict.md for how the
findings become the Labeling Measures' verdict.
"""

from synthlabel.detect.base import Asset, DetectOptions, Detector
from synthlabel.detect.run import DetectionRun, run_detectors

__all__ = ["Asset", "DetectOptions", "DetectionRun", "Detector", "run_detectors"]
