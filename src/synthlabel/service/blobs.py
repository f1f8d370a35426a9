"""The content-addressed blob store: every upload is kept once, as
``<blob_dir>/<sha[:2]>/<sha256><.ext>`` (the extension of the uploaded name, so formats
sniffed by name, such as Markdown, read back the same).

Writes go to a temporary file in the same directory and are renamed into place, so a crash
never leaves a half-written blob under a final name; writing the same content twice is a
no-op. Blobs are deleted by the retention job only when no content record refers to them.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

_EXT = re.compile(r"^\.[a-z0-9]{1,10}$")
CHUNK = 1024 * 1024


class BlobError(OSError):
    """The blob store cannot be written or read (the message names the path)."""


def safe_ext(filename: str | None) -> str:
    """The lower-cased extension of ``filename`` if it is short and plain, else ''."""
    if not filename:
        return ""
    ext = os.path.splitext(filename.replace("\\", "/").rsplit("/", 1)[-1])[1].lower()
    return ext if _EXT.match(ext) else ""


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relpath(self, sha256: str, ext: str = "") -> str:
        return f"{sha256[:2]}/{sha256}{ext}"

    def path(self, rel: str) -> Path:
        p = (self.root / rel).resolve()
        if not p.is_relative_to(self.root.resolve()):
            raise BlobError(f"blob path {rel!r} leaves the blob directory")
        return p

    def put_chunks(self, chunks: Iterable[bytes], ext: str = "") -> tuple[str, str, int]:
        """Store the content; (sha256, relative path, size)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".in-{os.getpid()}-{secrets.token_hex(6)}.tmp"
        h = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as fh:
                for chunk in chunks:
                    h.update(chunk)
                    size += len(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            sha = h.hexdigest()
            rel = self.relpath(sha, ext)
            dest = self.root / rel
            if dest.is_file() and dest.stat().st_size == size:
                os.utime(dest)  # fresh again: retention leaves recently used blobs alone
                return sha, rel, size
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
            return sha, rel, size
        except OSError as exc:
            raise BlobError(f"blob store {self.root}: cannot write ({exc.strerror})") from None
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes, ext: str = "") -> tuple[str, str, int]:
        sha = hashlib.sha256(data).hexdigest()
        rel = self.relpath(sha, ext)
        dest = self.root / rel
        try:
            if dest.is_file() and dest.stat().st_size == len(data):
                os.utime(dest)  # stored already: no second write (and no fsync)
                return sha, rel, len(data)
        except OSError:
            pass
        return self.put_chunks([data], ext)

    def put_file(self, fh: BinaryIO, ext: str = "") -> tuple[str, str, int]:
        return self.put_chunks(iter(lambda: fh.read(CHUNK), b""), ext)

    def delete(self, rel: str, *, unused_for_s: float = 3600.0) -> bool:
        """Remove a blob not written or re-uploaded in the last ``unused_for_s`` seconds (an
        upload of the same content racing the retention job keeps its copy)."""
        try:
            p = self.path(rel)
            if time.time() - p.stat().st_mtime < unused_for_s:
                return False
            p.unlink()
            return True
        except FileNotFoundError:
            return False
