"""Loads the format and detector plug-ins once: imported by the local engine before it forks
its workers (they inherit them) and by each Ray actor when it starts."""

from __future__ import annotations

from synthlabel.batch import row as _row  # noqa: F401
from synthlabel.detect import registry as _detectors
from synthlabel.formats import registry as _formats

_formats.handlers()
_detectors.detectors()
