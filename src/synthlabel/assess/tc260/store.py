"""The resumable run file: answers (and remote judgements) appended as JSON lines, fsynced.

The first line is a header (schema, seed, endpoint, profile); every later line is one cached
answer keyed by (endpoint scope, question SHA-256), or one cached judgement of a remote
classifier. A run killed at any moment loses at most the answers in flight: a torn last line
is cut off when the file is opened again, and ``--resume`` asks only what is missing. The file
is locked (``flock``) while a run uses it, so two runs never interleave their lines.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from synthlabel.errors import SynthlabelError

RUN_SCHEMA = "synthlabel.tc260.run/1"


class RunFileError(SynthlabelError):
    """The run file exists without --resume, is locked, damaged, or not a run file."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunStore:
    """``with RunStore.open(path, header, resume=True) as store: ...``."""

    def __init__(self, path: Path, fd: int, header: dict[str, Any]) -> None:
        self.path = path
        self._fd = fd
        self.header = header
        self.answers: dict[str, dict[str, Any]] = {}
        self.judgements: dict[str, dict[str, Any]] = {}
        self.resumed = 0  # answers found in the file when it was opened

    @classmethod
    def open(cls, path: Path, header: dict[str, Any], *, resume: bool) -> RunStore:
        name = str(path)
        if path.exists() and not resume:
            raise RunFileError(
                "the run file already exists: pass --resume to continue it, or choose another",
                path=name,
            )
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise RunFileError(f"cannot open the run file: {exc.strerror}", path=name) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise RunFileError("the run file is in use by another run", path=name) from None
            size = os.fstat(fd).st_size
            if size == 0:
                store = cls(path, fd, {"t": "header", "schema": RUN_SCHEMA, "created": _now()})
                store.header.update(header)
                store._append(store.header)
                return store
            store = cls(path, fd, {})
            store._load(size)
            return store
        except BaseException:
            os.close(fd)
            raise

    def _load(self, size: int) -> None:
        name = str(self.path)
        os.lseek(self._fd, 0, os.SEEK_SET)
        data = b""
        while len(data) < size:
            chunk = os.read(self._fd, size - len(data))
            if not chunk:
                break
            data += chunk
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a line torn by a kill: drop it, it is asked again
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
            data = data[:end]
        lines = data.split(b"\n")[:-1] if data else []
        if not lines:
            raise RunFileError("the run file has no complete header line", path=name)
        for n, raw in enumerate(lines, 1):
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise RunFileError(
                    f"line {n}: not valid JSON (the run file is damaged)", path=name
                ) from None
            if not isinstance(rec, dict):
                raise RunFileError(f"line {n}: not a JSON object", path=name)
            if n == 1:
                if rec.get("schema") != RUN_SCHEMA:
                    raise RunFileError(f"not a TC260 run file (expected {RUN_SCHEMA})", path=name)
                self.header = rec
            elif rec.get("t") == "answer":
                self.answers[str(rec.get("k"))] = rec
            elif rec.get("t") == "judgement":
                self.judgements[str(rec.get("k"))] = rec
        self.resumed = len(self.answers)

    def _append(self, rec: dict[str, Any]) -> None:
        data = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    def put_answer(self, key: str, qid: str, answer: dict[str, Any]) -> None:
        rec = {"t": "answer", "k": key, "qid": qid, "at": _now(), "answer": answer}
        self._append(rec)
        self.answers[key] = rec

    def put_judgement(self, key: str, judgement: dict[str, Any]) -> None:
        rec = {"t": "judgement", "k": key, "at": _now(), "j": judgement}
        self._append(rec)
        self.judgements[key] = rec

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the lock
            self._fd = -1

    def __enter__(self) -> RunStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
