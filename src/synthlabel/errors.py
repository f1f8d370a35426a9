"""Typed errors. Every error names the file (when known) and the problem in one line.

The CLI prints ``str(error)`` and never a traceback; library callers can catch
:class:`SynthlabelError` or one of its subclasses.
"""

from __future__ import annotations


class SynthlabelError(Exception):
    """Base class of every error synthlabel raises on purpose."""

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.offset = offset

    def with_path(self, path: str) -> SynthlabelError:
        """Return the same error with the file name attached (keeps an existing one)."""
        if self.path is None:
            self.path = path
        return self

    def __str__(self) -> str:
        where = f" (at byte {self.offset})" if self.offset is not None else ""
        prefix = f"{self.path}: " if self.path else ""
        return f"{prefix}{self.message}{where}"


class UnsupportedFormat(SynthlabelError):
    """The bytes are not in any registered container format."""


class MalformedInput(SynthlabelError):
    """The container is truncated or structurally broken."""


class LimitExceeded(SynthlabelError):
    """A safety limit (size, pixels, chunk count, nesting) was hit: a possible bomb."""


class RecordError(SynthlabelError):
    """An AIGC record could not be built or parsed."""


class ProviderCodeError(RecordError):
    """A provider code is invalid; ``part`` names the failing part."""

    def __init__(self, message: str, *, part: str, code: str = ""):
        super().__init__(message)
        self.part = part
        self.code = code


class KeyStoreError(SynthlabelError):
    """A key could not be created, found or loaded."""


class SigningError(SynthlabelError):
    """A signature could not be made."""


class OutputError(SynthlabelError):
    """The output could not be written (permissions, missing directory, disk full)."""
