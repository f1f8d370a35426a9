"""The local hash registry: a provider's outputs with their AIGC record, found again by content.

One SQLite file (default ``~/.config/synthlabel/registry.sqlite``). Each entry keeps the
media kind, the perceptual hash(es) (:mod:`synthlabel.detect.hashes`), the AIGC record as
JSON, the producer and ProduceID, the file name and SHA-256, and when it was added.

Search is indexed, never a scan of every entry:

* **PDQ (images, video frames)**: multi-index hashing. The 256 bits are cut into 16 chunks
  of 16 bits, each stored as one key (``chunk << 16 | value``) in a ``WITHOUT ROWID`` table.
  Two hashes within ``r`` bits agree to within ``r // 16`` bits on at least one chunk
  (pigeonhole), so probing every chunk value within that distance (17 keys per chunk for
  ``r`` <= 31, 137 for ``r`` <= 47) finds every candidate; candidates are then checked with
  the full distance.
* **Audio**: every (loud) 32-bit sub-fingerprint is a key; a query looks its own
  sub-fingerprints up exactly (Haitsma-Kalker: at least one survives in a few seconds of MP3),
  votes for (entry, time offset), and checks the best offsets with the bit error rate over
  the overlap.
* **Video**: the sampled frames' PDQ hashes are indexed like images, votes go to
  (entry, frame offset) and the best alignments are scored by the median frame distance.

* **ORB local features (images)**: the 128 strongest descriptors of an entry are indexed on
  their 32-bit pieces; the entries with the most votes are reordered by how many of their
  index-matched keypoint pairs agree on one transform, and the first ones are checked
  geometrically (:func:`synthlabel.detect.hashes.orb_inliers`: one crop-and-scale
  transform, no rotation).
* **Periodic patterns (images)**: entries whose spectrum is strongly periodic (gratings,
  checkerboards, tilings: :mod:`synthlabel.detect.spectral`) are indexed by their strongest
  spectral peaks (orientation, log-radius); a periodic query probes the peaks a crop or
  resize of it can have and compares the peak maps and colours of the entries it hits.

An image match is *exact* (conclusive) when two independent hashes agree: PDQ within
``EXACT_IMAGE`` bits (both qualities >= ``MIN_QUALITY``) and at least ``NEAR_ORB`` keypoints
on one transform (or no local features on either side), or ``EXACT_ORB`` keypoints on one
transform (a crop, where PDQ no longer holds), or a periodic pattern whose structure *and*
colours agree (mean colour within ``EXACT_PATTERN_MEAN``, colour axis within
``EXACT_PATTERN_AXIS`` degrees) provided the colours are evidence: not a grey pattern, not
shared by ``PALETTE_SHARED`` or more other registered patterns, and no second registered
pattern agrees as well (otherwise the pattern match is *near*). Thresholds (``EXACT_*`` /
``NEAR_*``) come from ``bench/bench_registry.py`` (results in ``bench/results/registry.md``):
*exact* keeps the measured false-match rate at or below 1e-6 (0 in ~1e6 pairs), *near* at or
below 1e-4.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthlabel.detect import spectral
from synthlabel.detect.hashes import (
    MIN_QUALITY,
    ContentHash,
    bit_error_rate,
    hamming,
    hamming_many,
    orb_inliers,
    orb_pair_agreement,
)
from synthlabel.detect.spectral import PatternSignature
from synthlabel.errors import SynthlabelError

#: 2: periodic-pattern signatures (tables ``patterns``, ``pattern_index``). A schema-1 file is
#: upgraded in place when opened with write access; its entries keep matching by PDQ and ORB.
SCHEMA = 2
#: Image PDQ distance (bits of 256) for a conclusive / a near match.
EXACT_IMAGE = 31
NEAR_IMAGE = 47
#: Video: median distance of the aligned frames.
EXACT_VIDEO = 31
NEAR_VIDEO = 56
#: Audio: bit error rate over the aligned sub-fingerprints.
EXACT_AUDIO = 0.25
NEAR_AUDIO = 0.33
#: ORB local features: keypoints agreeing on one crop-and-scale transform for a conclusive /
#: a near match, least index votes before the geometric check, how many candidates are
#: checked, and how many of an entry's (strongest) descriptors are indexed.
EXACT_ORB = 40
NEAR_ORB = 20
MIN_ORB_VOTES = 3
#: The first few ORB-voted entries are verified whatever their vote count.
ORB_ALWAYS_VERIFY = 4
ORB_VERIFY = 24
#: Voted entries reordered by the geometric agreement of their index-matched pairs first.
ORB_RERANK = 96
ORB_INDEXED = 128
#: Periodic patterns (:mod:`synthlabel.detect.spectral`): least peak-map correlation, largest
#: mean-colour difference (per channel, of 255) and principal-colour-axis angle (degrees) for a
#: conclusive / a near agreement; how many candidates are checked; how many other registered
#: patterns may share the colours before they stop counting as evidence.
PATTERN_STRUCTURE = 0.6
EXACT_PATTERN_MEAN = 6.0
EXACT_PATTERN_AXIS = 35.0
NEAR_PATTERN_MEAN = 12.0
#: Spread (standard deviation along the colour axis) of the query / the registered pattern:
#: downscaling a fine pattern averages it down (0.65 measured), nothing raises it much.
PATTERN_SPREAD = (0.4, 1.3)
PATTERN_VERIFY = 32
PALETTE_SHARED = 2
#: Least overlap for a video (frames) or audio (sub-fingerprints, ~3 s) match.
MIN_VIDEO_FRAMES = 8
MIN_AUDIO_FRAMES = 256
#: How many query frames / sub-fingerprints are looked up.
VIDEO_PROBES = 32
AUDIO_PROBES = 4096
_BATCH = 900  # SQL parameters per statement


class RegistryError(SynthlabelError):
    """The registry file cannot be opened, is not a registry, or an entry is refused."""


def default_path() -> Path:
    return Path.home() / ".config" / "synthlabel" / "registry.sqlite"


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    algorithm: str
    name: str
    sha256: str
    producer: str
    produce_id: str
    record: dict[str, Any] | None
    added: float
    quality: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "algorithm": self.algorithm,
            "name": self.name,
            "sha256": self.sha256,
            "producer": self.producer,
            "produce_id": self.produce_id,
            "record": self.record,
            "added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.added)),
            "quality": self.quality,
        }


@dataclass(frozen=True)
class Match:
    """One registered entry that the content matches."""

    entry: Entry
    level: str  # "exact" or "near"
    distance: float  # bits (image, video median) or bit error rate (audio)
    hash: str  # which hash matched: "pdq", "pdq-frames", "hk-audio"
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "distance": self.distance,
            "hash": self.hash,
            "entry": self.entry.to_dict(),
            **self.details,
        }


def _neighbours16(value: int, radius: int) -> list[int]:
    out = [value]
    for r in range(1, radius + 1):
        for bits in combinations(range(16), r):
            v = value
            for b in bits:
                v ^= 1 << b
            out.append(v)
    return out


def _chunks(h: bytes) -> list[int]:
    a = np.frombuffer(h, dtype=">u2")
    return [int(v) for v in a]


def _orb_key_matrix(desc: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """(n, 8) index keys of n descriptors: each 32-bit piece tagged with its number."""
    words = np.ascontiguousarray(desc, dtype=np.uint8).view(">u4").astype(np.int64)
    keys: npt.NDArray[np.int64] = words + (np.arange(8, dtype=np.int64) << 32)[None, :]
    return keys


def _orb_keys(desc: npt.NDArray[np.uint8], per_descriptor: bool = False) -> Any:
    """Index keys of ORB descriptors: each of the 8 32-bit pieces, tagged with its number.

    A true correspondence (under ~30 differing bits of 256) keeps at least one piece intact
    with probability ~0.15; with dozens of correspondences per copy, several vote."""
    keys = _orb_key_matrix(desc)
    if per_descriptor:
        return [[int(k) for k in row] for row in keys]
    return sorted({int(k) for k in keys.ravel()})


_ENTRY_COLS = "id, kind, algorithm, name, sha256, producer, produce_id, record, added, quality"


class Registry:
    """A registry file. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path) if path else default_path()
        #: When a list: (entry, inliers) of every geometric check (benchmark calibration).
        self.trace: list[tuple[int, int]] | None = None
        if not create and not self.path.is_file():
            raise RegistryError(f"no registry at {self.path}")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=30.0)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._init()
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"{self.path}: not a usable registry ({exc})") from None
        except OSError as exc:
            raise RegistryError(f"{self.path}: cannot open ({exc.strerror})") from None

    def _init(self) -> None:
        db = self.db
        found = None
        if db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone():
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            found = row[0] if row else None
        if found is not None and found not in ("1", str(SCHEMA)):
            raise RegistryError(
                f"{self.path}: registry schema {found}, this synthlabel reads {SCHEMA} "
                "(written by a newer version?)"
            )
        try:
            self._create(found)
        except sqlite3.OperationalError:
            if found == "1":
                raise RegistryError(
                    f"{self.path}: registry schema 1 must be upgraded to {SCHEMA} (it adds the "
                    "periodic-pattern tables) and the file is not writable; open it once with "
                    f"write access, e.g. `synthlabel registry list --registry {self.path}`"
                ) from None
            raise

    def _create(self, found: str | None) -> None:
        db = self.db
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS entries (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                algorithm TEXT NOT NULL,
                name TEXT NOT NULL DEFAULT '',
                sha256 TEXT NOT NULL DEFAULT '',
                producer TEXT NOT NULL DEFAULT '',
                produce_id TEXT NOT NULL DEFAULT '',
                record TEXT,
                added REAL NOT NULL,
                quality INTEGER NOT NULL DEFAULT 0,
                step REAL NOT NULL DEFAULT 0,
                hashes BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS entries_sha ON entries (sha256);
            CREATE INDEX IF NOT EXISTS entries_pid ON entries (produce_id);
            CREATE TABLE IF NOT EXISTS pdq_index (
                key INTEGER NOT NULL, entry INTEGER NOT NULL, pos INTEGER NOT NULL,
                PRIMARY KEY (key, entry, pos)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS local_features (
                entry INTEGER PRIMARY KEY, points BLOB NOT NULL, descriptors BLOB NOT NULL
            );
            CREATE TABLE IF NOT EXISTS orb_index (
                key INTEGER NOT NULL, entry INTEGER NOT NULL,
                PRIMARY KEY (key, entry)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS audio_index (
                key INTEGER NOT NULL, entry INTEGER NOT NULL, pos INTEGER NOT NULL,
                PRIMARY KEY (key, entry, pos)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS patterns (
                entry INTEGER PRIMARY KEY,
                r REAL NOT NULL, g REAL NOT NULL, b REAL NOT NULL,
                ax REAL NOT NULL, ay REAL NOT NULL, az REAL NOT NULL,
                signature BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS patterns_r ON patterns (r);
            CREATE TABLE IF NOT EXISTS pattern_index (
                key INTEGER NOT NULL, entry INTEGER NOT NULL,
                PRIMARY KEY (key, entry)
            ) WITHOUT ROWID;
            """
        )
        if found is None:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            db.commit()
        elif found != str(SCHEMA):
            # Schema 1 -> 2: the tables above are new; old entries have no pattern signature.
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA),))
            db.commit()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ writing
    def add(
        self,
        content: ContentHash,
        *,
        name: str = "",
        sha256: str = "",
        producer: str = "",
        produce_id: str = "",
        record: dict[str, Any] | None = None,
        commit: bool = True,
    ) -> int:
        """Store one entry and index its hashes; returns its id."""
        if content.kind == "audio":
            if content.audio is None or len(content.audio) == 0:
                raise RegistryError("empty audio fingerprint")
            blob = content.audio.astype("<u4").tobytes()
        else:
            if not content.hashes:
                raise RegistryError("no hash to store")
            blob = b"".join(content.hashes)
        cur = self.db.execute(
            "INSERT INTO entries (kind, algorithm, name, sha256, producer, produce_id, record, "
            "added, quality, step, hashes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                content.kind,
                content.algorithm,
                name,
                sha256,
                producer,
                produce_id,
                json.dumps(record, ensure_ascii=False) if record is not None else None,
                time.time(),
                content.quality,
                content.step,
                blob,
            ),
        )
        entry = int(cur.lastrowid or 0)
        if content.kind == "audio":
            assert content.audio is not None
            loud = content.loud if content.loud is not None else np.ones(len(content.audio), bool)
            rows = [
                (int(k), entry, i)
                for i, k in enumerate(content.audio.tolist())
                if loud[i] and k not in (0, 0xFFFFFFFF)
            ]
            self.db.executemany("INSERT OR IGNORE INTO audio_index VALUES (?, ?, ?)", rows)
        else:
            if content.descriptors is not None and len(content.descriptors):
                assert content.points is not None
                self.db.execute(
                    "INSERT INTO local_features VALUES (?, ?, ?)",
                    (
                        entry,
                        content.points.astype("<f4").tobytes(),
                        content.descriptors.tobytes(),
                    ),
                )
                self.db.executemany(
                    "INSERT OR IGNORE INTO orb_index VALUES (?, ?)",
                    [(k, entry) for k in _orb_keys(content.descriptors[:ORB_INDEXED])],
                )
            pat = content.pattern
            if pat is not None and pat.periodic:
                self.db.execute(
                    "INSERT INTO patterns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (entry, *pat.mean, *pat.axis, pat.to_bytes()),
                )
                self.db.executemany(
                    "INSERT OR IGNORE INTO pattern_index VALUES (?, ?)",
                    [(k, entry) for k in spectral.index_keys(pat)],
                )
            rows = []
            for pos, h in enumerate(content.hashes):
                for c, v in enumerate(_chunks(h)):
                    rows.append(((c << 16) | v, entry, pos))
            self.db.executemany("INSERT OR IGNORE INTO pdq_index VALUES (?, ?, ?)", rows)
        if commit:
            self.db.commit()
        return entry

    def commit(self) -> None:
        self.db.commit()

    def remove(self, entry_ids: Iterable[int]) -> int:
        n = 0
        for eid in entry_ids:
            cur = self.db.execute("DELETE FROM entries WHERE id = ?", (eid,))
            if cur.rowcount:
                n += 1
                self.db.execute("DELETE FROM pdq_index WHERE entry = ?", (eid,))
                self.db.execute("DELETE FROM audio_index WHERE entry = ?", (eid,))
                self.db.execute("DELETE FROM orb_index WHERE entry = ?", (eid,))
                self.db.execute("DELETE FROM local_features WHERE entry = ?", (eid,))
                self.db.execute("DELETE FROM patterns WHERE entry = ?", (eid,))
                self.db.execute("DELETE FROM pattern_index WHERE entry = ?", (eid,))
        self.db.commit()
        return n

    def ids_for(self, selector: str) -> list[int]:
        """Entry ids by id, ProduceID or SHA-256."""
        if selector.isdigit():
            rows = self.db.execute("SELECT id FROM entries WHERE id = ?", (int(selector),))
        else:
            rows = self.db.execute(
                "SELECT id FROM entries WHERE produce_id = ? OR sha256 = ?", (selector, selector)
            )
        return [int(r[0]) for r in rows]

    # ------------------------------------------------------------------------------ reading
    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM entries").fetchone()[0])

    def entries(self, limit: int | None = None) -> Iterator[Entry]:
        sql = f"SELECT {_ENTRY_COLS} FROM entries ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self.db.execute(sql):
            yield _entry(row)

    def entry(self, entry_id: int) -> Entry | None:
        row = self.db.execute(
            f"SELECT {_ENTRY_COLS} FROM entries WHERE id = ?", (entry_id,)
        ).fetchone()
        return _entry(row) if row else None

    def _blobs(self, ids: Iterable[int]) -> dict[int, tuple[bytes, str]]:
        out: dict[int, tuple[bytes, str]] = {}
        idl = list(ids)
        for i in range(0, len(idl), _BATCH):
            part = idl[i : i + _BATCH]
            q = ",".join("?" * len(part))
            for eid, blob, kind in self.db.execute(
                f"SELECT id, hashes, kind FROM entries WHERE id IN ({q})", part
            ):
                out[int(eid)] = (bytes(blob), str(kind))
        return out

    def _lookup(self, table: str, keys: list[int]) -> list[tuple[int, int, int]]:
        """(key, entry, pos) rows for the given keys."""
        rows: list[tuple[int, int, int]] = []
        uniq = list(dict.fromkeys(keys))
        for i in range(0, len(uniq), _BATCH):
            part = uniq[i : i + _BATCH]
            q = ",".join("?" * len(part))
            rows.extend(
                self.db.execute(f"SELECT key, entry, pos FROM {table} WHERE key IN ({q})", part)
            )
        return rows

    def _orb_votes(self, desc: npt.NDArray[np.uint8]) -> list[tuple[int, int]]:
        """Entries voted for by the query's descriptors, best first: (entry, descriptors).

        One vote per query descriptor and entry, weighted by the rarity of the key that cast
        it (1 / number of entries holding it): glyphs and texture elements that every text or
        texture entry shares would otherwise bury the right entry among its look-alikes."""
        keys = _orb_keys(desc, per_descriptor=True)
        owner = {k: i for i, ks in enumerate(keys) for k in ks}
        rows: list[tuple[int, int]] = []
        flat = list(owner)
        for i in range(0, len(flat), _BATCH):
            part = flat[i : i + _BATCH]
            q = ",".join("?" * len(part))
            rows.extend(
                (int(k), int(e))
                for k, e in self.db.execute(
                    f"SELECT key, entry FROM orb_index WHERE key IN ({q})", part
                )
            )
        df = Counter(k for k, _ in rows)
        weight: dict[tuple[int, int], float] = {}
        for k, e in rows:
            pair = (owner[k], e)
            weight[pair] = max(weight.get(pair, 0.0), 1.0 / df[k])
        score: dict[int, float] = {}
        count: Counter[int] = Counter()
        for (_, e), w in weight.items():
            score[e] = score.get(e, 0.0) + w
            count[e] += 1
        return [(e, count[e]) for e in sorted(score, key=lambda x: (-score[x], x))]

    def _orb_rerank(
        self, content: ContentHash, votes: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """The first :data:`ORB_RERANK` voted entries reordered by how many of their
        index-matched keypoint pairs agree on one crop-and-scale transform.

        Votes alone bury a text screenshot among look-alikes that share its glyphs (rank
        24-124 of 1,000 under a crop); the glyphs of another text rarely sit where a single
        transform puts them."""
        head = votes[:ORB_RERANK]
        if len(head) <= 1 or content.descriptors is None or content.points is None:
            return votes
        qkeys: dict[int, list[int]] = {}
        for i, ks in enumerate(_orb_keys(content.descriptors, per_descriptor=True)):
            for k in ks:
                qkeys.setdefault(k, []).append(i)
        qarr = np.fromiter(qkeys, dtype=np.int64, count=len(qkeys))
        local = self._locals([e for e, _ in head])
        agree: dict[int, int] = {}
        for e, _n in head:
            feat = local.get(e)
            if feat is None:
                continue
            rk = _orb_key_matrix(feat[1][:ORB_INDEXED])  # (n, 8)
            rows, cols = np.nonzero(np.isin(rk, qarr))
            pairs = [
                (qi, int(ri))
                for ri, c in zip(rows.tolist(), cols.tolist(), strict=True)
                for qi in qkeys[int(rk[ri, c])]
            ]
            if pairs:
                agree[e] = orb_pair_agreement(
                    content.points, feat[0], np.array(pairs, dtype=np.int64)
                )
        pos = {e: i for i, (e, _) in enumerate(head)}
        head = sorted(head, key=lambda v: (-agree.get(v[0], 0), pos[v[0]]))
        return head + votes[ORB_RERANK:]

    def _locals(
        self, ids: list[int]
    ) -> dict[int, tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]]:
        out = {}
        for i in range(0, len(ids), _BATCH):
            part = ids[i : i + _BATCH]
            q = ",".join("?" * len(part))
            for e, pts, desc in self.db.execute(
                f"SELECT entry, points, descriptors FROM local_features WHERE entry IN ({q})",
                part,
            ):
                out[int(e)] = (
                    np.frombuffer(pts, dtype="<f4").reshape(-1, 2).astype(np.float32),
                    np.frombuffer(desc, dtype=np.uint8).reshape(-1, 32),
                )
        return out

    def _local(self, eid: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]] | None:
        row = self.db.execute(
            "SELECT points, descriptors FROM local_features WHERE entry = ?", (eid,)
        ).fetchone()
        if row is None:
            return None
        pts = np.frombuffer(row[0], dtype="<f4").reshape(-1, 2).astype(np.float32)
        desc = np.frombuffer(row[1], dtype=np.uint8).reshape(-1, 32)
        return pts, desc

    def _pdq_candidates(self, h: bytes, radius: int) -> set[tuple[int, int]]:
        per_chunk = max(0, radius) // 16
        keys: list[int] = []
        for c, v in enumerate(_chunks(h)):
            keys.extend((c << 16) | n for n in _neighbours16(v, per_chunk))
        return {(e, p) for _, e, p in self._lookup("pdq_index", keys)}

    def search_pdq(self, h: bytes, radius: int = NEAR_IMAGE) -> list[tuple[int, int, int]]:
        """(entry, pos, distance) of every indexed PDQ hash within ``radius`` bits of ``h``."""
        cands = self._pdq_candidates(h, radius)
        if not cands:
            return []
        blobs = self._blobs({e for e, _ in cands})
        out = []
        for e, p in cands:
            blob = blobs.get(e)
            if blob is None:
                continue
            d = hamming(h, blob[0][32 * p : 32 * p + 32])
            if d <= radius:
                out.append((e, p, d))
        return sorted(out, key=lambda t: (t[2], t[0], t[1]))

    # -------------------------------------------------------------------------------- match
    def match(
        self,
        content: ContentHash,
        *,
        threshold: float | None = None,
        limit: int = 5,
    ) -> list[Match]:
        """Registered entries that ``content`` matches, best first.

        ``threshold``: the near-match limit (bits for images and video, bit error rate for
        audio) instead of the default; the exact limit never exceeds it."""
        if content.kind == "image":
            found = self._match_image(content, threshold)
        elif content.kind == "video":
            found = self._match_video(content, threshold)
        else:
            found = self._match_audio(content, threshold)
        found.sort(key=lambda m: (m.level != "exact", m.distance, m.entry.id))
        return found[:limit]

    def _make(
        self, eid: int, level: str, dist: float, algo: str, details: dict[str, Any]
    ) -> Match | None:
        entry = self.entry(eid)
        return Match(entry, level, dist, algo, details) if entry else None

    def _match_image(self, content: ContentHash, threshold: float | None) -> list[Match]:
        near = int(threshold) if threshold is not None else NEAR_IMAGE
        exact = min(EXACT_IMAGE, near)
        h = content.hashes[0]
        best: dict[int, int] = {}
        for e, _p, d in self.search_pdq(h, near):
            best[e] = min(d, best.get(e, 999))
        out: dict[int, Match] = {}
        for e, d in best.items():
            entry = self.entry(e)
            if entry is None or entry.kind != "image":
                continue
            reliable = content.quality >= MIN_QUALITY and entry.quality >= MIN_QUALITY
            details: dict[str, Any] = {"bits": 256, "query_quality": content.quality}
            level = "near"
            if d <= exact and reliable:
                # Conclusive needs a second, independent hash to agree: the local features
                # (two different textures can share a PDQ; they rarely share keypoints).
                inl = self._inliers(content, e)
                if inl is None or inl >= NEAR_ORB:
                    level = "exact"
                if inl is not None:
                    details["inliers"] = inl
            out[e] = Match(entry, level, float(d), "pdq", details)
        if (
            content.descriptors is not None
            and content.points is not None
            and len(content.descriptors) >= MIN_ORB_VOTES
        ):
            ranked = self._orb_votes(content.descriptors)
            # The best-voted entries are checked even on one or two votes: soft textures'
            # descriptors rarely keep a whole indexed piece, yet verify with 80-120 inliers.
            votes = ranked[:ORB_ALWAYS_VERIFY] + self._orb_rerank(
                content, [v for v in ranked[ORB_ALWAYS_VERIFY:] if v[1] >= MIN_ORB_VOTES]
            )
            for e, _n in votes[:ORB_VERIFY]:
                if e in out and out[e].level == "exact":
                    continue
                inl = self._inliers(content, e)
                if inl is None or inl < NEAR_ORB:
                    continue
                entry = self.entry(e)
                if entry is None:
                    continue
                level = "exact" if inl >= EXACT_ORB else "near"
                pdq_d = out[e].distance if e in out else None
                if e in out and level == "near":
                    continue  # a near PDQ match already says as much
                out[e] = Match(
                    entry,
                    level,
                    pdq_d if pdq_d is not None else float(hamming(h, self._pdq_of(e))),
                    "orb",
                    {"bits": 256, "inliers": inl, "query_quality": content.quality},
                )
        pat = content.pattern
        if pat is not None and pat.strength >= spectral.QUERY_PERIODIC:
            self._match_patterns(pat, h, out)
        return list(out.values())

    def _pattern_candidates(self, pat: PatternSignature) -> list[tuple[int, PatternSignature]]:
        """Registered patterns that share a peak with the query, most shared peaks first."""
        probes = spectral.probe_keys(pat)
        owner: dict[int, set[int]] = {}
        for i, keys in probes:
            for k in keys:
                owner.setdefault(k, set()).add(i)
        votes: dict[int, set[int]] = {}
        flat = list(owner)
        for i in range(0, len(flat), _BATCH):
            part = flat[i : i + _BATCH]
            q = ",".join("?" * len(part))
            for k, e in self.db.execute(
                f"SELECT key, entry FROM pattern_index WHERE key IN ({q})", part
            ):
                votes.setdefault(int(e), set()).update(owner[int(k)])
        # Only entries whose mean colour can agree are compared: at 10,000 registered
        # patterns a peak key is shared by ~150 of them.
        mean = pat.mean
        near: set[int] = set()
        voted = list(votes)
        for i in range(0, len(voted), _BATCH):
            part = voted[i : i + _BATCH]
            q = ",".join("?" * len(part))
            for e, r, g, b in self.db.execute(
                f"SELECT entry, r, g, b FROM patterns WHERE entry IN ({q})", part
            ):
                if max(abs(r - mean[0]), abs(g - mean[1]), abs(b - mean[2])) <= NEAR_PATTERN_MEAN:
                    near.add(int(e))
        ranked = sorted(near, key=lambda e: (-len(votes[e]), e))[:PATTERN_VERIFY]
        if not ranked:
            return []
        q = ",".join("?" * len(ranked))
        sigs = {
            int(e): PatternSignature.from_bytes(bytes(b))
            for e, b in self.db.execute(
                f"SELECT entry, signature FROM patterns WHERE entry IN ({q})", ranked
            )
        }
        return [(e, sigs[e]) for e in ranked if e in sigs]

    def _palette_shared(self, sig: PatternSignature, exclude: int) -> int:
        """How many other registered patterns the colours of ``sig`` (the query) cannot tell
        from the matched one: mean and colour axis within the conclusive tolerances."""
        tol = EXACT_PATTERN_MEAN
        r, g, b = sig.mean
        cos = float(np.cos(np.radians(EXACT_PATTERN_AXIS)))
        n = 0
        for e, g2, b2, ax, ay, az in self.db.execute(
            "SELECT entry, g, b, ax, ay, az FROM patterns WHERE r BETWEEN ? AND ?",
            (r - tol, r + tol),
        ):
            if int(e) == exclude or abs(g2 - g) > tol or abs(b2 - b) > tol:
                continue
            if abs(ax * sig.axis[0] + ay * sig.axis[1] + az * sig.axis[2]) >= cos:
                n += 1
        return n

    def _match_patterns(self, pat: PatternSignature, h: bytes, out: dict[int, Match]) -> None:
        """Periodic-pattern matches (see the module notes): structure and colours agree.

        Conclusive when, besides, the colours carry information (not a grey pattern, not
        shared by other registered patterns) and no other registered pattern agrees as
        well; near otherwise."""
        agree: list[tuple[int, PatternSignature, dict[str, Any], bool]] = []
        for e, sig in self._pattern_candidates(pat):
            st, scale = spectral.structure_similarity(pat, sig)
            if st < PATTERN_STRUCTURE:
                continue
            dm, axis_deg, ratio = spectral.colour_difference(pat, sig)
            if dm > NEAR_PATTERN_MEAN:
                continue
            colours = (
                dm <= EXACT_PATTERN_MEAN
                and axis_deg <= EXACT_PATTERN_AXIS
                and PATTERN_SPREAD[0] <= ratio <= PATTERN_SPREAD[1]
            )
            details: dict[str, Any] = {
                "structure": round(st, 3),
                "scale": round(scale, 3),
                "colour_difference": round(dm, 1),
                "colour_axis_degrees": round(axis_deg, 1),
                "pattern_strength": round(sig.strength, 2),
            }
            agree.append((e, sig, details, colours))
        strong = [a for a in agree if a[3]]
        for e, sig, details, colours in agree:
            prior = out.get(e)
            if prior is not None and prior.level == "exact":
                continue
            level = "near"
            if colours:
                shared = self._palette_shared(pat, e)
                details["palette_shared_by"] = shared
                if len(strong) > 1:
                    details["ambiguous"] = len(strong)
                elif not sig.achromatic and shared < PALETTE_SHARED:
                    level = "exact"
            if prior is not None and level == "near":
                # The PDQ or ORB near match says as much. It never makes a pattern agreement
                # conclusive: on periodic images PDQ and the spectrum see the same structure
                # (same-palette stress test: a grating met another one that way).
                continue
            entry = prior.entry if prior is not None else self.entry(e)
            if entry is None:
                continue
            dist = prior.distance if prior is not None else float(hamming(h, self._pdq_of(e)))
            base = dict(prior.details) if prior is not None else {"bits": 256}
            out[e] = Match(entry, level, dist, "pattern", {**base, **details})

    def _inliers(self, content: ContentHash, eid: int) -> int | None:
        """Geometric check of the query's local features against an entry's (None: either
        side has no features to compare)."""
        if content.descriptors is None or content.points is None or len(content.descriptors) < 3:
            return None
        local = self._local(eid)
        if local is None or len(local[1]) < 3:
            return None
        n = orb_inliers((content.points, content.descriptors), local)
        if self.trace is not None:
            self.trace.append((eid, n))
        return n

    def _pdq_of(self, eid: int) -> bytes:
        blob = self._blobs([eid]).get(eid)
        return blob[0][:32] if blob else bytes(32)

    def _match_video(self, content: ContentHash, threshold: float | None) -> list[Match]:
        near = float(threshold) if threshold is not None else NEAR_VIDEO
        exact = min(EXACT_VIDEO, near)
        q = content.hashes
        if not q:
            return []
        good = [i for i, qq in enumerate(content.qualities) if qq >= MIN_QUALITY // 2] or list(
            range(len(q))
        )
        probes = [good[int(k)] for k in np.linspace(0, len(good) - 1, min(VIDEO_PROBES, len(good)))]
        votes: Counter[tuple[int, int]] = Counter()
        for qi in dict.fromkeys(probes):
            for e, p, _d in self.search_pdq(q[qi], 40):
                votes[(e, p - qi)] += 1
        if not votes:
            return []
        qmat = np.frombuffer(b"".join(q), dtype=np.uint8).reshape(-1, 32)
        best: dict[int, tuple[float, int, int]] = {}
        blobs = self._blobs({e for (e, _), _n in votes.most_common(20)})
        for (e, off), _n in votes.most_common(20):
            blob = blobs.get(e)
            if blob is None or blob[1] != "video":
                continue
            rmat = np.frombuffer(blob[0], dtype=np.uint8).reshape(-1, 32)
            for o in (off - 1, off, off + 1):
                lo, hi = max(0, -o), min(len(qmat), len(rmat) - o)
                if hi - lo < min(MIN_VIDEO_FRAMES, len(qmat)):
                    continue
                d = _POP[np.bitwise_xor(qmat[lo:hi], rmat[lo + o : hi + o])].sum(axis=1)
                med = float(np.median(d))
                if e not in best or med < best[e][0]:
                    best[e] = (med, o, hi - lo)
        out = []
        for e, (med, o, n) in best.items():
            if med > near:
                continue
            level = "exact" if med <= exact and n >= MIN_VIDEO_FRAMES else "near"
            m = self._make(
                e,
                level,
                med,
                "pdq-frames",
                {"frame_offset": o, "offset_seconds": o * content.step, "frames_compared": n},
            )
            if m:
                out.append(m)
        return out

    def _match_audio(self, content: ContentHash, threshold: float | None) -> list[Match]:
        near = float(threshold) if threshold is not None else NEAR_AUDIO
        exact = min(EXACT_AUDIO, near)
        fp = content.audio
        if fp is None or len(fp) == 0:
            return []
        loud = content.loud if content.loud is not None else np.ones(len(fp), bool)
        idx = [i for i in range(len(fp)) if loud[i] and int(fp[i]) not in (0, 0xFFFFFFFF)]
        if len(idx) > AUDIO_PROBES:
            idx = idx[:: -(-len(idx) // AUDIO_PROBES)]
        where: dict[int, list[int]] = {}
        for i in idx:
            where.setdefault(int(fp[i]), []).append(i)
        votes: Counter[tuple[int, int]] = Counter()
        for key, e, p in self._lookup("audio_index", list(where)):
            for qi in where[key]:
                votes[(e, p - qi)] += 1
        if not votes:
            return []
        top = [k for k, n in votes.most_common(10) if n >= 2] or [votes.most_common(1)[0][0]]
        blobs = self._blobs({e for e, _ in top})
        best: dict[int, tuple[float, int, int]] = {}
        for e, off in top:
            blob = blobs.get(e)
            if blob is None or blob[1] != "audio":
                continue
            reg = np.frombuffer(blob[0], dtype="<u4")
            lo, hi = max(0, -off), min(len(fp), len(reg) - off)
            if hi - lo < min(MIN_AUDIO_FRAMES, len(fp)):
                continue
            ber = bit_error_rate(fp[lo:hi], reg[lo + off : hi + off].astype(np.uint32))
            if e not in best or ber < best[e][0]:
                best[e] = (ber, off, hi - lo)
        out = []
        for e, (ber, off, n) in best.items():
            if ber > near:
                continue
            level = "exact" if ber <= exact and n >= MIN_AUDIO_FRAMES else "near"
            m = self._make(
                e,
                level,
                round(ber, 4),
                "hk-audio",
                {"offset_seconds": round(off * content.step, 3), "frames_compared": n},
            )
            if m:
                out.append(m)
        return out


_POP: npt.NDArray[np.uint8] = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _entry(row: Any) -> Entry:
    rec = None
    if row[7]:
        try:
            rec = json.loads(row[7])
        except ValueError:
            rec = None
    return Entry(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        str(row[4]),
        str(row[5]),
        str(row[6]),
        rec,
        float(row[8]),
        int(row[9]),
    )


__all__ = [
    "EXACT_AUDIO",
    "EXACT_IMAGE",
    "EXACT_VIDEO",
    "NEAR_AUDIO",
    "NEAR_IMAGE",
    "NEAR_VIDEO",
    "Entry",
    "Match",
    "Registry",
    "RegistryError",
    "default_path",
    "hamming_many",
]
