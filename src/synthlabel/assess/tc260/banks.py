"""Keyword libraries and test-question banks: reading, validating, coverage against a profile.

Formats (docs/tc260.md):

* **Keyword library** (K1): CSV with a header ``keyword,risk_id[,lang]``, or JSONL with one
  ``{"keyword": ..., "risk_id": ..., "lang": ...}`` object a line. A CSV may start with
  ``# name: ...`` / ``# version: ...`` comment lines.
* **Question bank** (Q1–Q3): JSONL, one ``{"id", "question", "bank", "risk_id", "aspect",
  "lang"}`` object a line; ``bank`` is ``generated`` | ``must_refuse`` | ``must_not_refuse``
  (or ``Q1`` | ``Q2`` | ``Q3``); ``risk_id`` is required for Q1/Q2, ``aspect`` for Q3.
* A JSONL file may start with ``{"_meta": {"name": ..., "version": ...}}``; a file without a
  name is named after the file, without a version it is recorded as ``unversioned``. Every file's
  SHA-256 goes into the result.

Every problem names the file and the line. Nothing here ships or downloads test content; the
package holds only the harmless demo bank (:data:`DEMO_REF`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from synthlabel.assess.tc260.profiles import BANK_KINDS, BankKind, Profile
from synthlabel.assess.tc260.taxonomy import ASPECTS, RISKS
from synthlabel.errors import SynthlabelError

DEMO_REF = "builtin:demo"
ASSET_CODES = {"keywords": "K1", "generated": "Q1", "must_refuse": "Q2", "must_not_refuse": "Q3"}
_BANK_ALIASES = {"q1": "generated", "q2": "must_refuse", "q3": "must_not_refuse"}
_ASPECT_BY_ZH = {a.name_zh: a.id for a in ASPECTS.values()} | {
    a.name_zh.removeprefix("个人").removeprefix("我国").removeprefix("国家"): a.id
    for a in ASPECTS.values()
}
MAX_PROBLEMS_PER_FILE = 50


class BankError(SynthlabelError):
    """A bank file cannot be read or has a bad line; ``line`` is 1-based (0: the whole file)."""

    def __init__(self, message: str, *, path: str, line: int = 0):
        super().__init__(message, path=path)
        self.line = line

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.path}: {where}{self.message}"


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    bank: BankKind
    risk_id: str | None = None
    aspect: str | None = None
    lang: str | None = None
    source: str = ""  # file:line

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.question.encode("utf-8")).hexdigest()

    @property
    def category(self) -> str:
        """What the per-category tables group by: the risk id, or the aspect for Q3."""
        return (self.aspect if self.bank == "must_not_refuse" else self.risk_id) or "—"


@dataclass(frozen=True)
class Keyword:
    keyword: str
    risk_id: str
    lang: str | None = None


@dataclass(frozen=True)
class BankFile:
    path: str
    kind: Literal["keywords", "questions"]
    name: str
    version: str
    sha256: str
    count: int
    demo: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # questions per bank kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "count": self.count,
            "demo": self.demo,
            "counts": dict(self.counts),
        }


@dataclass
class BankSet:
    files: list[BankFile] = field(default_factory=list)
    keywords: list[Keyword] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    def bank(self, kind: BankKind) -> list[Question]:
        return [q for q in self.questions if q.bank == kind]

    @property
    def has_keywords(self) -> bool:
        return any(f.kind == "keywords" for f in self.files)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}: " + (f"line {self.line}: " if self.line else "") + self.message


@dataclass(frozen=True)
class Shortfall:
    """One unmet size or coverage requirement."""

    asset: str  # "keywords" | bank kind
    scope: str  # "total" | a risk id | an aspect id
    required: int
    found: int

    @property
    def code(self) -> str:
        return ASSET_CODES.get(self.asset, self.asset)

    @property
    def message(self) -> str:
        what = "keyword" if self.asset == "keywords" else "question"
        what += "" if self.found == 1 else "s"
        if self.scope == "total":
            where = "in total"
        elif self.scope in RISKS:
            where = f"for risk {self.scope} ({RISKS[self.scope].name_zh})"
        else:
            where = f"for aspect {self.scope} ({ASPECTS[self.scope].name_zh})"
        return f"{self.code}: {self.found} {what} {where}, at least {self.required} required"

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "code": self.code,
            "scope": self.scope,
            "required": self.required,
            "found": self.found,
            "message": self.message,
        }


def demo_bank_dir() -> Path:
    """The shipped harmless demo bank (a mechanics demo: it fails every coverage check)."""
    return Path(str(resources.files("synthlabel.assess.tc260") / "demo"))


def bank_files(paths: list[Path | str]) -> list[Path]:
    """Expand directories (``*.jsonl``, ``*.csv``, recursively, sorted) and ``builtin:demo``."""
    files: list[Path] = []
    for p in paths:
        path = demo_bank_dir() if str(p) == DEMO_REF else Path(p)
        if path.is_dir():
            found = sorted(
                f for f in path.rglob("*") if f.is_file() and f.suffix in (".jsonl", ".csv")
            )
            if not found:
                raise BankError("no .jsonl or .csv bank files in this directory", path=str(path))
            files.extend(found)
        elif not path.exists():
            raise BankError("no such file or directory", path=str(path))
        else:
            files.append(path)
    return files


def read_banks(paths: list[Path | str]) -> tuple[BankSet, list[Problem]]:
    """Read every bank file; return what parsed and every problem found (file and line)."""
    out = BankSet()
    problems: list[Problem] = []
    seen_ids: dict[str, str] = {}
    for path in bank_files(paths):
        _read_file(path, out, problems, seen_ids)
    return out, problems


def load_banks(paths: list[Path | str]) -> BankSet:
    """Like :func:`read_banks` but raise :class:`BankError` on the first problem."""
    banks, problems = read_banks(paths)
    if problems:
        p = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise BankError(p.message + more, path=p.path, line=p.line)
    return banks


def _read_file(path: Path, out: BankSet, problems: list[Problem], seen: dict[str, str]) -> None:
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(name, 0, f"cannot read: {exc.strerror}"))
        return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(name, 0, f"not UTF-8 text (bad byte at offset {exc.start})"))
        return
    sha = hashlib.sha256(raw).hexdigest()
    start = len(problems)

    def problem(line: int, msg: str) -> None:
        if len(problems) - start < MAX_PROBLEMS_PER_FILE:
            problems.append(Problem(name, line, msg))

    if path.suffix.lower() == ".csv":
        kws, meta = _read_keyword_csv(text, problem)
        out.keywords.extend(kws)
        out.files.append(_file(name, "keywords", meta, sha, len(kws), path))
        return
    meta = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problem(n, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problem(n, f"expected a JSON object, found {type(obj).__name__}")
            continue
        if "_meta" in obj:
            if rows or meta:
                problem(n, '"_meta" must be the first line')
            elif not isinstance(obj["_meta"], dict):
                problem(n, '"_meta" must be an object')
            else:
                meta = obj["_meta"]
            continue
        rows.append((n, obj))
    if not rows:
        problem(0, "no entries (an empty bank)")
        return
    kind = meta.get("kind") or ("keywords" if "keyword" in rows[0][1] else "questions")
    if kind not in ("keywords", "questions"):
        problem(1, f'"_meta.kind" must be keywords or questions, found {kind!r}')
        return
    if kind == "keywords":
        kws = [k for n, o in rows if (k := _keyword(o, n, problem)) is not None]
        out.keywords.extend(kws)
        out.files.append(_file(name, "keywords", meta, sha, len(kws), path))
        return
    qs: list[Question] = []
    for n, o in rows:
        q = _question(o, n, name, problem)
        if q is None:
            continue
        if q.id in seen:
            problem(n, f"duplicate id {q.id!r} (first at {seen[q.id]})")
            continue
        seen[q.id] = q.source
        qs.append(q)
    out.questions.extend(qs)
    counts: Counter[str] = Counter(q.bank for q in qs)
    out.files.append(_file(name, "questions", meta, sha, len(qs), path, dict(counts)))


def _file(
    name: str,
    kind: Literal["keywords", "questions"],
    meta: dict[str, Any],
    sha: str,
    count: int,
    path: Path,
    counts: dict[str, int] | None = None,
) -> BankFile:
    return BankFile(
        path=name,
        kind=kind,
        name=str(meta.get("name") or path.stem),
        version=str(meta.get("version") or "unversioned"),
        sha256=sha,
        count=count,
        demo=bool(meta.get("demo", False)),
        counts=counts or {},
    )


def _read_keyword_csv(text: str, problem: Any) -> tuple[list[Keyword], dict[str, Any]]:
    meta: dict[str, Any] = {}
    lines = text.splitlines(keepends=True)
    skip = 0
    for line in lines:
        s = line.strip()
        if s.startswith("#"):
            key, sep, value = s[1:].partition(":")
            if sep and key.strip().lower() in ("name", "version", "demo"):
                meta[key.strip().lower()] = value.strip()
            skip += 1
        elif not s:
            skip += 1
        else:
            break
    if meta.get("demo"):
        meta["demo"] = meta["demo"].lower() in ("1", "true", "yes")
    reader = csv.reader(io.StringIO("".join(lines[skip:])))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        problem(0, "no header line (expected keyword,risk_id[,lang])")
        return [], meta
    except csv.Error as exc:
        problem(skip + 1, f"not valid CSV ({exc})")
        return [], meta
    for col in ("keyword", "risk_id"):
        if col not in header:
            problem(skip + 1, f"the header has no {col!r} column (expected keyword,risk_id[,lang])")
            return [], meta
    out: list[Keyword] = []
    try:
        for row in reader:
            n = skip + reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                problem(n, f"{len(row)} fields, the header has {len(header)}")
                continue
            k = _keyword(dict(zip(header, row, strict=True)), n, problem)
            if k is not None:
                out.append(k)
    except csv.Error as exc:
        problem(skip + reader.line_num, f"not valid CSV ({exc})")
    if not out:
        problem(0, "no entries (an empty keyword library)")
    return out, meta


def _text(o: dict[str, Any], key: str) -> str | None:
    v = o.get(key)
    if v is None:
        return None
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = str(v)
    return v.strip() if isinstance(v, str) else None


def _keyword(o: dict[str, Any], n: int, problem: Any) -> Keyword | None:
    kw = _text(o, "keyword")
    if not kw:
        problem(n, "missing or empty 'keyword'")
        return None
    risk = _text(o, "risk_id")
    if not risk:
        problem(n, "missing 'risk_id'")
        return None
    if risk not in RISKS:
        problem(n, f"unknown risk_id {risk!r} (expected A1-a … A5-b)")
        return None
    return Keyword(kw, risk, _text(o, "lang") or None)


def _question(o: dict[str, Any], n: int, name: str, problem: Any) -> Question | None:
    qid = _text(o, "id")
    if not qid:
        problem(n, "missing or empty 'id'")
        return None
    text = o.get("question")
    if not isinstance(text, str) or not text.strip():
        problem(n, f"question {qid!r}: missing or empty 'question'")
        return None
    bank = (_text(o, "bank") or "").lower()
    bank = _BANK_ALIASES.get(bank, bank)
    if bank not in BANK_KINDS:
        problem(n, f"question {qid!r}: 'bank' must be one of {', '.join(BANK_KINDS)}")
        return None
    risk = _text(o, "risk_id")
    if risk is not None and risk not in RISKS:
        problem(n, f"question {qid!r}: unknown risk_id {risk!r} (expected A1-a … A5-b)")
        return None
    aspect = _text(o, "aspect")
    if aspect is not None:
        aspect = _ASPECT_BY_ZH.get(aspect, aspect.lower())
        if aspect not in ASPECTS:
            problem(n, f"question {qid!r}: unknown aspect {o.get('aspect')!r} ({_aspects()})")
            return None
    if bank == "must_not_refuse":
        if aspect is None:
            problem(n, f"question {qid!r}: a must_not_refuse question needs an 'aspect'")
            return None
    elif risk is None:
        problem(n, f"question {qid!r}: a {bank} question needs a 'risk_id'")
        return None
    return Question(
        id=qid,
        question=text,
        bank=bank,  # type: ignore[arg-type]
        risk_id=risk,
        aspect=aspect,
        lang=_text(o, "lang") or None,
        source=f"{name}:{n}",
    )


def _aspects() -> str:
    return "expected one of " + ", ".join(ASPECTS)


def coverage(banks: BankSet, profile: Profile) -> list[Shortfall]:
    """Every size and coverage requirement of the profile's assets that the banks miss."""
    out: list[Shortfall] = []
    for asset, rule in profile.assets.items():
        per_risk: Counter[str] = Counter()
        per_aspect: Counter[str] = Counter()
        if asset == "keywords":
            distinct: dict[str, set[str]] = defaultdict(set)
            for k in banks.keywords:
                distinct[k.risk_id].add(k.keyword.casefold())
            per_risk.update({r: len(s) for r, s in distinct.items()})
            total = len({k.keyword.casefold() for k in banks.keywords})
        else:
            qs = banks.bank(asset)  # type: ignore[arg-type]
            total = len(qs)
            per_risk.update(q.risk_id for q in qs if q.risk_id)
            per_aspect.update(q.aspect for q in qs if q.aspect)
        if total < rule.min_total:
            out.append(Shortfall(asset, "total", rule.min_total, total))
        for r in rule.risks:
            need = max(1, rule.min_per_risk.get(r, 0))
            if per_risk[r] < need:
                out.append(Shortfall(asset, r, need, per_risk[r]))
        for r, need in rule.min_per_risk.items():
            if r not in rule.risks and per_risk[r] < need:
                out.append(Shortfall(asset, r, need, per_risk[r]))
        if rule.min_per_aspect:
            for a in ASPECTS:
                if per_aspect[a] < rule.min_per_aspect:
                    out.append(Shortfall(asset, a, rule.min_per_aspect, per_aspect[a]))
    return out
