"""Hash registry benchmark: recall after stripping/re-encoding/resizing/crops, false matches,
speed. Writes bench/results/registry.md and registry.csv.

Images: generated photos, textures and text screenshots (bench/_gen_media.py); N registered,
N others never registered. Each is attacked (metadata strip = lossless re-save, JPEG 70,
resize 0.5x / 0.75x, crops of 5-10 %, a combination) and looked up. False matches are counted
on every (unregistered query, registered entry) pair, and PDQ's own distance distribution is
measured on every pair of distinct originals. Baseline: 64-bit average and difference hashes
at the threshold giving <= 1e-4 false matches on the same pairs.

Video: generated clips (pan/zoom over generated pictures) re-encoded CRF 28 at half
resolution with trims. Audio: generated music-like clips as MP3 64k/128k, resampled, trimmed.

    .venv/bin/python bench/bench_registry.py [--images 1000] [--positives 300] [--clips 8]
        [--palette 100] [--entries 100000] [--skip image,palette,video,audio,scale] [--out DIR]

Also: a same-palette stress test (patterns that share two colours, where colour carries no
evidence) and, at scale, a pattern index filled with 10,000 signatures.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _gen_media as G

from synthlabel.assess.attacks import image as IA
from synthlabel.assess.attacks import registry as attack_registry
from synthlabel.detect import hashes as H
from synthlabel.detect import hashregistry as R
from synthlabel.detect import spectral
from synthlabel.detect.spectral import pattern_signature

OUT = Path(__file__).parent / "results"


# The attacks live in the package (synthlabel.assess.attacks), shared with `synthlabel drill`.
ATTACKS = {
    name: attack_registry.get(attack_id)
    for name, attack_id in {
        "strip (lossless re-save)": "image.resave_png",
        "JPEG 70": "image.jpeg70",
        "resize 0.5x": "image.resize0.5_area",
        "resize 0.75x": "image.resize0.75",
        "crop 5 % (centre)": "image.crop_centre95",
        "crop 10 % (one corner)": "image.crop_corner90",
        "resize 0.75x + crop 8 % + JPEG 70": "image.combo",
    }.items()
}


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel similarity of two originals (grey 64x64, contrast-normalised): an independent
    check of whether a 'false match' is between near-identical generated images."""
    g = [
        cv2.resize(
            cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA
        ).astype(np.float64)
        for x in (a, b)
    ]
    g = [(x - x.mean()) / (x.std() + 1e-9) for x in g]
    return float((g[0] * g[1]).mean())


def image_bench(n: int, rows: list[dict[str, object]], n_pos: int) -> list[str]:
    """n registered images, n unregistered ones (each attacked once, attacks in turn: n x n
    non-matching pairs), n_pos registered images attacked by every attack for recall."""
    md: list[str] = []
    t0 = time.time()
    reg_imgs = [G.image(s) for s in range(n)]
    neg_imgs = [G.image(100_000 + s) for s in range(n)]
    gen_s = time.time() - t0
    names = list(ATTACKS)
    with tempfile.TemporaryDirectory() as tmp:
        reg = R.Registry(Path(tmp) / "r.sqlite")
        t0 = time.time()
        contents = [H.hash_image_array(a) for _, a in reg_imgs]
        hash_s = (time.time() - t0) / n
        t0 = time.time()
        pdq_only = [H.pdq(a) for _, a in reg_imgs[: min(n, 200)]]
        pdq_s = (time.time() - t0) / len(pdq_only)
        sample = [H.normalised(a) for _, a in reg_imgs[: min(n, 200)]]
        t0 = time.time()
        for a in sample:
            pattern_signature(a)
        pat_s = (time.time() - t0) / len(sample)
        t0 = time.time()
        for i, c in enumerate(contents):
            reg.add(c, name=f"img{i}", producer="bench", produce_id=f"p{i}", commit=False)
        reg.commit()
        add_s = (time.time() - t0) / n
        fine = [G.image_kind(s) for s in range(n)]
        patterns = [fine[i] for i, c in enumerate(contents) if c.pattern and c.pattern.periodic]
        base_a = np.array([np.frombuffer(H.average_hash(a), np.uint8) for _, a in reg_imgs])
        base_d = np.array([np.frombuffer(H.difference_hash(a), np.uint8) for _, a in reg_imgs])
        # PDQ distances among every pair of distinct originals (registered + others)
        allh = [c.hashes[0] for c in contents] + [H.pdq(a)[0] for _, a in neg_imgs]
        mat = np.frombuffer(b"".join(allh), np.uint8).reshape(-1, 32)
        pd = np.concatenate([H.hamming_many(allh[i], mat[i + 1 :]) for i in range(len(allh) - 1)])
        kinds = [k for k, _ in reg_imgs]
        latencies: list[float] = []
        # ---- negatives: every unregistered image once, under the attacks in turn
        reg.trace = []
        fp: list[tuple[int, str, str, float, int | None, str, str]] = []
        neg_pats: list[spectral.PatternSignature] = []
        neg_a: list[np.ndarray] = []
        neg_d: list[np.ndarray] = []
        for j, (_, a) in enumerate(neg_imgs):
            att = names[j % len(names)]
            q = ATTACKS[att](a)
            c = H.hash_image_array(q)
            if c.pattern is not None and c.pattern.strength >= spectral.QUERY_PERIODIC:
                neg_pats.append(c.pattern)
            t = time.time()
            ms = reg.match(c)
            latencies.append(time.time() - t)
            for m in ms:
                fp.append(
                    (j, m.entry.name, m.level, m.distance, m.details.get("inliers"), att, m.hash)
                )
            neg_a.append(H.hamming_many(H.average_hash(q), base_a))
            neg_d.append(H.hamming_many(H.difference_hash(q), base_d))
        neg_inl = np.array([x for _, x in reg.trace] or [0])
        neg_pairs = n * n
        na, nd = np.concatenate(neg_a), np.concatenate(neg_d)

        def thr(negs: np.ndarray, rate: float) -> int:
            s = np.sort(negs)
            k = int(rate * len(s))
            return int(s[k] - 1) if k < len(s) else 64

        ta, td = thr(na, 1e-4), thr(nd, 1e-4)
        # ---- positives
        recall: dict[str, dict[str, list[int]]] = {}
        pos_inl: list[int] = []
        by_hash: dict[str, int] = {}
        for att, fn in ATTACKS.items():
            hits: dict[str, list[int]] = {"exact": [], "any": [], "pdq": [], "a": [], "d": []}
            for i, (_, a) in enumerate(reg_imgs[:n_pos]):
                q = fn(a)
                c = H.hash_image_array(q)
                reg.trace = []
                t = time.time()
                ms = reg.match(c)
                latencies.append(time.time() - t)
                pos_inl += [x for e, x in reg.trace if e == i + 1]
                top = [m for m in ms if m.entry.name == f"img{i}"]
                hits["exact"].append(int(any(m.level == "exact" for m in top)))
                for m in top:
                    if m.level == "exact":
                        by_hash[m.hash] = by_hash.get(m.hash, 0) + 1
                hits["any"].append(int(bool(top)))
                hits["pdq"].append(
                    int(H.hamming(c.hashes[0], contents[i].hashes[0]) <= R.NEAR_IMAGE)
                )
                hits["a"].append(int(H.hamming(H.average_hash(q), base_a[i].tobytes()) <= ta))
                hits["d"].append(int(H.hamming(H.difference_hash(q), base_d[i].tobytes()) <= td))
            recall[att] = hits
        reg.trace = None
        pos_arr = np.array(pos_inl or [0])
        md += [
            "## Images",
            "",
            f"{n} registered generated images (photo/texture/text in turn, 360-720 px) and {n} "
            f"others never registered. Recall: the first {n_pos} registered images under each "
            f"of {len(ATTACKS)} attacks. False matches: each unregistered image is attacked "
            f"once (the attacks in turn) and looked up in the full registry: {n} x {n} = "
            f"{neg_pairs:,} non-matching (query, entry) pairs. Baselines (64-bit aHash / dHash) "
            "at the largest threshold keeping false matches <= 1e-4 on the same pairs.",
            "",
            "| attack | recall exact (conclusive) | recall exact+near | PDQ alone <= "
            f"{R.NEAR_IMAGE} | aHash <= {ta} | dHash <= {td} | photo / texture / text (any) |",
            "|---|---|---|---|---|---|---|",
        ]
        for att, hits in recall.items():
            ex, an, pe = (float(np.mean(hits[k])) for k in ("exact", "any", "pdq"))
            ba, bd = float(np.mean(hits["a"])), float(np.mean(hits["d"]))
            per = " / ".join(
                f"{np.mean([h for h, k in zip(hits['any'], kinds, strict=False) if k == kk]):.0%}"
                for kk in ("photo", "texture", "text")
            )
            md.append(f"| {att} | {ex:.1%} | {an:.1%} | {pe:.1%} | {ba:.1%} | {bd:.1%} | {per} |")
            rows.append(
                {
                    "kind": "image",
                    "attack": att,
                    "recall_exact": round(ex, 4),
                    "recall_any": round(an, 4),
                    "pdq_alone": round(pe, 4),
                    "ahash": round(ba, 4),
                    "dhash": round(bd, 4),
                }
            )
        tot = {
            k: float(np.mean([x for h in recall.values() for x in h[k]]))
            for k in ("exact", "any", "pdq", "a", "d")
        }
        md.append(
            f"| **all** | **{tot['exact']:.1%}** | **{tot['any']:.1%}** | {tot['pdq']:.1%} "
            f"| {tot['a']:.1%} | {tot['d']:.1%} | |"
        )
        kinds5 = ("photo", "text", "grating", "checker", "noise")
        md += [
            "",
            "Conclusive (exact) recall by what the image is (the texture third split into its "
            "three generators; n = images of that kind among the recall set):",
            "",
            "| attack | " + " | ".join(kinds5) + " |",
            "|---|" + "---|" * len(kinds5),
        ]
        fine_pos = fine[:n_pos]
        for att, hits in recall.items():
            pairs = list(zip(hits["exact"], fine_pos, strict=False))
            cells = [f"{np.mean([h for h, k in pairs if k == kk]):.0%}" for kk in kinds5]
            md.append(f"| {att} | " + " | ".join(cells) + " |")
        counts = " / ".join(f"{kk} {fine_pos.count(kk)}" for kk in kinds5)
        tot_k = {
            kk: np.mean(
                [
                    h
                    for hits in recall.values()
                    for h, k in zip(hits["exact"], fine_pos, strict=False)
                    if k == kk
                ]
            )
            for kk in kinds5
        }
        md.append("| **all** | " + " | ".join(f"**{tot_k[kk]:.1%}**" for kk in kinds5) + " |")
        md += [
            "",
            f"- n: {counts}. Conclusive matches by the hash that decided them: "
            + ", ".join(f"{k} {v}" for k, v in sorted(by_hash.items()))
            + ".",
            f"- Registered images indexed as periodic patterns (strength >= "
            f"{spectral.PERIODIC}): {len(patterns)} of {n} ("
            + ", ".join(f"{kk} {patterns.count(kk)}" for kk in kinds5 if patterns.count(kk))
            + ").",
        ]
        md += _pattern_pairs(
            [c.pattern for c in contents if c.pattern and c.pattern.periodic], neg_pats
        )
        singles = [i for i in range(n) if G.grating_components(i) == 1]
        md.append(
            f"- Gratings: {fine.count('grating')} registered, {len(singles)} of them a single "
            "sinusoid (an orientation, a period and two colours); recall set: "
            f"{sum(1 for i in singles if i < n_pos)} single sinusoids."
        )
        fe = [x for x in fp if x[2] == "exact"]
        md += [
            "",
            f"- False matches: exact {len(fe)} / {neg_pairs:,} pairs (rate "
            f"{len(fe) / neg_pairs:.1e}); exact+near {len(fp)} (rate {len(fp) / neg_pairs:.1e}).",
        ]
        for j, name, level, dist, inl, att, how in fp:
            i = int(name[3:])
            orig_d = H.hamming(contents[i].hashes[0], H.pdq(neg_imgs[j][1])[0])
            sim = _ncc(reg_imgs[i][1], neg_imgs[j][1])
            md.append(
                f"  - {level} ({how}): unregistered #{j} ({G.image_kind(100_000 + j)}, {att}) ~ "
                f"{name} ({fine[i]}): PDQ {dist:g}, inliers {inl}; the two originals: PDQ "
                f"{orig_d}, pixel correlation {sim:.2f}"
            )
        md += [
            f"- Geometric check on negatives: {len(neg_inl)} checks "
            f"run, inliers max {neg_inl.max()}, 99.9 % {np.percentile(neg_inl, 99.9):.0f}; "
            f">= {R.NEAR_ORB} (near): {(neg_inl >= R.NEAR_ORB).sum()}, >= {R.EXACT_ORB} (exact): "
            f"{(neg_inl >= R.EXACT_ORB).sum()}. On the true entry: median {np.median(pos_arr):.0f},"
            f" 5 % {np.percentile(pos_arr, 5):.0f}.",
            f"- PDQ between distinct originals: min {pd.min()}, 0.01 % quantile "
            f"{np.percentile(pd, 0.01):.0f}, 1 % {np.percentile(pd, 1):.0f}, median "
            f"{np.median(pd):.0f}; pairs <= {R.EXACT_IMAGE}: {(pd <= R.EXACT_IMAGE).sum()}, "
            f"<= {R.NEAR_IMAGE}: {(pd <= R.NEAR_IMAGE).sum()} of {len(pd):,}.",
            f"- Speed (1 CPU, shared): PDQ {pdq_s * 1000:.1f} ms, pattern signature "
            f"{pat_s * 1000:.1f} ms, all hashes (PDQ + ORB + pattern) {hash_s * 1000:.1f} ms per "
            f"image (on decoded pixels); registry add {add_s * 1000:.1f} ms per entry (hashes "
            f"given); match p50 {np.median(latencies) * 1000:.1f} ms, p95 "
            f"{np.percentile(latencies, 95) * 1000:.1f} ms at {n} entries. Generation "
            f"{gen_s:.0f} s.",
            "",
        ]
        rows.append(
            {
                "kind": "image",
                "attack": "false matches",
                "recall_exact": len(fe),
                "recall_any": len(fp),
                "pdq_alone": neg_pairs,
                "ahash": ta,
                "dhash": td,
            }
        )
        reg.close()
    return md


def _pattern_pairs(
    reg_pats: list[spectral.PatternSignature], neg_pats: list[spectral.PatternSignature]
) -> list[str]:
    """How often two different patterns agree in structure, in colour, in both: every
    (periodic unregistered query, registered pattern) pair, without the index."""
    st = col = both = 0
    for q in neg_pats:
        for r in reg_pats:
            s_ok = spectral.structure_similarity(q, r)[0] >= R.PATTERN_STRUCTURE
            dm, deg, ratio = spectral.colour_difference(q, r)
            c_ok = (
                dm <= R.EXACT_PATTERN_MEAN
                and deg <= R.EXACT_PATTERN_AXIS
                and R.PATTERN_SPREAD[0] <= ratio <= R.PATTERN_SPREAD[1]
            )
            st += s_ok
            col += c_ok
            both += s_ok and c_ok
    pairs = max(1, len(neg_pats) * len(reg_pats))
    return [
        f"- Different patterns (each of the {len(neg_pats)} periodic unregistered queries x "
        f"{len(reg_pats)} registered patterns = {pairs:,} pairs, no index): structure agrees "
        f"(peak maps >= {R.PATTERN_STRUCTURE}) in {st} ({st / pairs:.1%}), colours agree "
        f"(mean <= {R.EXACT_PATTERN_MEAN:g}, axis <= {R.EXACT_PATTERN_AXIS:g} deg) in {col} "
        f"({col / pairs:.2%}), both in {both}. The colours carry most of the evidence.",
    ]


#: One palette for every pattern of the same-palette stress test (a brand's two colours).
PALETTE = ((214, 58, 42), (246, 236, 212))


def palette_pattern(seed: int) -> np.ndarray:
    """A grating (even seeds) or a checkerboard with a soft noise overlay (odd seeds), drawn
    with the ranges of the benchmark's texture generator but always in :data:`PALETTE`."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(360, 720)), int(rng.integers(360, 720))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if seed % 2 == 0:
        f = np.zeros((h, w), np.float32)
        for _ in range(rng.integers(1, 4)):
            th = rng.uniform(0, np.pi)
            fr = rng.uniform(0.01, 0.15)
            f += np.sin((xx * np.cos(th) + yy * np.sin(th)) * fr * 2 * np.pi + rng.uniform(0, 6))
    else:
        sq = int(rng.integers(8, 64))
        f = (((xx // sq) + (yy // sq)) % 2).astype(np.float32)
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(0, 90)), 1.0)
        f = cv2.warpAffine(f, rot, (w, h), borderMode=cv2.BORDER_REFLECT)
        cells = int(rng.integers(3, 20))
        f += 0.3 * cv2.resize(rng.random((cells, cells)).astype(np.float32), (w, h))
    f = (f - f.min()) / (np.ptp(f) + 1e-6)
    c0, c1 = (np.array(c, np.float32) for c in PALETTE)
    return np.clip(c0 * (1 - f[..., None]) + c1 * f[..., None], 0, 255).astype(np.uint8)


def palette_bench(n: int, rows: list[dict[str, object]]) -> list[str]:
    """Where the colours stop being evidence: n registered and n other patterns, all in one
    palette; every one queried after a 10 % corner crop."""
    crop = ATTACKS["crop 10 % (one corner)"]
    with tempfile.TemporaryDirectory() as tmp:
        reg = R.Registry(Path(tmp) / "p.sqlite")
        for i in range(n):
            reg.add(H.hash_image_array(palette_pattern(i)), name=f"pal{i}", commit=False)
        reg.commit()
        ex = an = 0
        for i in range(n):
            top = reg.match(H.hash_image_array(crop(palette_pattern(i))))
            mine = [m for m in top if m.entry.name == f"pal{i}"]
            ex += any(m.level == "exact" for m in mine)
            an += bool(mine)
        fe = fa = 0
        for j in range(n):
            ms = reg.match(H.hash_image_array(crop(palette_pattern(500_000 + j))))
            fe += sum(m.level == "exact" for m in ms)
            fa += len(ms)
        reg.close()
    rows.append(
        {
            "kind": "image-palette",
            "attack": "crop 10 % (one corner)",
            "recall_exact": ex / n,
            "recall_any": an / n,
            "pdq_alone": f"{fe}/{fa}",
            "ahash": "",
            "dhash": "",
        }
    )
    return [
        "## Same-palette patterns (stress test of the pattern signature)",
        "",
        f"{n} registered gratings and checkerboards and {n} others, every one in the same two "
        f"colours {PALETTE[0]} / {PALETTE[1]}, queried after a 10 % corner crop. The colours "
        "no longer tell patterns apart, so a pattern match may only be near here (the "
        "registry sees the palette shared by other entries).",
        "",
        "| recall exact | recall exact+near | false matches exact / any |",
        "|---|---|---|",
        f"| {ex / n:.0%} | {an / n:.0%} | {fe} / {fa} of {n * n:,} pairs ({fa / (n * n):.1e}) |",
        "",
    ]


def _pattern_pool(k: int) -> list[spectral.PatternSignature]:
    sigs = []
    s = 300_000
    while len(sigs) < k:
        if G.image_kind(s) in ("grating", "checker"):
            sig = pattern_signature(H.normalised(G.image(s)[1]))
            if sig.periodic:
                sigs.append(sig)
        s += 1
    return sigs


def _random_pattern(
    pool: list[spectral.PatternSignature], rng: np.random.Generator
) -> spectral.PatternSignature:
    """A stand-in registered pattern: a real one turned and rescaled in the log-polar grid,
    in random colours (filler for the scale test)."""
    base = pool[int(rng.integers(len(pool)))]
    pm = np.roll(base.peakmap, int(rng.integers(spectral.NT)), axis=0)
    shift = int(rng.integers(-4, 5))
    pm = np.roll(pm, shift, axis=1)
    if shift > 0:
        pm[:, :shift] = 0
    elif shift < 0:
        pm[:, shift:] = 0
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    return spectral.PatternSignature(
        base.strength,
        tuple(float(v) for v in rng.uniform(20, 235, 3)),  # type: ignore[arg-type]
        tuple(float(v) for v in axis),  # type: ignore[arg-type]
        base.spread,
        tuple(spectral.local_peaks(pm.astype(np.float32), spectral.INDEX_PEAKS)),
        pm,
    )


def scale_bench(entries: int, orb_entries: int) -> list[str]:
    """Match latency in a registry of ``entries`` PDQ entries (random hashes plus real ones)."""
    rng = np.random.default_rng(5)
    pattern_entries = orb_entries  # as many filler patterns as filler ORB entries
    with tempfile.TemporaryDirectory() as tmp:
        reg = R.Registry(Path(tmp) / "big.sqlite")
        t0 = time.time()
        real = [H.hash_image_array(G.image(s)[1]) for s in range(50)]
        pat_seeds = [s for s in range(400_000, 401_000) if G.image_kind(s) in ("grating",
                     "checker")][:30]  # fmt: skip
        real_pat = [H.hash_image_array(G.image(s)[1]) for s in pat_seeds]
        pool = _pattern_pool(40)
        pat_ids = []
        for i in range(entries):
            if i < len(real):
                c = real[i]
            elif i < len(real) + len(real_pat):
                c = real_pat[i - len(real)]
            else:
                c = H.ContentHash("image", "pdq", [rng.bytes(32)], [100])
                if i < orb_entries:
                    c.points = rng.random((128, 2), dtype=np.float32) * 512
                    c.descriptors = rng.integers(0, 256, (128, 32), dtype=np.uint8)
                if i % max(1, entries // pattern_entries) == 0:
                    c.pattern = _random_pattern(pool, rng)
            eid = reg.add(c, commit=False)
            if len(real) <= i < len(real) + len(real_pat):
                pat_ids.append(eid)
            if i % 10000 == 0:
                reg.commit()
        reg.commit()
        build = time.time() - t0
        n_pat = reg.db.execute("SELECT count(*) FROM patterns").fetchone()[0]
        lat = []
        found = 0
        for s in range(50):
            q = H.hash_image_array(IA.jpeg(IA.resize(G.image(s)[1], 0.75, "area"), 70))
            t = time.time()
            ms = reg.match(q)
            lat.append(time.time() - t)
            found += any(m.entry.id == s + 1 for m in ms)
        plat = []
        pfound = 0
        crop = ATTACKS["crop 10 % (one corner)"]
        for s, eid in zip(pat_seeds, pat_ids, strict=True):
            q = H.hash_image_array(crop(G.image(s)[1]))
            t = time.time()
            ms = reg.match(q)
            plat.append(time.time() - t)
            pfound += any(m.entry.id == eid and m.level == "exact" for m in ms)
        size = (Path(tmp) / "big.sqlite").stat().st_size
        reg.close()
    return [
        "## Scale",
        "",
        f"Registry of {entries:,} image entries ({orb_entries:,} with ORB features, {n_pat:,} "
        f"with a pattern signature: real ones of 30 generated gratings/checkerboards, the rest "
        f"real signatures turned, rescaled and recoloured at random), built in {build:.0f} s, "
        f"{size / 1e6:.0f} MB. Match latency (PDQ multi-index + ORB votes + geometric check + "
        f"pattern index) over 50 real queries: p50 {np.median(lat) * 1000:.1f} ms, p95 "
        f"{np.percentile(lat, 95) * 1000:.1f} ms; {found}/50 found (resize 0.75x + JPEG 70). "
        f"The 30 patterns after a 10 % corner crop: p50 {np.median(plat) * 1000:.1f} ms, p95 "
        f"{np.percentile(plat, 95) * 1000:.1f} ms; {pfound}/30 found conclusively.",
        "",
    ]


def video_bench(n: int, rows: list[dict[str, object]]) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        reg = R.Registry(d / "v.sqlite")
        paths = []
        for s in range(2 * n):
            frames = G.video_frames(s, 8 * 25)
            p = d / f"v{s}.mp4"
            G.encode_h264(frames, p)
            paths.append(p)
        t0 = time.time()
        for i, p in enumerate(paths[:n]):
            reg.add(H.hash_file(p), name=f"v{i}")
        add_s = (time.time() - t0) / n
        h264 = attack_registry.get("video.h264_crf28").with_params(
            scale=0.5, preset=None, audio="none"
        )
        attacks = {
            "CRF 28 + half resolution": h264,
            "CRF 28 + half res + trim 1.3 s start": h264.with_params(start=1.3, input_seek=True),
            "CRF 28 + half res + first 5 s": h264.with_params(duration=5.0),
        }
        md = [
            "## Video",
            "",
            f"{n} registered generated clips (8 s, 320x240, 25 fps), {n} others.",
            "",
            "| attack | recall exact | recall exact+near | false matches (exact / any) |",
            "|---|---|---|---|",
        ]
        for att, attack in attacks.items():
            ex = an = fe = fa = 0
            for i, p in enumerate(paths):
                q = attack.apply(p, d / "q")
                ms = reg.match(H.hash_file(q))
                if i < n:
                    top = [m for m in ms if m.entry.name == f"v{i}"]
                    ex += any(m.level == "exact" for m in top)
                    an += bool(top)
                else:
                    fe += sum(m.level == "exact" for m in ms)
                    fa += len(ms)
            md.append(f"| {att} | {ex / n:.0%} | {an / n:.0%} | {fe} / {fa} of {n * n} pairs |")
            rows.append(
                {
                    "kind": "video",
                    "attack": att,
                    "recall_exact": ex / n,
                    "recall_any": an / n,
                    "pdq_alone": f"{fe}/{fa}",
                    "ahash": "",
                    "dhash": "",
                }
            )
        md += [
            "",
            f"- Hashing: {add_s:.2f} s per 8 s clip (decode at {H.VIDEO_FPS:g} fps + PDQ).",
            "",
        ]
        reg.close()
    return md


def audio_bench(n: int, rows: list[dict[str, object]]) -> list[str]:
    import wave

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        reg = R.Registry(d / "a.sqlite")
        paths = []
        for s in range(2 * n):
            x = G.audio(s, seconds=12.0)
            p = d / f"a{s}.wav"
            with wave.open(str(p), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(44100)
                w.writeframes((x * 32767).astype("<i2").tobytes())
            paths.append(p)
        t0 = time.time()
        for i, p in enumerate(paths[:n]):
            reg.add(H.hash_file(p), name=f"a{i}")
        add_s = (time.time() - t0) / n
        mp3 = attack_registry.get("audio.mp3_128k")
        attacks = {
            "MP3 128k": mp3,
            "MP3 64k": attack_registry.get("audio.mp3_64k"),
            "resample 22.05 kHz (WAV)": attack_registry.get("audio.resample22k"),
            "MP3 64k + trim 2.37 s start": mp3.with_params(bitrate="64k", start=2.37),
            "MP3 128k + last 6 s only": mp3.with_params(start=6.0),
        }
        md = [
            "## Audio",
            "",
            f"{n} registered generated music-like clips (12 s, 44.1 kHz), {n} others.",
            "",
            "| attack | recall exact | recall exact+near | false matches (exact / any) |",
            "|---|---|---|---|",
        ]
        for att, attack in attacks.items():
            ex = an = fe = fa = 0
            for i, p in enumerate(paths):
                q = attack.apply(p, d / "q")
                ms = reg.match(H.hash_file(q))
                if i < n:
                    top = [m for m in ms if m.entry.name == f"a{i}"]
                    ex += any(m.level == "exact" for m in top)
                    an += bool(top)
                else:
                    fe += sum(m.level == "exact" for m in ms)
                    fa += len(ms)
            md.append(f"| {att} | {ex / n:.0%} | {an / n:.0%} | {fe} / {fa} of {n * n} pairs |")
            rows.append(
                {
                    "kind": "audio",
                    "attack": att,
                    "recall_exact": ex / n,
                    "recall_any": an / n,
                    "pdq_alone": f"{fe}/{fa}",
                    "ahash": "",
                    "dhash": "",
                }
            )
        md += ["", f"- Fingerprinting: {add_s:.2f} s per 12 s clip (decode + resample + FFT).", ""]
        reg.close()
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--positives", type=int, default=300)
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--orb-entries", type=int, default=10_000)
    ap.add_argument("--palette", type=int, default=100, help="same-palette stress test size")
    ap.add_argument("--skip", default="", help="comma list of image,palette,video,audio,scale")
    ap.add_argument("--out", type=Path, default=OUT, help="where registry.md/.csv are written")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    rows: list[dict[str, object]] = []
    md = [
        "# Hash registry benchmark",
        "",
        "Generated by `bench/bench_registry.py` "
        f"(images {args.images}, clips {args.clips}, scale {args.entries:,}).",
        "",
        f"Thresholds: image PDQ exact <= {R.EXACT_IMAGE} (quality >= {H.MIN_QUALITY}), near <= "
        f"{R.NEAR_IMAGE}; ORB exact >= {R.EXACT_ORB} inliers, near >= {R.NEAR_ORB}; video "
        f"median frame distance exact <= {R.EXACT_VIDEO}, near <= {R.NEAR_VIDEO}; audio BER "
        f"exact <= {R.EXACT_AUDIO}, near <= {R.NEAR_AUDIO}; periodic patterns (strength >= "
        f"{spectral.PERIODIC}) peak maps >= {R.PATTERN_STRUCTURE} and mean colour exact <= "
        f"{R.EXACT_PATTERN_MEAN:g} (axis <= {R.EXACT_PATTERN_AXIS:g} deg, colours shared by "
        f"< {R.PALETTE_SHARED} other patterns), near <= {R.NEAR_PATTERN_MEAN:g}.",
        "",
    ]
    if "image" not in skip:
        md += image_bench(args.images, rows, min(args.images, args.positives))
        print("\n".join(md), flush=True)
    if "palette" not in skip:
        md += palette_bench(args.palette, rows)
    if "video" not in skip:
        md += video_bench(args.clips, rows)
    if "audio" not in skip:
        md += audio_bench(args.clips, rows)
    if "scale" not in skip:
        md += scale_bench(args.entries, args.orb_entries)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "registry.md").write_text("\n".join(md) + "\n")
    with open(out / "registry.csv", "w", newline="") as fh:
        w = csv.DictWriter(
            fh, ["kind", "attack", "recall_exact", "recall_any", "pdq_alone", "ahash", "dhash"]
        )
        w.writeheader()
        w.writerows(rows)
    print("\n".join(md))


if __name__ == "__main__":
    main()
