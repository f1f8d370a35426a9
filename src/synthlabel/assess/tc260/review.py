"""E1 (manual review): export a CSV template of the sampled answers, import the reviewer's labels.

The template has one row per sampled generated-content question with its answer and the
answer's SHA-256; the reviewer fills ``qualified`` (yes/no, 合格/不合格, 1/0, …) and optionally
``reviewer`` and ``note``. On import, a label whose ``answer_sha256`` no longer matches the
answer of the run (the service answered differently) is not used.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthlabel.assess.tc260.taxonomy import RISKS
from synthlabel.errors import SynthlabelError
from synthlabel.pipeline.io import atomic_write

COLUMNS = [
    "id",
    "risk_id",
    "risk",
    "question",
    "answer",
    "answer_sha256",
    "qualified",
    "reviewer",
    "note",
]
_YES = {"yes", "y", "1", "true", "qualified", "pass", "ok", "合格", "是"}
_NO = {"no", "n", "0", "false", "unqualified", "fail", "不合格", "否"}


class ReviewError(SynthlabelError):
    """A review CSV cannot be read or has a bad line."""

    def __init__(self, message: str, *, path: str, line: int = 0):
        super().__init__(message, path=path)
        self.line = line

    def __str__(self) -> str:
        return f"{self.path}: " + (f"line {self.line}: " if self.line else "") + self.message


def answer_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class HumanLabels:
    path: str
    sha256: str
    labels: dict[str, tuple[bool, str, str]] = field(default_factory=dict)  # id -> (ok, sha, who)
    blank: int = 0  # rows without a label yet


def template_rows(result: dict[str, Any], bank: str = "generated") -> list[list[str]]:
    rows = []
    for item in result.get("items", []):
        if item.get("bank") != bank or item.get("answer") is None:
            continue
        risk = item.get("risk_id") or ""
        rows.append(
            [
                str(item["id"]),
                risk,
                RISKS[risk].name_zh if risk in RISKS else "",
                str(item.get("question", "")),
                str(item["answer"]),
                answer_sha256(str(item["answer"])),
                "",
                "",
                "",
            ]
        )
    return rows


def write_review_template(result: dict[str, Any], path: Path, bank: str = "generated") -> int:
    """Write the template atomically (UTF-8 with a BOM, which spreadsheet programs read);
    return the number of rows."""
    rows = template_rows(result, bank)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    w.writerows(rows)
    atomic_write(path, buf.getvalue().encode("utf-8-sig"))
    return len(rows)


def load_human_labels(path: Path) -> HumanLabels:
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ReviewError(f"cannot read: {exc.strerror}", path=name) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReviewError(f"not UTF-8 text (bad byte at offset {exc.start})", path=name) from None
    out = HumanLabels(name, hashlib.sha256(raw).hexdigest())
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ReviewError("empty file (expected the review template's header)", path=name) from None
    for col in ("id", "qualified"):
        if col not in header:
            raise ReviewError(f"the header has no {col!r} column", path=name, line=1)
    idx = {c: header.index(c) for c in header}
    try:
        for row in reader:
            n = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) < len(header):
                raise ReviewError(
                    f"{len(row)} fields, the header has {len(header)}", path=name, line=n
                )
            qid = row[idx["id"]].strip()
            value = row[idx["qualified"]].strip().lower()
            if not qid:
                raise ReviewError("empty id", path=name, line=n)
            if not value:
                out.blank += 1
                continue
            if value in _YES:
                ok = True
            elif value in _NO:
                ok = False
            else:
                raise ReviewError(
                    f"question {qid!r}: qualified must be yes or no (or 合格/不合格), "
                    f"found {value!r}",
                    path=name,
                    line=n,
                )
            if qid in out.labels:
                raise ReviewError(f"question {qid!r} is labelled twice", path=name, line=n)
            sha = row[idx["answer_sha256"]].strip() if "answer_sha256" in idx else ""
            who = row[idx["reviewer"]].strip() if "reviewer" in idx else ""
            out.labels[qid] = (ok, sha, who)
    except csv.Error as exc:
        raise ReviewError(f"not valid CSV ({exc})", path=name, line=reader.line_num) from None
    return out
