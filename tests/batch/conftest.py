"""A small mixed corpus made with the library itself, and what each file must scan to."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

import synthlabel
from synthlabel.batch import ScanConfig
from synthlabel.model.keys import KeyStore
from synthlabel.pipeline.inspecting import InspectOptions
from tests.fixtures import audio as ax
from tests.fixtures import images as fx

PRODUCER = "001191110000MA0000000H10001"


@dataclass(frozen=True)
class Corpus:
    root: Path
    home: Path
    # relative path -> (verdict, compliance, error substring) the scan must give
    expected: dict[str, tuple[str | None, str | None, str | None]]

    def paths(self) -> list[str]:
        return sorted(str(self.root / rel) for rel in self.expected)

    def config(self) -> ScanConfig:
        return ScanConfig(InspectOptions(detect=True, key_home=str(self.home)))


def _jpeg(seed: int) -> bytes:
    return fx._save(fx.picture(96, 64, seed=seed), "JPEG", quality=90)


def _png(seed: int) -> bytes:
    return fx._save(fx.picture(80, 60, seed=seed), "PNG")


def build_corpus(root: Path) -> Corpus:
    """22 files: labelled and plain JPEG/PNG/WAV/Markdown, one signed, broken ones, a hidden
    file and a file in a subdirectory."""
    home = root.parent / (root.name + "-keys")
    KeyStore(home).generate(name="scan")
    files: dict[str, bytes] = {}
    expected: dict[str, tuple[str | None, str | None, str | None]] = {}

    def add(rel: str, data: bytes, outcome: tuple[str | None, str | None, str | None]) -> None:
        files[rel] = data
        expected[rel] = outcome

    labelled = ("confirmed", "compliant", None)
    plain = ("no_trace", "not_found", None)
    for i in range(4):
        add(
            f"img/lab-{i}.jpg",
            synthlabel.label_bytes(_jpeg(i), producer=PRODUCER, visible=False)[0],
            labelled,
        )
        add(f"img/plain-{i}.jpg", _jpeg(10 + i), plain)
    for i in range(3):
        add(
            f"img/lab-{i}.png",
            synthlabel.label_bytes(_png(i), producer=PRODUCER, visible=False)[0],
            labelled,
        )
        add(f"img/plain-{i}.png", _png(10 + i), plain)
    signed = synthlabel.label_bytes(
        _jpeg(20), producer=PRODUCER, visible=False, sign="scan", key_home=home
    )[0]
    add("img/signed.jpg", signed, labelled)
    add("audio/lab.wav", synthlabel.label_bytes(ax.pcm_wav(), producer=PRODUCER)[0], labelled)
    add("audio/plain.wav", ax.pcm_wav(330), plain)
    add(
        "text/notice.md",
        "# Note\n\nSome text.\n\n本文由AI生成\n".encode(),
        ("possible", "not_found", None),
    )
    add("text/plain.md", b"# Note\n\nSome text about the weather.\n", plain)
    lab0 = files["img/lab-0.jpg"]
    add("bad/truncated.jpg", lab0[: len(lab0) // 2], (None, None, "truncated"))
    add("bad/garbage.bin", random.Random(7).randbytes(3000), (None, None, "not a supported format"))
    add("bad/empty.png", b"", (None, None, "empty file"))
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / ".hidden.jpg").write_bytes(_jpeg(30))  # directory walks skip hidden files
    return Corpus(root, home, expected)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("scan") / "corpus")
