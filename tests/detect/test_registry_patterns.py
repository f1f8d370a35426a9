"""Periodic patterns in the hash registry: the spectral signature finds cropped/re-encoded
gratings and checkerboards, keeps different patterns apart, refuses conclusive matches when
the colours say little, and old registry files are upgraded (or say how to upgrade them)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from synthlabel.detect import hashes as H
from synthlabel.detect import spectral
from synthlabel.detect.hashregistry import SCHEMA, Registry, RegistryError


def _grating(
    comps: list[tuple[float, float, float]],
    c0: tuple[int, int, int],
    c1: tuple[int, int, int],
    h: int = 480,
    w: int = 560,
) -> np.ndarray:
    """Sum of sinusoids (angle in degrees, cycles per pixel, phase), mapped from c0 to c1."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    f = np.zeros((h, w))
    for deg, fr, ph in comps:
        th = np.radians(deg)
        f += np.sin((xx * np.cos(th) + yy * np.sin(th)) * fr * 2 * np.pi + ph)
    f = (f - f.min()) / np.ptp(f)
    img = np.array(c0)[None, None] * (1 - f[..., None]) + np.array(c1)[None, None] * f[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _checker(
    size: int, deg: float, c0: tuple[int, int, int], c1: tuple[int, int, int], seed: int = 0
) -> np.ndarray:
    h, w = 500, 520
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = (((xx // size) + (yy // size)) % 2).astype(np.float32)
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    f = cv2.warpAffine(f, rot, (w, h), borderMode=cv2.BORDER_REFLECT)
    rng = np.random.default_rng(seed)
    f += 0.3 * cv2.resize(rng.random((6, 6)).astype(np.float32), (w, h))
    f = (f - f.min()) / np.ptp(f)
    img = np.array(c0)[None, None] * (1 - f[..., None]) + np.array(c1)[None, None] * f[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _jpeg(a: np.ndarray, q: int = 70) -> np.ndarray:
    _, b = cv2.imencode(".jpg", a[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(b, cv2.IMREAD_COLOR)[..., ::-1]


def _resize(a: np.ndarray, f: float) -> np.ndarray:
    h, w = a.shape[:2]
    return cv2.resize(a, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)


def _corner_crop(a: np.ndarray, frac: float = 0.1) -> np.ndarray:
    h, w = a.shape[:2]
    return a[int(h * frac) :, int(w * frac) :]


PLAID = _grating([(23.0, 0.045, 0.3), (118.0, 0.07, 1.1)], (200, 40, 60), (30, 90, 210))
STRIPES = _grating([(64.0, 0.05, 0.0)], (240, 200, 40), (20, 120, 90))
CHECKER = _checker(24, 17.0, (250, 120, 30), (40, 40, 140))


def _best(reg: Registry, img: np.ndarray) -> list:
    return reg.match(H.hash_image_array(img))


def test_signature_marks_patterns_and_not_photos_or_text() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import _gen_media as G

    for img in (PLAID, STRIPES, CHECKER):
        sig = H.hash_image_array(img).pattern
        assert sig is not None and sig.periodic
    for seed in (0, 2, 3, 5):  # generated photos and text screenshots
        sig = H.hash_image_array(G.image(seed)[1]).pattern
        assert sig is not None and not sig.periodic
    sig = H.hash_image_array(PLAID).pattern
    assert sig is not None
    back = spectral.PatternSignature.from_bytes(sig.to_bytes())
    assert back.peaks == sig.peaks and np.array_equal(back.peakmap, sig.peakmap)
    assert back.mean == pytest.approx(sig.mean) and back.strength == pytest.approx(sig.strength)


@pytest.mark.parametrize(
    "name,attack",
    [
        ("plaid", lambda a: _corner_crop(a, 0.10)),
        ("plaid", lambda a: _jpeg(_corner_crop(_resize(a, 0.75), 0.08))),
        ("stripes", lambda a: _corner_crop(a, 0.10)),
        ("checker", lambda a: _corner_crop(a, 0.10)),
        ("checker", lambda a: _jpeg(_resize(a, 0.5))),
    ],
)
def test_cropped_and_reencoded_patterns_match_conclusively(
    tmp_path: Path, name: str, attack: object
) -> None:
    imgs = {"plaid": PLAID, "stripes": STRIPES, "checker": CHECKER}
    with Registry(tmp_path / "r.sqlite") as reg:
        for n, img in imgs.items():
            reg.add(H.hash_image_array(img), name=n, producer="acme", produce_id=n)
        assert callable(attack)
        ms = _best(reg, attack(imgs[name]))
        assert ms and ms[0].entry.name == name and ms[0].level == "exact"
        assert [m.entry.name for m in ms if m.level == "exact"] == [name]


def test_different_patterns_do_not_match(tmp_path: Path) -> None:
    with Registry(tmp_path / "r.sqlite") as reg:
        reg.add(H.hash_image_array(PLAID), name="plaid")
        reg.add(H.hash_image_array(STRIPES), name="stripes")
        # another grating: other angles, other colours
        other = _grating([(75.0, 0.03, 0.0), (150.0, 0.09, 2.0)], (90, 200, 90), (250, 250, 240))
        assert _best(reg, _corner_crop(other)) == []
        # the same stripes in other colours: the structure agrees, the colours do not
        recoloured = _grating([(64.0, 0.05, 0.0)], (30, 60, 230), (250, 160, 170))
        assert _best(reg, _corner_crop(recoloured)) == []
        # the same stripes at another angle, same colours
        turned = _grating([(100.0, 0.05, 0.0)], (240, 200, 40), (20, 120, 90))
        assert _best(reg, _corner_crop(turned)) == []


def test_grey_patterns_and_ambiguous_ones_are_never_conclusive(tmp_path: Path) -> None:
    grey = _grating([(40.0, 0.06, 0.0)], (20, 20, 20), (235, 235, 235))
    with Registry(tmp_path / "r.sqlite") as reg:
        reg.add(H.hash_image_array(grey), name="grey")
        ms = _best(reg, _corner_crop(grey))
        assert ms and ms[0].entry.name == "grey" and ms[0].level == "near"
        assert ms[0].hash == "pattern"
    # two registered patterns a crop cannot tell apart: the same stripes, periods 10 % apart
    a = _grating([(64.0, 0.050, 0.0)], (240, 200, 40), (20, 120, 90))
    b = _grating([(64.0, 0.055, 0.0)], (240, 200, 40), (20, 120, 90))
    with Registry(tmp_path / "r2.sqlite") as reg:
        reg.add(H.hash_image_array(a), name="a")
        reg.add(H.hash_image_array(b), name="b")
        ms = _best(reg, _corner_crop(a))
        assert {m.entry.name for m in ms} == {"a", "b"}
        assert all(m.level == "near" and m.details.get("ambiguous") == 2 for m in ms)


def test_colours_shared_by_many_registered_patterns_are_not_evidence(tmp_path: Path) -> None:
    palette = ((240, 200, 40), (20, 120, 90))
    with Registry(tmp_path / "r.sqlite") as reg:
        for i, deg in enumerate((5.0, 95.0, 140.0)):  # same colours, other structures
            reg.add(H.hash_image_array(_grating([(deg, 0.08, 0.0)], *palette)), name=f"o{i}")
        reg.add(H.hash_image_array(STRIPES), name="stripes")
        ms = _best(reg, _corner_crop(STRIPES))
        assert ms and ms[0].entry.name == "stripes" and ms[0].level == "near"
        assert ms[0].details["palette_shared_by"] == 3
        # an unregistered pattern in that palette, close in structure to a registered one
        # (PDQ finds it too): at most near, never conclusive
        other = _grating([(66.0, 0.052, 2.0)], *palette)
        ms = _best(reg, _jpeg(_corner_crop(other)))
        assert ms and all(m.level == "near" for m in ms)


def _photo() -> np.ndarray:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import _gen_media as G

    return G.image(0)[1]


def _schema1(path: Path) -> None:
    """A registry as synthlabel wrote it before the pattern tables (schema 1)."""
    with Registry(path) as reg:
        reg.add(H.hash_image_array(_photo()), name="old", produce_id="P-old")
    db = sqlite3.connect(str(path))
    db.executescript(
        "DROP TABLE patterns; DROP TABLE pattern_index; "
        "UPDATE meta SET value = '1' WHERE key = 'schema';"
    )
    db.commit()
    db.close()


def test_schema_1_registry_is_upgraded_and_keeps_matching(tmp_path: Path) -> None:
    p = tmp_path / "old.sqlite"
    _schema1(p)
    with Registry(p, create=False) as reg:
        assert reg.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "2"
        ms = reg.match(H.hash_image_array(_jpeg(_photo())))  # PDQ and ORB still find it
        assert ms and ms[0].entry.produce_id == "P-old" and ms[0].level == "exact"
        assert reg.db.execute("SELECT count(*) FROM patterns").fetchone()[0] == 0
        reg.add(H.hash_image_array(STRIPES), name="new")  # new entries get a signature
        ms = reg.match(H.hash_image_array(_corner_crop(STRIPES)))
        assert ms and ms[0].entry.name == "new" and ms[0].level == "exact"
    assert SCHEMA == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_schema_1_registry_says_how_to_upgrade(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    p = d / "old.sqlite"
    _schema1(p)
    for f in d.iterdir():
        f.chmod(0o444)
    d.chmod(0o555)
    try:
        with pytest.raises(RegistryError) as exc:
            Registry(p, create=False)
        assert "schema 1 must be upgraded" in exc.value.message
        assert "registry list" in exc.value.message
    finally:
        d.chmod(0o755)


def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    p = tmp_path / "new.sqlite"
    Registry(p).close()
    db = sqlite3.connect(str(p))
    db.execute("UPDATE meta SET value = '9' WHERE key = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(RegistryError, match="schema 9"):
        Registry(p)


def test_remove_drops_the_pattern_rows(tmp_path: Path) -> None:
    with Registry(tmp_path / "r.sqlite") as reg:
        eid = reg.add(H.hash_image_array(PLAID), produce_id="P1")
        assert reg.db.execute("SELECT count(*) FROM pattern_index").fetchone()[0] > 0
        assert reg.remove([eid]) == 1
        for t in ("patterns", "pattern_index"):
            assert reg.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0
        assert _best(reg, _corner_crop(PLAID)) == []


def test_pair_agreement_ranks_a_consistent_transform_above_scattered_pairs() -> None:
    rng = np.random.default_rng(3)
    q = rng.random((60, 2)).astype(np.float32) * 400
    r = (0.9 * q + np.array([30.0, 12.0])).astype(np.float32)  # a crop-and-scale copy
    pairs = np.stack([np.arange(60), np.arange(60)], axis=1).astype(np.int64)
    assert H.orb_pair_agreement(q, r, pairs) >= 55
    scattered = np.stack([np.arange(60), rng.permutation(60)], axis=1).astype(np.int64)
    assert H.orb_pair_agreement(q, r, scattered) <= 4


def test_cli_finds_a_cropped_jpeg_of_a_registered_pattern(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from synthlabel.cli.main import app

    runner = CliRunner()
    src, reg = tmp_path / "plaid.png", tmp_path / "r.sqlite"
    cv2.imwrite(str(src), PLAID[..., ::-1])
    res = runner.invoke(
        app, ["registry", "add", str(src), "--registry", str(reg), "--producer", "acme"]
    )
    assert res.exit_code == 0, res.stdout
    q = tmp_path / "q.jpg"
    cv2.imwrite(str(q), _corner_crop(PLAID)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    res = runner.invoke(app, ["registry", "match", str(q), "--registry", str(reg), "--json"])
    assert res.exit_code == 0, res.stdout
    m = json.loads(res.stdout)["results"][0]["matches"][0]
    assert m["level"] == "exact" and m["hash"] == "pattern" and m["structure"] >= 0.6
    res = runner.invoke(app, ["registry", "match", str(q), "--registry", str(reg)])
    assert "pattern" in res.stdout
