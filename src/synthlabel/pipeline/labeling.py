"""Label files: visible label (optional), implicit record, signature, C2PA; atomic output."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthlabel.errors import RecordError, SynthlabelError, UnsupportedFormat
from synthlabel.formats import registry
from synthlabel.formats.base import (
    ContainerMetadata,
    FormatHandler,
    LabelWrite,
    StreamingFormat,
    StreamingHandler,
)
from synthlabel.inspect.reader import inspect_bytes, mime_type
from synthlabel.label import implicit
from synthlabel.model.aigc import AIGCRecord
from synthlabel.model.results import LabelResult, SignatureStatus
from synthlabel.pipeline.io import (
    SIDECAR_SUFFIX,
    STREAM_THRESHOLD,
    atomic_write,
    atomic_write_stream,
    read_file,
)
from synthlabel.pipeline.parallel import run_file_jobs

if TYPE_CHECKING:
    from synthlabel.label.c2pa import C2paCredentials
    from synthlabel.label.explicit import ExplicitOptions
    from synthlabel.label.visible import VisibleOptions
    from synthlabel.model.signing import Signer


@dataclass(frozen=True)
class LabelOptions:
    """Everything that decides how a file is labelled (picklable: sent to worker processes)."""

    producer: str
    produce_id: str | None = None
    edited: bool = False
    allow_name: bool = False
    visible: bool = True
    text: str | None = None
    position: str | None = None
    sign_key: str | None = None  # key id / name in the key store, or a PEM file path
    key_home: str | None = None
    c2pa: str | None = None  # "CERT.pem,KEY.pem"
    replace_malformed_xmp: bool = False
    verify: bool = True  # read the output back and check the record (verify-after-write)
    sidecar: bool = False  # write <output>.aigc.json where the file has no metadata slot
    audio_mode: str = "voice"  # explicit audio prompt: voice | rhythm
    audio_where: tuple[str, ...] = ("start",)
    language: str = "auto"
    caption_seconds: float = 3.0
    persistent_corner: bool = False  # video: a corner label for the whole clip
    end_caption: bool = False  # video: also caption the closing seconds
    voice_on_video: bool = False  # video: also the voice prompt on the audio track
    watermark: str | None = None  # robust watermark: an algorithm id, or "auto"; None: none
    watermark_strength: float = 1.0

    def visible_options(self) -> VisibleOptions:
        from synthlabel.label.visible import VisibleOptions

        kw: dict[str, Any] = {}
        if self.text:
            kw["text"] = self.text
        if self.position:
            kw["position"] = self.position
        return VisibleOptions(**kw)

    def explicit_options(self) -> ExplicitOptions:
        from synthlabel.label.explicit import ExplicitOptions

        return ExplicitOptions(
            text=self.text,
            position=self.position,
            audio_mode=self.audio_mode,
            audio_where=self.audio_where,
            language=self.language,
            caption_seconds=self.caption_seconds,
            persistent_corner=self.persistent_corner,
            end_caption=self.end_caption,
            voice_on_video=self.voice_on_video,
        )


_signers: dict[tuple[str, str | None], Signer] = {}
_creds: dict[str, C2paCredentials] = {}


def load_signer(ref: str, home: str | None = None) -> Signer:
    """A signer from the key store (id, id prefix or name) or from a PEM file path."""
    key = (ref, home)
    if key not in _signers:
        from synthlabel.model.keys import KeyStore

        if os.path.sep in ref or ref.endswith(".pem") or os.path.isfile(ref):
            _signers[key] = KeyStore.load_signer_file(Path(ref))
        else:
            _signers[key] = KeyStore(Path(home) if home else None).signer(ref)
    return _signers[key]


def _load_creds(spec: str) -> C2paCredentials:
    if spec not in _creds:
        from synthlabel.label.c2pa import load_credentials

        _creds[spec] = load_credentials(spec)
    return _creds[spec]


def _new_record(meta: ContainerMetadata, options: LabelOptions, result: LabelResult) -> AIGCRecord:
    """The unsigned producer record for this output; notes a record it will replace."""
    if implicit.existing_records(meta):
        result.replaced_existing = True
        result.warnings.append("replaced an existing AIGC record")
    record, warnings = implicit.build_record(
        implicit.ImplicitOptions(
            producer=options.producer,
            produce_id=options.produce_id,
            edited=options.edited,
            allow_name=options.allow_name,
        )
    )
    result.warnings.extend(warnings)
    return record


def _content(
    data: bytes,
    handler: FormatHandler,
    record: AIGCRecord,
    options: LabelOptions,
    result: LabelResult,
) -> bytes:
    """The labelled content before its metadata: explicit label, then the watermark.

    Images get both in one decode/encode pass; the watermark comes after the explicit label
    so it covers the final pixels or samples, and before the record so the content binding
    covers the watermarked content.
    """
    body = data
    image_pass = False
    if options.watermark and options.visible:
        from synthlabel.pipeline.watermarking import IMAGE_FORMATS

        image_pass = handler.id in IMAGE_FORMATS
    if options.visible and not image_pass:
        from synthlabel.label.explicit import render_explicit

        rendered = render_explicit(data, handler, options.explicit_options())
        body = rendered.data
        result.visible = rendered.applied
        result.warnings.extend(rendered.warnings)
    if options.watermark:
        from synthlabel.pipeline.watermarking import WatermarkRequest, apply_watermark

        request = WatermarkRequest(options.watermark, options.watermark_strength)
        body, info, warns, vis = apply_watermark(
            body,
            handler,
            record,
            request,
            visible=options.visible_options() if image_pass else None,
        )
        if vis is not None:
            result.visible = True
            result.warnings.extend(vis.warnings)
        result.warnings.extend(warns)
        result.watermark = info
    return body


def label_bytes(
    data: bytes, options: LabelOptions, *, path: str = "<bytes>"
) -> tuple[bytes, LabelResult]:
    """Label one file's bytes; returns the new bytes and the result (raises on failure)."""
    t0 = time.perf_counter()
    result = LabelResult(path=path, bytes_in=len(data))
    handler = registry.sniff(data[: registry.max_sniff_bytes()], name=path)
    result.format = handler.id
    meta = handler.read(data)
    original_xmp = meta.xmp[0].data if meta.xmp else None
    record = _new_record(meta, options, result)
    body = _content(data, handler, record, options, result)
    digest = None
    if options.sign_key:
        digest = handler.content_digest(body)
        signer = load_signer(options.sign_key, options.key_home)
        record = implicit.sign(record, signer, digest)
        result.signed = True
    try:
        out = implicit.write_record(
            body,
            handler,
            record,
            digital_source_type=(
                implicit.DST_COMPOSITE if options.edited else implicit.DST_TRAINED
            ),
            # The original's packet (b"" when it had none): merged, no second parse needed.
            base_xmp=original_xmp if original_xmp is not None else b"",
            replace_malformed_xmp=options.replace_malformed_xmp,
        )
    except UnsupportedFormat as exc:
        # A container with no metadata slot (plain text): the explicit notice and a sidecar
        # are all there is. Without either, labelling would silently do nothing: refuse.
        if not (result.visible or options.sidecar):
            raise
        result.warnings.append(f"no implicit record in the file: {exc.message}")
        result.record = record
        result.implicit = False
        result.bytes_out = len(body)
        result.seconds = time.perf_counter() - t0
        return body, result
    if options.c2pa:
        from synthlabel.label.c2pa import add_manifest

        had_manifest = bool(meta.c2pa)
        out = add_manifest(
            out,
            mime_type(handler, out),
            _load_creds(options.c2pa),
            record=record,
            edited=options.edited,
            # The original (and any manifest it carried) becomes the parent ingredient.
            parent=data if (options.edited or had_manifest) else None,
            parent_mime=mime_type(handler, data),
        )
        result.c2pa = True
    if options.verify:
        # The record was written losslessly, so the content digest is unchanged (the format
        # conformance suite proves it); after C2PA signing it is recomputed to be sure.
        known = (digest.selector, digest.digest) if digest and not options.c2pa else None
        _verify_output(out, record, result, known)
    result.record = record
    result.bytes_out = len(out)
    result.seconds = time.perf_counter() - t0
    return out, result


def _verify_output(
    out: bytes, record: Any, result: LabelResult, known: tuple[str, bytes] | None
) -> None:
    report = inspect_bytes(out, c2pa=False, known_digest=known)
    found = [r.record for r in report.records if r.record is not None]
    if found != [record]:
        raise RecordError(
            "verify-after-write failed: the output does not carry exactly the new record"
        )
    sig = report.records[0].producer_signature
    if result.signed and (sig is None or sig.status is not SignatureStatus.VALID or not sig.ok):
        reason = sig.reason if sig else "no signature"
        raise RecordError(f"verify-after-write failed: signature does not verify ({reason})")


def label_file(src: Path, dest: Path, options: LabelOptions) -> LabelResult:
    """Label ``src`` into ``dest`` (may be the same path for in-place). Never raises."""
    t0 = time.perf_counter()
    try:
        streamed = _label_streaming(src, dest, options)
        if streamed is not None:
            streamed.seconds = time.perf_counter() - t0
            return streamed
        data = read_file(src)
        out, result = label_bytes(data, options, path=str(src))
        atomic_write(dest, out, like=src)
        if options.sidecar and not result.implicit and result.record is not None:
            side = dest.with_name(dest.name + SIDECAR_SUFFIX)
            atomic_write(side, (result.record.to_json(wrapped=True) + "\n").encode("ascii"))
            result.sidecar = str(side)
        result.output = str(dest)
        result.seconds = time.perf_counter() - t0
        return result
    except SynthlabelError as exc:
        exc.with_path(str(src))
        return LabelResult(path=str(src), error=str(exc), seconds=time.perf_counter() - t0)
    except MemoryError:
        return LabelResult(
            path=str(src), error=f"{src}: out of memory", seconds=time.perf_counter() - t0
        )


def large_streaming_handler(src: Path) -> tuple[StreamingFormat, int] | None:
    """(plug-in, size) when ``src`` is over STREAM_THRESHOLD and its plug-in can rewrite
    metadata without loading the file; None otherwise (unreadable files included: the
    in-memory path reports those)."""
    try:
        size = src.stat().st_size
        if size <= STREAM_THRESHOLD:
            return None
        with open(src, "rb") as fh:
            head = fh.read(registry.max_sniff_bytes())
    except OSError:
        return None
    handler = registry.sniff(head, name=str(src))
    if not isinstance(handler, StreamingHandler):
        return None
    return handler, size


def _label_streaming(src: Path, dest: Path, options: LabelOptions) -> LabelResult | None:
    """Metadata-only labelling of a large file without loading it (None: not applicable).

    Used above STREAM_THRESHOLD for plug-ins with the StreamingHandler capability, when no
    explicit label or C2PA manifest (both need the whole content) is asked for.
    """
    if options.visible or options.c2pa or options.watermark:
        return None
    found = large_streaming_handler(src)
    if found is None:
        return None
    handler, size = found
    result = LabelResult(path=str(src), format=handler.id, bytes_in=size)
    meta = handler.read_path(src)
    record = _new_record(meta, options, result)
    digest = None
    if options.sign_key:
        digest = handler.content_digest_path(src)
        signer = load_signer(options.sign_key, options.key_home)
        record = implicit.sign(record, signer, digest)
        result.signed = True
    label = LabelWrite(
        aigc_json=record.to_json(),
        digital_source_type=(implicit.DST_COMPOSITE if options.edited else implicit.DST_TRAINED),
    )

    def check(tmp: Path) -> None:
        found = implicit.existing_records(handler.read_path(tmp))
        if found != [record]:
            raise RecordError(
                "verify-after-write failed: the output does not carry exactly the new record"
            )
        if digest is not None and handler.content_digest_path(tmp) != digest:
            raise RecordError("verify-after-write failed: the content changed while writing")

    atomic_write_stream(
        dest,
        lambda fh: handler.write_label_stream(src, fh, label),
        like=src,
        check=check if options.verify else None,
    )
    result.record = record
    result.output = str(dest)
    result.bytes_out = dest.stat().st_size
    result.warnings.append("streamed (large file): metadata written without loading the file")
    return result


def label_many(
    jobs: Iterable[tuple[Path, Path]],
    options: LabelOptions,
    *,
    workers: int | None = None,
    on_result: Callable[[LabelResult], None] | None = None,
) -> list[LabelResult]:
    """Label many files, in parallel processes when there are enough of them."""
    items = list(jobs)
    if options.produce_id and len(items) > 1:
        raise RecordError(
            "--produce-id can only be given for a single file (ProduceID must be unique)"
        )
    return run_file_jobs(label_file, items, options, workers=workers, on_result=on_result)
