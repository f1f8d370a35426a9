"""Explicit labels for every media kind, behind one call.

The pipeline asks for "the explicit label" of a file; this module picks the renderer for the
container's media kind: a caption on images, a voice or rhythm prompt on audio, an opening
caption on video, a notice in text, a header/footer notice on documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synthlabel.errors import UnsupportedFormat
from synthlabel.formats.base import FormatHandler, MediaKind


@dataclass(frozen=True)
class ExplicitOptions:
    """Options for every kind; each renderer reads the ones that concern it."""

    text: str | None = None  # custom label text (must carry both GB 45438 elements)
    position: str | None = None  # image/video corner or edge; text: start | end | both
    audio_mode: str = "voice"  # voice | rhythm
    audio_where: tuple[str, ...] = ("start",)  # start, end, interval:<seconds>
    language: str = "auto"  # text notices and voice prompts: auto | zh | en | zh+en
    caption_seconds: float = 3.0  # video opening caption (>= 2 s)
    persistent_corner: bool = False  # video: keep a corner label for the whole clip
    end_caption: bool = False  # video: also caption the last seconds
    voice_on_video: bool = False  # video: also put the voice prompt on the audio track


@dataclass
class ExplicitResult:
    data: bytes
    description: str  # what was added, for the CLI summary
    warnings: list[str] = field(default_factory=list)
    applied: bool = True  # False when this kind has no in-content label (JSON responses)


def render_explicit(
    data: bytes, handler: FormatHandler, options: ExplicitOptions
) -> ExplicitResult:
    """Add the explicit label suited to ``handler``'s media kind; raises on failure."""
    kind = handler.media_kind
    if kind is MediaKind.VIDEO:
        from synthlabel.label.video import has_video

        if not has_video(data, handler.id):
            kind = MediaKind.AUDIO  # an MP4/MKV holding only audio gets the audio prompt
    if kind is MediaKind.IMAGE:
        from synthlabel.label.visible import VisibleOptions, render_visible

        kw: dict[str, str] = {}
        if options.text:
            kw["text"] = options.text
        if options.position:
            kw["position"] = options.position
        r = render_visible(data, handler.id, VisibleOptions(**kw))  # type: ignore[arg-type]
        return ExplicitResult(r.data, f"caption {r.text_px}px", list(r.warnings))
    if kind is MediaKind.AUDIO:
        from synthlabel.label.audio import AudioPromptOptions, render_audio_prompt

        akw: dict[str, object] = {"mode": options.audio_mode, "where": options.audio_where}
        if options.text:
            akw["text"] = options.text
        if options.language in ("zh", "en"):
            akw["language"] = options.language
        a = render_audio_prompt(data, handler.id, AudioPromptOptions(**akw))  # type: ignore[arg-type]
        return ExplicitResult(a.data, f"{options.audio_mode} prompt {a.prompt_seconds:.1f}s")
    if kind is MediaKind.VIDEO:
        from synthlabel.label.video import VideoCaptionOptions, render_video_caption

        vkw: dict[str, object] = {
            "seconds": options.caption_seconds,
            "persistent_corner": options.persistent_corner,
            "end_caption": options.end_caption,
            "voice_prompt": options.voice_on_video,
        }
        if options.text:
            vkw["text"] = options.text
        if options.position:
            vkw["position"] = options.position
        v = render_video_caption(data, handler.id, VideoCaptionOptions(**vkw))  # type: ignore[arg-type]
        return ExplicitResult(v.data, f"caption {v.caption_seconds:.1f}s, {v.text_px}px")
    if kind is MediaKind.TEXT:
        return _text(data, handler.id, options)
    if kind is MediaKind.DOCUMENT:
        from synthlabel.label import document

        notice = options.text or "本内容由人工智能生成"
        if handler.id == "pdf":
            pos = options.position if options.position in ("header", "footer") else "footer"
            return ExplicitResult(
                document.add_pdf_notice(data, text=notice, position=pos), f"PDF {pos} notice"
            )
        if handler.id == "ooxml" and _is_docx(data):
            return ExplicitResult(document.add_docx_notice(data, text=notice), "DOCX header notice")
        raise UnsupportedFormat(
            f"no explicit label for {handler.name} yet (use --no-visible for metadata only)"
        )
    raise UnsupportedFormat(f"no explicit label renderer for {kind.value}")


def _is_docx(data: bytes) -> bool:
    return b"word/document.xml" in data[-65536:] or b"word/document.xml" in data[:65536]


def _text(data: bytes, format_id: str, options: ExplicitOptions) -> ExplicitResult:
    from synthlabel.label import text as textlabel

    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsupportedFormat("text is not UTF-8: cannot add a notice") from None
    bom = data.startswith(b"\xef\xbb\xbf")
    kw: dict[str, object] = {"language": options.language}
    if options.position in ("start", "end", "both"):
        kw["position"] = options.position
    if options.text:
        kw["text"] = options.text
    opts = textlabel.TextNoticeOptions(**kw)  # type: ignore[arg-type]
    if format_id == "markdown":
        out = textlabel.add_markdown_notice(body, opts)
    elif format_id == "html":
        out = textlabel.add_html_notice(body, opts)
    elif format_id == "json":
        return ExplicitResult(
            data,
            "none (JSON: the notice belongs in the rendered text)",
            ["JSON responses carry the implicit record; add the notice where the text is shown"],
            applied=False,
        )
    else:
        out = textlabel.add_text_notice(body, opts)
    encoded = out.encode("utf-8")
    return ExplicitResult((b"\xef\xbb\xbf" if bom else b"") + encoded, "text notice")
