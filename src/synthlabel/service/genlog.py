"""The generation log: what providers say they generated, and finding it again.

A provider posts a line per output (``POST /api/v1/generation-log``): its ProduceID, the AIGC
record, and the content's hashes (or the file, which the service hashes with
:mod:`synthlabel.detect.hashes`). The row goes to ``generation_log`` (the database is the
record); the perceptual hashes are also indexed in a hash registry file
(:class:`synthlabel.detect.hashregistry.Registry`, setting ``registry_path``) under the name
``genlog:<id>``, which finds near-duplicates (PDQ multi-index, ORB local features for crops,
PDQ frame sequences for video, audio fingerprints) without scanning every entry.

When an item is inspected, :func:`match` looks for it three ways:

* the SHA-256 of the file equals a logged one (``registry.match.exact``, conclusive);
* its perceptual hash matches a logged output in the registry (``registry.match.exact`` or
  ``.near``, with the registry's measured thresholds);
* its AIGC record's ProduceID is one a provider logged (``genlog.produce_id``, for the record).

Each finding's ``details`` name the provider, the ProduceID and the generation log entry, so a
stripped copy is traced to who generated it. Content matches change the verdict through the
verdict policy (``registry.match.*`` rules), exactly as the library's registry detector does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from synthlabel.detect.hashes import ContentHash
from synthlabel.service.db.models import GenerationLogEntry, Provider

NAME_PREFIX = "genlog:"
SOURCE = "synthlabel generation log (providers' posted outputs)"


class RegistryUnavailable(RuntimeError):
    """The hash registry file cannot be written (the message names it)."""


class HashInputError(ValueError):
    """Posted hashes cannot be used (the message names the field)."""


# --- hashes <-> JSON ------------------------------------------------------------------------


def hash_summary(content: ContentHash) -> dict[str, Any]:
    """What the database keeps of a content hash (the registry file keeps the rest)."""
    out: dict[str, Any] = {"kind": content.kind, "algorithm": content.algorithm}
    if content.kind == "audio" and content.audio is not None:
        out["hk_audio"] = base64.b64encode(content.audio.astype("<u4").tobytes()).decode()
        out["step"] = content.step
    elif content.kind == "video":
        out["pdq_frames"] = [h.hex() for h in content.hashes]
        out["step"] = content.step
        out["quality"] = content.quality
    else:
        out["pdq"] = content.hashes[0].hex() if content.hashes else None
        out["quality"] = content.quality
        out["orb_features"] = 0 if content.descriptors is None else len(content.descriptors)
    return out


def primary_hash(content: ContentHash) -> str | None:
    """The value for ``content_record.perceptual_hash``: 'pdq:<hex>' (first frame for video)."""
    if content.kind == "audio" or not content.hashes:
        return None
    return f"pdq:{content.hashes[0].hex()}"


def _hex32(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise HashInputError(f"{where}: expected 64 hex digits (a PDQ hash)")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise HashInputError(f"{where}: not hexadecimal") from None
    if len(raw) != 32:
        raise HashInputError(f"{where}: a PDQ hash is 64 hex digits, got {len(value)}")
    return raw


def content_hash_from_json(data: Mapping[str, Any]) -> ContentHash:
    """A :class:`ContentHash` from posted hashes: ``{"pdq": hex, "quality": 0-100}`` (image),
    ``{"pdq_frames": [hex, ...], "step": s}`` (video) or ``{"hk_audio": base64 of little-endian
    uint32 sub-fingerprints, "step": s}`` (audio)."""
    if "pdq" in data:
        q = data.get("quality", 100)
        if not isinstance(q, int) or not 0 <= q <= 100:
            raise HashInputError("hashes.quality: an integer 0-100")
        return ContentHash("image", "pdq", [_hex32(data["pdq"], "hashes.pdq")], [q])
    if "pdq_frames" in data:
        frames = data["pdq_frames"]
        if not isinstance(frames, list) or not 1 <= len(frames) <= 10000:
            raise HashInputError("hashes.pdq_frames: a list of 1-10000 PDQ hashes")
        hashes = [_hex32(f, f"hashes.pdq_frames[{i}]") for i, f in enumerate(frames)]
        step = _step(data)
        return ContentHash("video", "pdq-frames", hashes, [100] * len(hashes), step=step)
    if "hk_audio" in data:
        try:
            raw = base64.b64decode(str(data["hk_audio"]), validate=True)
        except (binascii.Error, ValueError):
            raise HashInputError("hashes.hk_audio: not base64") from None
        if not raw or len(raw) % 4 or len(raw) > 4 * 1_000_000:
            raise HashInputError("hashes.hk_audio: 1 to 1,000,000 uint32 values (4 bytes each)")
        fp = np.frombuffer(raw, dtype="<u4").astype(np.uint32)
        return ContentHash("audio", "hk-audio", audio=fp, step=_step(data))
    raise HashInputError("hashes: give one of pdq, pdq_frames or hk_audio")


def _step(data: Mapping[str, Any]) -> float:
    step = data.get("step")
    if not isinstance(step, int | float) or not 0 < float(step) <= 60:
        raise HashInputError("hashes.step: seconds between frames/sub-fingerprints (0-60]")
    return float(step)


# --- the registry file ----------------------------------------------------------------------


def register(
    registry_path: Path,
    entry: GenerationLogEntry,
    provider: Provider,
    content: ContentHash,
) -> int:
    """Index ``entry``'s hashes in the registry file; the registry entry id."""
    from synthlabel.detect.hashregistry import Registry, RegistryError

    try:
        with Registry(registry_path) as reg:
            for old in reg.ids_for(entry.produce_id):
                e = reg.entry(old)
                if e is not None and e.name == f"{NAME_PREFIX}{entry.id}":
                    return old  # a retry of the same post
            return reg.add(
                content,
                name=f"{NAME_PREFIX}{entry.id}",
                sha256=entry.sha256 or "",
                producer=provider.provider_code or provider.name,
                produce_id=entry.produce_id,
                record=entry.record,
            )
    except (RegistryError, OSError) as exc:
        raise RegistryUnavailable(f"hash registry {registry_path}: {exc}") from None


def unregister(registry_path: Path, entries: Sequence[tuple[int, str]]) -> int:
    """Remove deleted log lines' hashes (``(generation_log id, ProduceID)`` pairs) from the
    registry file; how many registry entries went. A missing or unreadable file removes
    nothing (matching ignores entries whose log line is gone anyway)."""
    from synthlabel.detect.hashregistry import Registry, RegistryError

    if not entries or not Path(registry_path).is_file():
        return 0
    try:
        with Registry(registry_path, create=False) as reg:
            doomed = []
            for log_id, produce_id in entries:
                for rid in reg.ids_for(produce_id):
                    e = reg.entry(rid)
                    if e is not None and e.name == f"{NAME_PREFIX}{log_id}":
                        doomed.append(rid)
            return reg.remove(doomed)
    except (RegistryError, OSError):
        return 0


def _entry_finding(
    entry: GenerationLogEntry,
    provider: Provider | None,
    *,
    code: str,
    strength: str,
    how: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    who = provider.name if provider is not None else f"provider {entry.provider_id}"
    verb = "matches" if code.endswith(".exact") else "similar to"
    if code == "genlog.produce_id":
        summary = f"ProduceID {entry.produce_id} is in the generation log of {who}"
    else:
        summary = f"{verb} output logged by {who} (ProduceID {entry.produce_id}; {how})"
    return {
        "detector": "generation-log",
        "code": code,
        "strength": strength,
        "summary": summary,
        "location": "content" if code != "genlog.produce_id" else "AIGC record",
        "confidence": None,
        "details": {
            "generation_log_id": entry.id,
            "provider_id": entry.provider_id,
            "provider": who,
            "produce_id": entry.produce_id,
            "how": how,
            **(extra or {}),
        },
    }


def candidates(
    session: Session, sha256s: Iterable[str | None], produce_ids: Iterable[str | None]
) -> list[GenerationLogEntry]:
    """The log entries with any of these SHA-256s or ProduceIDs, in one query: pass them to
    :func:`match` as ``candidates`` for a batch of items (no query per item)."""
    shas = sorted({s for s in sha256s if s})
    pids = sorted({p for p in produce_ids if p})
    conds = []
    if shas:
        conds.append(GenerationLogEntry.sha256.in_(shas))
    if pids:
        conds.append(GenerationLogEntry.produce_id.in_(pids))
    if not conds:
        return []
    return list(
        session.scalars(
            select(GenerationLogEntry).where(or_(*conds)).order_by(GenerationLogEntry.id)
        )
    )


def match(
    session: Session,
    *,
    sha256: str | None,
    content: ContentHash | None,
    produce_id: str | None,
    registry_path: Path | None,
    limit: int = 3,
    candidates: Sequence[GenerationLogEntry] | None = None,
) -> list[dict[str, Any]]:
    """Evidence (scan-row style dicts) tying an item to logged outputs; strongest first.
    ``candidates`` (from :func:`candidates`) replaces the SHA-256 and ProduceID queries."""
    found: list[dict[str, Any]] = []
    seen: set[int] = set()

    def provider_of(entry: GenerationLogEntry) -> Provider | None:
        return session.get(Provider, entry.provider_id)

    def by_sha(sha: str) -> Iterable[GenerationLogEntry]:
        if candidates is not None:
            return [e for e in candidates if e.sha256 == sha][:limit]
        return session.scalars(
            select(GenerationLogEntry).where(GenerationLogEntry.sha256 == sha).limit(limit)
        )

    def by_produce_id(pid: str) -> Iterable[GenerationLogEntry]:
        if candidates is not None:
            return [e for e in candidates if e.produce_id == pid][:limit]
        return session.scalars(
            select(GenerationLogEntry).where(GenerationLogEntry.produce_id == pid).limit(limit)
        )

    if sha256:
        for entry in by_sha(sha256):
            seen.add(entry.id)
            found.append(
                _entry_finding(
                    entry,
                    provider_of(entry),
                    code="registry.match.exact",
                    strength="conclusive",
                    how="identical file (SHA-256)",
                )
            )
    if content is not None and registry_path is not None and Path(registry_path).is_file():
        from synthlabel.detect.hashregistry import Registry, RegistryError

        try:
            with Registry(registry_path, create=False) as reg:
                matches = reg.match(content, limit=limit)
        except RegistryError:
            matches = []
        for m in matches:
            name = m.entry.name
            if not name.startswith(NAME_PREFIX) or not name[len(NAME_PREFIX) :].isdigit():
                continue
            entry_id = int(name[len(NAME_PREFIX) :])
            if entry_id in seen:
                continue
            logged = session.get(GenerationLogEntry, entry_id)
            if logged is None or logged.produce_id != m.entry.produce_id:
                continue  # a registry entry whose database row was rolled back
            seen.add(entry_id)
            how = (
                f"bit error rate {m.distance:.3f}"
                if m.hash == "hk-audio"
                else f"{m.hash} distance {m.distance:g}"
            )
            exact = m.level == "exact"
            found.append(
                _entry_finding(
                    logged,
                    provider_of(logged),
                    code=f"registry.match.{m.level}",
                    strength="conclusive" if exact else "strong",
                    how=how,
                    extra={"distance": m.distance, "hash": m.hash, "level": m.level},
                )
            )
    if produce_id:
        for entry in by_produce_id(produce_id):
            if entry.id in seen:
                continue
            found.append(
                _entry_finding(
                    entry,
                    provider_of(entry),
                    code="genlog.produce_id",
                    strength="weak",
                    how="ProduceID in the AIGC record",
                )
            )
    return found


def redecide(row: dict[str, Any], extra: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``row`` with ``extra`` evidence merged in and the verdict decided again (default
    policy, the one the service inspects under)."""
    from synthlabel.model.findings import Finding, Strength
    from synthlabel.model.policy import load_policy

    if not extra:
        return row
    evidence = json.loads(row["evidence"]) if row.get("evidence") else []
    merged = list(evidence) + [dict(e) for e in extra]
    findings = [
        Finding(
            str(e.get("detector") or "?"),
            str(e.get("code") or "?"),
            str(e.get("summary") or ""),
            Strength(str(e.get("strength") or "weak")),
            str(e.get("location") or ""),
            confidence=e.get("confidence"),
        )
        for e in merged
    ]
    policy = load_policy(None)  # the service inspects under the default policy
    decision = policy.decide(findings)
    order = {id(f): i for i, f in enumerate(findings)}
    ranked = [merged[order[id(f)]] for f in decision.evidence]
    out = dict(row)
    out.update(
        verdict=decision.verdict.value,
        label_value=decision.label_value,
        policy=decision.policy,
        reasons=list(decision.reasons),
        evidence=json.dumps(ranked, ensure_ascii=False, separators=(",", ":")),
    )
    return out
