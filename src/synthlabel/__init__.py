"""synthlabel: make AI-generated content traceable (GB 45438-2025, C2PA, IPTC).

The small public API::

    import synthlabel

    result = synthlabel.label("in.png", "out.png", producer="001191110000MA0000000H10001")
    report = synthlabel.inspect("out.png")
    print(report.compliance, report.record)

Everything here is typed; results serialise with ``to_dict()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

# ``label`` and ``inspect`` are both subpackages (layers) and the public functions below.
# Import the subpackages first: a package is bound as an attribute of its parent only when it
# is first imported, so the functions defined afterwards stay bound for good.
import synthlabel.inspect as _inspect_layer  # noqa: F401
import synthlabel.label as _label_layer  # noqa: F401
from synthlabel.errors import (
    LimitExceeded,
    MalformedInput,
    OutputError,
    ProviderCodeError,
    RecordError,
    SynthlabelError,
    UnsupportedFormat,
)
from synthlabel.model.aigc import AIGCRecord, Label, parse_record
from synthlabel.model.findings import Decision, Finding, Strength, Verdict
from synthlabel.model.results import (
    BindingStatus,
    Compliance,
    InspectionReport,
    LabelResult,
    RecordReport,
    SignatureCheck,
    SignatureStatus,
)

if TYPE_CHECKING:
    from synthlabel.pipeline.labeling import LabelOptions
    from synthlabel.pipeline.propagating import PropagateResult

__version__ = "0.1.0"

__all__ = [
    "AIGCRecord",
    "BindingStatus",
    "Compliance",
    "Decision",
    "Finding",
    "InspectionReport",
    "Label",
    "LabelResult",
    "LimitExceeded",
    "MalformedInput",
    "OutputError",
    "ProviderCodeError",
    "RecordError",
    "RecordReport",
    "SignatureCheck",
    "SignatureStatus",
    "Strength",
    "SynthlabelError",
    "UnsupportedFormat",
    "Verdict",
    "__version__",
    "inspect",
    "inspect_bytes",
    "label",
    "label_bytes",
    "parse_record",
    "propagate",
]

PathLike = str | os.PathLike[str]


def _options(
    producer: str,
    *,
    produce_id: str | None,
    visible: bool,
    text: str | None,
    position: str | None,
    sign: str | None,
    c2pa: str | None,
    edited: bool,
    allow_name: bool,
    key_home: PathLike | None,
    watermark: str | bool | None = None,
    watermark_strength: float = 1.0,
) -> LabelOptions:
    from synthlabel.pipeline.labeling import LabelOptions

    return LabelOptions(
        producer=producer,
        produce_id=produce_id,
        visible=visible,
        text=text,
        position=position,
        sign_key=sign,
        c2pa=c2pa,
        edited=edited,
        allow_name=allow_name,
        key_home=str(key_home) if key_home else None,
        watermark="auto" if watermark is True else (watermark or None),
        watermark_strength=watermark_strength,
    )


def label(
    src: PathLike,
    dest: PathLike | None = None,
    *,
    producer: str,
    produce_id: str | None = None,
    visible: bool = True,
    text: str | None = None,
    position: str | None = None,
    sign: str | None = None,
    c2pa: str | None = None,
    edited: bool = False,
    allow_name: bool = False,
    key_home: PathLike | None = None,
    watermark: str | bool | None = None,
    watermark_strength: float = 1.0,
) -> LabelResult:
    """Label the file ``src`` into ``dest`` (``None``: replace ``src`` atomically).

    Raises :class:`SynthlabelError` (naming the file) when the file cannot be labelled.
    ``sign`` is a key id/name from the key store or a PEM private key path; ``c2pa`` is
    ``"CERT.pem,KEY.pem"``. ``watermark``: ``True`` (the default algorithm for the media
    kind) or an algorithm id embeds a robust watermark carrying the record's watermark key.
    """
    from synthlabel.pipeline.labeling import label_file

    opts = _options(
        producer,
        produce_id=produce_id,
        visible=visible,
        text=text,
        position=position,
        sign=sign,
        c2pa=c2pa,
        edited=edited,
        allow_name=allow_name,
        key_home=key_home,
        watermark=watermark,
        watermark_strength=watermark_strength,
    )
    result = label_file(Path(src), Path(dest) if dest is not None else Path(src), opts)
    if result.error:
        raise SynthlabelError(result.error)
    return result


def propagate(
    src: PathLike,
    dest: PathLike | None = None,
    *,
    platform: str,
    propagate_id: str | None = None,
    sign: str | None = None,
    key_home: PathLike | None = None,
    declared: bool = False,
    force_label: str | None = None,
    replace_invalid: bool = False,
    notice: bool = False,
    policy: PathLike | None = None,
    allow_name: bool = False,
) -> PropagateResult:
    """Publish ``src`` as platform ``platform`` into ``dest`` (``None``: replace ``src``).

    Completes the file's AIGC record with ContentPropagator/PropagateID (signed into
    ReservedCode2 with ``sign``), keeping the producer's fields and signature valid, or writes
    a record with Label 1/2/3 from the verdict when there is none (docs/propagation.md).
    ``result.status`` says what happened: propagated, labelled, replaced, no-trace (nothing
    written) or refused (an invalid record, nothing written). Raises
    :class:`SynthlabelError` (naming the file) when the file could not be processed.
    """
    from synthlabel.pipeline.propagating import FAILED, PropagateOptions, propagate_file

    options = PropagateOptions(
        platform=platform,
        propagate_id=propagate_id,
        allow_name=allow_name,
        sign_key=sign,
        key_home=str(key_home) if key_home else None,
        declared=declared,
        force_label=force_label,
        replace_invalid=replace_invalid,
        notice=notice,
        policy=str(policy) if policy is not None else None,
    )
    result = propagate_file(Path(src), Path(dest) if dest is not None else Path(src), options)
    if result.status == FAILED:
        raise SynthlabelError(result.error or f"{src}: propagation failed")
    return result


def label_bytes(
    data: bytes,
    *,
    producer: str,
    produce_id: str | None = None,
    visible: bool = True,
    text: str | None = None,
    position: str | None = None,
    sign: str | None = None,
    c2pa: str | None = None,
    edited: bool = False,
    allow_name: bool = False,
    key_home: PathLike | None = None,
    watermark: str | bool | None = None,
    watermark_strength: float = 1.0,
) -> tuple[bytes, LabelResult]:
    """Label a file held in memory; returns the new bytes and the result."""
    from synthlabel.pipeline.labeling import label_bytes as _label_bytes

    opts = _options(
        producer,
        produce_id=produce_id,
        visible=visible,
        text=text,
        position=position,
        sign=sign,
        c2pa=c2pa,
        edited=edited,
        allow_name=allow_name,
        key_home=key_home,
        watermark=watermark,
        watermark_strength=watermark_strength,
    )
    return _label_bytes(data, opts)


def inspect(
    path: PathLike,
    *,
    trust_file: PathLike | None = None,
    key_home: PathLike | None = None,
    c2pa: bool = True,
    c2pa_trust_anchors: PathLike | None = None,
    watermarks: bool = True,
    text_watermark_key: bytes | None = None,
    detect: bool = True,
    policy: PathLike | None = None,
    declared: bool = False,
    deep: bool = False,
) -> InspectionReport:
    """Read every label in ``path``. Never raises for bad files: see ``report.error``.

    ``watermarks``: also look for robust watermarks (``report.watermarks``);
    ``text_watermark_key``: the secret key text watermarks were generated with.
    ``detect``: run the detectors and give the Labeling Measures' verdict
    (``report.verdict``, ``report.evidence``) under ``policy`` (a built-in name or a TOML
    file; docs/verdict.md); ``declared``: the uploader declared the content AI-generated;
    ``deep``: also the expensive detectors (OCR)."""
    from synthlabel.pipeline.inspecting import InspectOptions, inspect_file

    return inspect_file(
        Path(path),
        InspectOptions(
            trust_file=str(trust_file) if trust_file else None,
            key_home=str(key_home) if key_home else None,
            c2pa=c2pa,
            c2pa_trust_anchors=str(c2pa_trust_anchors) if c2pa_trust_anchors else None,
            watermarks=watermarks,
            text_watermark_key=text_watermark_key,
            detect=detect,
            policy=str(policy) if policy is not None else None,
            declared=declared,
            max_cost="expensive" if deep else "medium",
        ),
    )


def inspect_bytes(data: bytes, *, c2pa: bool = True) -> InspectionReport:
    """Inspect a file held in memory (no trust file: signatures are checked for integrity)."""
    from synthlabel.inspect.reader import inspect_bytes as _inspect_bytes

    return _inspect_bytes(data, c2pa=c2pa)
