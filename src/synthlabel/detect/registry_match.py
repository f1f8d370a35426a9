"""Registry matches as findings: the content is a provider's registered output.

A provider records its outputs with ``synthlabel registry add`` (perceptual hashes and the
AIGC record, :mod:`synthlabel.detect.hashregistry`); this detector hashes the file under
inspection and looks it up in the registry named by ``options.registry_path`` (no registry
file: no findings). Codes:

* ``registry.match.exact`` (conclusive): identical or near-identical content (PDQ within
  ``EXACT_IMAGE`` bits confirmed by the local features, or ``EXACT_ORB`` local features on
  one crop-and-scale transform, or the same periodic pattern in the same, distinctive
  colours (:mod:`synthlabel.detect.spectral`), the aligned video
  frames or audio fingerprint within the exact limit), thresholds chosen so the measured
  false-match rate is at most 1e-6 (``bench/results/registry.md``);
* ``registry.match.near`` (strong): within the recall threshold (false matches <= 1e-4).

Details carry the matched entry (producer, ProduceID, AIGC record), the distance and which
hash matched.
"""

from __future__ import annotations

from pathlib import Path

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.detect.hashes import ContentHash, hash_bytes, kind_of_format
from synthlabel.detect.hashregistry import Match, Registry, RegistryError
from synthlabel.errors import SynthlabelError
from synthlabel.model.findings import Finding, Strength

SOURCE = (
    "synthlabel hash registry (PDQ, ORB local features, periodic-pattern signature, PDQ frame "
    "sequence, Haitsma-Kalker audio fingerprint); thresholds measured in "
    "bench/results/registry.md"
)
WHERE = {
    "pdq": "pixels",
    "orb": "pixels",
    "pattern": "pixels",
    "pdq-frames": "video frames",
    "hk-audio": "audio",
}


def asset_hash(asset: Asset) -> ContentHash | None:
    """The asset's perceptual hash, computed once per asset (None when it cannot be hashed)."""
    if asset.handler is None or kind_of_format(asset.handler.id) is None:
        return None
    handler = asset.handler

    def compute() -> ContentHash:
        return hash_bytes(asset.data, handler.id, path=asset.file)

    try:
        return asset.cached("content_hash", compute)
    except SynthlabelError:
        return None


def _distance_text(m: Match) -> str:
    if m.hash == "hk-audio":
        return f"bit error rate {m.distance:.3f}"
    if m.hash == "orb":
        return f"{m.details.get('inliers')} matching local features"
    if m.hash == "pattern":
        note = " (ambiguous)" if m.details.get("ambiguous") else ""
        return (
            f"same periodic pattern{note}: structure {m.details.get('structure')}, colours "
            f"within {m.details.get('colour_difference')} levels"
        )
    if m.hash == "pdq-frames":
        return f"median frame distance {m.distance:g}/256"
    return f"PDQ distance {m.distance:g}/256"


class RegistryMatchDetector:
    id = "registry"
    name = "perceptual-hash registry of registered outputs"
    media_kinds = frozenset({"image", "audio", "video"})
    cost = "medium"
    codes: tuple[str, ...] = ("registry.match.exact", "registry.match.near")

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        path = options.registry_path
        if not path or not Path(path).is_file():
            return []
        content = asset_hash(asset)
        if content is None:
            return []
        try:
            with Registry(path, create=False) as reg:
                matches = reg.match(content, limit=3)
        except RegistryError:
            return []
        out = []
        for m in matches:
            e = m.entry
            who = e.producer or "unknown producer"
            pid = e.produce_id or "no ProduceID"
            exact = m.level == "exact"
            out.append(
                Finding(
                    self.id,
                    f"registry.match.{m.level}",
                    f"{'matches' if exact else 'similar to'} registered output of {who} "
                    f"(ProduceID {pid}; {_distance_text(m)})",
                    Strength.CONCLUSIVE if exact else Strength.STRONG,
                    WHERE.get(m.hash, "content"),
                    SOURCE,
                    details={"registry": str(path), **m.to_dict()},
                )
            )
        return out


DETECTOR = RegistryMatchDetector()
