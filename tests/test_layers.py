"""Each layer imports only the layers below it (the library never imports the CLI/service)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "synthlabel"
RANK = {
    "errors": 0,
    "model": 1,
    "formats": 2,
    "label": 3,
    "inspect": 3,
    "watermark": 3,
    "detect": 4,
    "pipeline": 5,
    "batch": 5.5,  # batch scanning: over the pipeline, under the CLI and the service
    "assess": 5.5,  # conformance checks, drills, model evaluation, reports: over the pipeline
    "cli": 6,
    "service": 6,
    "demo": 7,
}
# label may use inspect's read-side helpers? No: same rank layers must not import each other,
# except the explicitly allowed pairs below.
# The CLI starts and administers the service (serve, db, users, audit); never the reverse.
ALLOWED_SAME_RANK: set[tuple[str, str]] = {("cli", "service")}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "synthlabel" or len(parts) < 2:
        return None
    return parts[1]


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


FILES = [p for p in SRC.rglob("*.py") if p.parent != SRC or p.stem in RANK]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_layering(path: Path) -> None:
    rel = path.relative_to(SRC)
    own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    if own not in RANK:
        pytest.skip("not a layered module")
    for mod in imports(path):
        other = layer_of(mod)
        if other is None or other == own or other not in RANK:
            continue
        if RANK[other] == RANK[own]:
            assert (own, other) in ALLOWED_SAME_RANK, f"{rel} imports sibling layer {mod}"
        assert RANK[other] <= RANK[own], f"{rel} ({own}) imports higher layer {mod}"
