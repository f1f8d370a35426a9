"""C2PA plumbing shared by the write side (``label.c2pa``) and the read side (``inspect.c2pa``):
the custom assertion label, MIME aliases, offline c2pa-rs settings and a cheap JUMBF probe."""

from __future__ import annotations

from typing import Any

#: Label of the custom assertion that carries the AIGC record (project-owned namespace).
AIGC_ASSERTION_LABEL = "org.synthlabel.gb45438.aigc"

#: Extended key usages accepted for claim signing: id-kp-emailProtection,
#: id-kp-documentSigning (RFC 9336), c2pa-kp-claimSigning and Microsoft's C2PA signing EKU.
#: c2pa-rs 0.91 verifies against a shorter default list that lacks id-kp-documentSigning.
C2PA_SIGNING_EKUS: tuple[str, ...] = (
    "1.3.6.1.5.5.7.3.4",
    "1.3.6.1.5.5.7.3.36",
    "1.3.6.1.4.1.62558.2.1",
    "1.3.6.1.4.1.311.76.59.1.9",
)

_MIME_ALIASES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "image/x-webp": "image/webp",
    "gif": "image/gif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "heic": "image/heic",
    "heif": "image/heif",
    "avif": "image/avif",
    "wav": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "mp3": "audio/mpeg",
    "audio/mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "pdf": "application/pdf",
}


def normalize_mime(mime: str) -> str:
    """``"jpg"``/``"image/jpg"`` -> ``"image/jpeg"``; unknown values pass through, lowercased."""
    m = mime.strip().lower().split(";", 1)[0].strip()
    return _MIME_ALIASES.get(m, m)


def import_c2pa() -> Any | None:
    """The c2pa module, or None when c2pa-python (or its native library) is unavailable."""
    try:
        import c2pa
    except Exception:  # ImportError, or OSError from loading the native library
        return None
    return c2pa


def c2pa_settings(*, trust_anchors_pem: bytes | None = None) -> dict[str, Any]:
    """c2pa-rs settings for every read and sign: offline (no TSA, OCSP or remote manifests),
    no thumbnails, the C2PA claim-signing EKUs, optional trust anchors."""
    trust: dict[str, Any] = {"trust_config": "\n".join(C2PA_SIGNING_EKUS) + "\n"}
    if trust_anchors_pem:
        trust["trust_anchors"] = trust_anchors_pem.decode("ascii")
    return {
        "trust": trust,
        "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {"thumbnail": {"enabled": False}},
    }


#: Containers whose plug-in does not report an embedded manifest store (``meta.c2pa``): the
#: inspector and the C2PA detector scan their bytes for one. Every other plug-in reports it,
#: so their bytes are never scanned (a full scan of every file was 10 % of an inspection).
SCAN_FORMATS = frozenset({"wav", "pdf"})


def looks_like_c2pa(data: bytes) -> bool:
    """Cheap test for an embedded JUMBF manifest store (``jumd`` box labelled ``c2pa``)."""
    i = data.find(b"jumd")
    while i >= 0:
        if b"c2pa" in data[i : i + 64]:
            return True
        i = data.find(b"jumd", i + 4)
    return False


def one_line(exc: BaseException, limit: int = 500) -> str:
    """An exception as one short line (c2pa errors can be multi-line)."""
    text = " ".join(str(exc).split())
    return text[:limit] if text else type(exc).__name__
