"""Implicit (metadata) labels: build the AIGC record, sign it, merge it into the file's XMP.

Bytes in, bytes out; the container work is done by the format plug-in found by sniffing.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthlabel.errors import RecordError
from synthlabel.formats import _xmp
from synthlabel.formats.base import ContainerMetadata, ContentDigest, FormatHandler, LabelWrite
from synthlabel.model import provider_code, signing
from synthlabel.model.aigc import AIGCRecord, Label, parse_record
from synthlabel.model.produce_id import (
    new_produce_id,
    validate_content_id,
    validate_produce_id,
    validate_propagate_id,
)

DST_TRAINED = _xmp.DST_TRAINED
DST_COMPOSITE = _xmp.DST_COMPOSITE


@dataclass(frozen=True)
class ImplicitOptions:
    """What goes into the record.

    ``producer`` is the 27-character provider code (validated); set ``allow_name`` to write an
    ASCII provider name instead (the standard allows names; codes are preferred).
    """

    producer: str
    produce_id: str | None = None
    label: str = Label.GENERATED.value
    edited: bool = False  # AI edit of an original: compositeWithTrainedAlgorithmicMedia
    allow_name: bool = False
    replace_malformed_xmp: bool = False

    @property
    def digital_source_type(self) -> str:
        return DST_COMPOSITE if self.edited else DST_TRAINED


def check_producer(producer: str, *, allow_name: bool = False) -> list[str]:
    """Validate the producer value; raises on a bad code, returns warnings."""
    if not producer:
        raise RecordError("a producer (provider code) is required")
    kind = provider_code.classify(producer)
    if kind == "code_valid":
        return list(provider_code.ProviderCode.parse(producer).warnings)
    if kind == "name" and allow_name:
        probe = AIGCRecord(content_producer=producer, produce_id="x").problems()
        if probe:
            raise RecordError(f"producer name {producer!r} is not allowed: {probe[0]}")
        return [f"producer {producer!r} is a name, not a provider code"]
    if kind == "name":
        raise RecordError(
            f"producer {producer!r} is not a 27-character provider code "
            "(pass allow_name / --allow-name to write an ASCII name instead)"
        )
    provider_code.validate(producer)  # raises ProviderCodeError naming the failing part
    return []  # pragma: no cover - validate() raised


def check_propagator(platform: str, *, allow_name: bool = False) -> list[str]:
    """Validate a platform's (propagator's) value like :func:`check_producer`; raises on a bad
    code, returns warnings (also when a valid code's service type is not dissemination)."""
    if not platform:
        raise RecordError("a platform (propagator provider code) is required")
    kind = provider_code.classify(platform)
    if kind == "code_valid":
        return list(provider_code.validate(platform, role="propagator").warnings)
    if kind == "name" and allow_name:
        probe = AIGCRecord(label="2", content_propagator=platform).problems()
        if probe:
            raise RecordError(f"platform name {platform!r} is not allowed: {probe[0]}")
        return [f"platform {platform!r} is a name, not a provider code"]
    if kind == "name":
        raise RecordError(
            f"platform {platform!r} is not a 27-character provider code "
            "(pass allow_name / --allow-name to write an ASCII name instead)"
        )
    provider_code.validate(platform)  # raises ProviderCodeError naming the failing part
    return []  # pragma: no cover - validate() raised


def propagated_record(record: AIGCRecord, platform: str, propagate_id: str) -> AIGCRecord:
    """``record`` completed by a platform (GB 45438 section 4.4): ``ContentPropagator`` and
    ``PropagateID`` set, ``ReservedCode2`` emptied (sign it afterwards with
    ``sign(..., role="propagator")``); ``Label``, the producer fields and ``ReservedCode1``
    are kept exactly as found, so the producer's signature stays valid."""
    validate_propagate_id(propagate_id)
    return record.replace(content_propagator=platform, propagate_id=propagate_id, reserved_code2="")


def platform_record(
    label: str,
    platform: str,
    propagate_id: str,
    *,
    producer: str = "",
    produce_id: str = "",
) -> AIGCRecord:
    """A new record written by a platform for content that arrived without one (Labeling
    Measures Art. 6): ``label`` "1", "2" or "3" from its verdict, the producer fields when
    the evidence names them (empty otherwise), the platform's propagation fields."""
    if label not in ("1", "2", "3"):
        raise RecordError(f'Label must be "1", "2" or "3", got {label!r}')
    validate_propagate_id(propagate_id)
    validate_content_id(producer, field="ContentProducer", allow_empty=True)
    validate_content_id(produce_id, field="ProduceID", allow_empty=True)
    record = AIGCRecord(
        label=label,
        content_producer=producer,
        produce_id=produce_id,
        content_propagator=platform,
        propagate_id=propagate_id,
    )
    return record.check()


def build_record(options: ImplicitOptions) -> tuple[AIGCRecord, list[str]]:
    """The unsigned producer record for one output, with warnings."""
    warnings = check_producer(options.producer, allow_name=options.allow_name)
    if options.produce_id:
        validate_produce_id(options.produce_id)
        pid = options.produce_id
    else:
        pid = new_produce_id()
    record = AIGCRecord(label=options.label, content_producer=options.producer, produce_id=pid)
    record.check()
    return record, warnings


def existing_records(meta: ContainerMetadata) -> list[AIGCRecord]:
    """Records already in the file (any carrier), parsed leniently."""
    out: list[AIGCRecord] = []
    for c in meta.carriers:
        values: list[str] = []
        if c.kind == "xmp":
            values = list(_xmp.read_fields(c.data).aigc)
        elif c.kind in ("aigc", "blob", "exif-usercomment"):
            values = [c.data.decode("utf-8", "replace")]
        for v in values:
            try:
                out.append(parse_record(v).record)
            except RecordError:
                continue
    return out


def write_record(
    data: bytes,
    handler: FormatHandler,
    record: AIGCRecord,
    *,
    digital_source_type: str | None = DST_TRAINED,
    base_xmp: bytes | None = None,
    replace_malformed_xmp: bool = False,
) -> bytes:
    """Write ``record`` with the format plug-in (merged into the file's XMP for XMP
    containers; ``base_xmp`` is the original's packet when the pixels were re-encoded)."""
    return handler.write_label(
        data,
        LabelWrite(
            aigc_json=record.to_json(),
            digital_source_type=digital_source_type,
            replace_malformed_xmp=replace_malformed_xmp,
            base_xmp=base_xmp,
        ),
    )


def sign(
    record: AIGCRecord,
    signer: signing.Signer,
    digest: ContentDigest,
    *,
    role: signing.Role = "producer",
) -> AIGCRecord:
    """Sign ``record`` and bind it to the content digest of its file (the plug-in's
    ``content_digest`` / ``content_digest_path``, which metadata edits do not change)."""
    return signing.sign_record(record, signer, role=role, content=(digest.selector, digest.digest))
