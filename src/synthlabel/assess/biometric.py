"""The biometric (face / voice) editing checklist: the duties of DSP Art. 9, 14 ¶2, 15, 16 and
17 ¶1 (2)(3) as data, answered with evidence, turned into statuses and a report section.

The checklist is YAML (``assess/checklists/biometric.yaml``; ``--checklist`` loads another).
An *answers* file (YAML, docs/biometric.md) says what the service edits and, per item, ``yes`` /
``no`` / ``n/a`` with evidence: files (recorded by SHA-256, content not judged), a statement, or
sample outputs. Where an item names an automatic check (``conformance``) and
:mod:`synthlabel.assess.conformance` is installed, the samples are run through ``synthlabel
assess``; otherwise the item is marked as checked manually.

Statuses: ``pass``, ``fail`` (answered no, or a sample fails the label check),
``needs-evidence`` (unanswered, evidence missing or not found), ``not-applicable``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from synthlabel.assess.charts import colour
from synthlabel.assess.sections import Chart, Section, Status, Table
from synthlabel.errors import SynthlabelError

CHECKLIST_SCHEMA = "synthlabel.checklist/1"
RESULT_SCHEMA = "synthlabel.biometric/1"
MODALITIES = ("face", "voice")
EVIDENCE_KINDS = ("file", "statement", "either", "samples")
CHECKS = ("conformance",)
ItemStatus = Literal["pass", "fail", "needs-evidence", "not-applicable"]
STATUSES: tuple[ItemStatus, ...] = ("pass", "fail", "needs-evidence", "not-applicable")
STATUS_ZH = {
    "pass": "通过",
    "fail": "不通过",
    "needs-evidence": "待补充证据",
    "not-applicable": "不适用",
}
_ROW: dict[str, Status] = {
    "pass": "pass",
    "fail": "fail",
    "needs-evidence": "warn",
    "not-applicable": "info",
}
_YES = {"yes", "y", "true", "是"}
_NO = {"no", "n", "false", "否"}
_NA = {"n/a", "na", "not applicable", "不适用"}

#: ``runner(files) -> [(path, conformant, problems)]``: the automatic label check.
ConformanceRunner = Callable[[list[Path]], list[tuple[str, bool, list[str]]]]


class ChecklistError(SynthlabelError):
    """A checklist or answers file is unreadable or has a bad key (named in the message)."""


# ------------------------------------------------------------------------------- checklist
@dataclass(frozen=True)
class ChecklistItem:
    id: str
    clause: str
    applies_to: tuple[str, ...]
    title_zh: str
    title_en: str
    question_zh: str
    question_en: str
    evidence: str  # file | statement | either | samples
    check: str | None = None  # "conformance"
    hint: str = ""


@dataclass(frozen=True)
class Checklist:
    id: str
    version: int
    title_zh: str
    title_en: str
    basis: str
    items: tuple[ChecklistItem, ...]
    source: str
    sha256: str

    def item(self, item_id: str) -> ChecklistItem:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)


def _read_yaml(path: Path | str, what: str) -> tuple[Any, str]:
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ChecklistError(f"cannot read the {what}: {exc.strerror}", path=name) from None
    return _parse_yaml(raw, name), hashlib.sha256(raw).hexdigest()


def _parse_yaml(raw: bytes, name: str) -> Any:
    try:
        return yaml.safe_load(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ChecklistError(
            f"not UTF-8 text (bad byte at offset {exc.start})", path=name
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ChecklistError(f"not valid YAML{where}: {problem}", path=name) from None


def _texts(d: Any, key: str, where: str, src: str) -> tuple[str, str]:
    v = d.get(key)
    if isinstance(v, dict) and isinstance(v.get("zh"), str) and isinstance(v.get("en"), str):
        return v["zh"], v["en"]
    raise ChecklistError(f"{where}{key}: expected {{zh: ..., en: ...}}", path=src)


def load_checklist(path: Path | str | None = None) -> Checklist:
    """The shipped checklist, or a YAML file in the same format."""
    if path is None:
        res = resources.files("synthlabel.assess") / "checklists" / "biometric.yaml"
        raw = res.read_bytes()
        src = "builtin:biometric"
        doc, sha = _parse_yaml(raw, src), hashlib.sha256(raw).hexdigest()
    else:
        src = str(path)
        doc, sha = _read_yaml(path, "checklist")
    if not isinstance(doc, dict) or doc.get("schema") != CHECKLIST_SCHEMA:
        raise ChecklistError(f"not a checklist (schema: {CHECKLIST_SCHEMA})", path=src)
    items: list[ChecklistItem] = []
    raw_items = doc.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise ChecklistError("items: expected a list of items", path=src)
    seen: set[str] = set()
    for n, it in enumerate(raw_items):
        where = f"items[{n}]."
        if not isinstance(it, dict) or not isinstance(it.get("id"), str):
            raise ChecklistError(f"items[{n}]: expected a mapping with an id", path=src)
        iid = it["id"]
        where = f"items.{iid}."
        if iid in seen:
            raise ChecklistError(f"items.{iid}: duplicate id", path=src)
        seen.add(iid)
        applies = it.get("applies_to", list(MODALITIES))
        if not isinstance(applies, list) or not set(applies) <= set(MODALITIES) or not applies:
            raise ChecklistError(f"{where}applies_to: a list of face, voice", path=src)
        evidence = it.get("evidence", "either")
        if evidence not in EVIDENCE_KINDS:
            raise ChecklistError(
                f"{where}evidence: one of {', '.join(EVIDENCE_KINDS)}, found {evidence!r}",
                path=src,
            )
        check = it.get("check")
        if check is not None and check not in CHECKS:
            raise ChecklistError(f"{where}check: unknown check {check!r}", path=src)
        tzh, ten = _texts(it, "title", where, src)
        qzh, qen = _texts(it, "question", where, src)
        items.append(
            ChecklistItem(
                id=iid,
                clause=str(it.get("clause", "")),
                applies_to=tuple(applies),
                title_zh=tzh,
                title_en=ten,
                question_zh=qzh,
                question_en=qen,
                evidence=evidence,
                check=check,
                hint=str(it.get("hint", "")),
            )
        )
    tzh, ten = _texts(doc, "title", "", src)
    return Checklist(
        id=str(doc.get("id", "checklist")),
        version=int(doc.get("version", 1)),
        title_zh=tzh,
        title_en=ten,
        basis=str(doc.get("basis", "")),
        items=tuple(items),
        source=src,
        sha256=sha,
    )


# ------------------------------------------------------------------------------- answers
@dataclass
class ItemAnswer:
    answer: Literal["yes", "no", "n/a"] | None = None
    evidence: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    statement: str = ""


@dataclass
class Answers:
    service: str
    edits: tuple[str, ...]
    items: dict[str, ItemAnswer]
    source: str = ""
    sha256: str = ""
    base_dir: Path = field(default_factory=Path)

    def to_yaml_dict(self) -> dict[str, Any]:
        items: dict[str, Any] = {}
        for k, a in self.items.items():
            d: dict[str, Any] = {"answer": a.answer}
            if a.evidence:
                d["evidence"] = list(a.evidence)
            if a.samples:
                d["samples"] = list(a.samples)
            if a.statement:
                d["statement"] = a.statement
            items[k] = d
        return {"service": {"name": self.service, "edits": list(self.edits)}, "items": items}


def _answer_value(v: Any, where: str, src: str) -> Literal["yes", "no", "n/a"] | None:
    if v is None:
        return None
    if isinstance(v, bool):  # YAML 1.1 reads yes/no as booleans
        return "yes" if v else "no"
    s = str(v).strip().lower()
    if s in _YES:
        return "yes"
    if s in _NO:
        return "no"
    if s in _NA:
        return "n/a"
    if not s:
        return None
    raise ChecklistError(f"{where}answer: yes, no or n/a, found {v!r}", path=src)


def _paths(v: Any, where: str, src: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v] if v.strip() else []
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return [x for x in v if x.strip()]
    raise ChecklistError(f"{where}: a path or a list of paths", path=src)


def parse_answers(
    doc: Any, checklist: Checklist, *, source: str = "answers", base_dir: Path | None = None
) -> Answers:
    """Validate an answers document (the parsed YAML); errors name the key."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ChecklistError("expected a mapping with service and items", path=source)
    svc = doc.get("service") or {}
    if not isinstance(svc, dict):
        raise ChecklistError("service: expected a mapping (name, edits)", path=source)
    edits = svc.get("edits", list(MODALITIES))
    if isinstance(edits, str):
        edits = [edits]
    if not isinstance(edits, list) or not set(edits) <= set(MODALITIES):
        raise ChecklistError("service.edits: a list of face, voice", path=source)
    raw_items = doc.get("items") or {}
    if not isinstance(raw_items, dict):
        raise ChecklistError("items: expected a mapping of item id to answer", path=source)
    known = {i.id for i in checklist.items}
    items: dict[str, ItemAnswer] = {}
    for key, v in raw_items.items():
        where = f"items.{key}."
        if key not in known:
            raise ChecklistError(
                f"items.{key}: unknown checklist item (known: {', '.join(sorted(known))})",
                path=source,
            )
        if v is None:
            v = {}
        if not isinstance(v, dict):
            v = {"answer": v}
        extra = set(v) - {"answer", "evidence", "samples", "statement"}
        if extra:
            raise ChecklistError(f"{where}{sorted(extra)[0]}: unknown key", path=source)
        statement = v.get("statement") or ""
        if not isinstance(statement, str):
            raise ChecklistError(f"{where}statement: expected text", path=source)
        items[key] = ItemAnswer(
            answer=_answer_value(v.get("answer"), where, source),
            evidence=_paths(v.get("evidence"), f"{where}evidence", source),
            samples=_paths(v.get("samples"), f"{where}samples", source),
            statement=statement.strip(),
        )
    return Answers(
        service=str(svc.get("name") or ""),
        edits=tuple(e for e in MODALITIES if e in edits),
        items=items,
        source=source,
        base_dir=base_dir or Path("."),
    )


def load_answers(path: Path | str, checklist: Checklist) -> Answers:
    doc, sha = _read_yaml(path, "answers file")
    answers = parse_answers(doc, checklist, source=str(path), base_dir=Path(path).parent)
    answers.sha256 = sha
    return answers


def answers_template(checklist: Checklist) -> str:
    """An answers file to fill in: every item with its question as a comment."""
    lines = [
        f"# Answers for the checklist {checklist.id} v{checklist.version} "
        f"({checklist.title_en}). See docs/biometric.md.",
        "# answer: yes | no | n/a; evidence: files (hashed); samples: output files or",
        "# directories (checked by synthlabel assess when available); statement: text.",
        "service:",
        "  name: ''",
        "  edits: [face, voice]   # what the service edits",
        "items:",
    ]
    for i in checklist.items:
        lines += [
            f"  # {i.clause} ({', '.join(i.applies_to)}): {i.question_en}",
            f"  # {i.question_zh}",
            f"  # evidence: {i.evidence}. {i.hint}",
            f"  {i.id}:",
            "    answer:",
            "    samples: []" if i.evidence == "samples" else "    evidence: []",
            "    statement: ''",
        ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Evidence:
    path: str
    sha256: str | None  # None: not found
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass
class CheckOutcome:
    check: str
    mode: Literal["automatic", "manual"]
    passed: bool | None  # None: not run
    message: str
    files: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "mode": self.mode,
            "passed": self.passed,
            "message": self.message,
            "files": list(self.files),
        }


@dataclass
class ItemResult:
    item: ChecklistItem
    status: ItemStatus
    message: str
    answer: str | None = None
    statement: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    check: CheckOutcome | None = None

    def to_dict(self) -> dict[str, Any]:
        i = self.item
        return {
            "id": i.id,
            "clause": i.clause,
            "title": {"zh": i.title_zh, "en": i.title_en},
            "applies_to": list(i.applies_to),
            "evidence_kind": i.evidence,
            "status": self.status,
            "message": self.message,
            "answer": self.answer,
            "statement": self.statement,
            "evidence": [e.to_dict() for e in self.evidence],
            "check": self.check.to_dict() if self.check else None,
        }


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _collect(paths: Sequence[str], base: Path) -> list[tuple[str, Path | None]]:
    """(as given, resolved file or None when missing); directories expand to their files."""
    out: list[tuple[str, Path | None]] = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.is_absolute():
            path = base / path
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
            out.extend((str(Path(p) / f.relative_to(path)), f) for f in files)
        elif path.is_file():
            out.append((p, path))
        else:
            out.append((p, None))
    return out


def conformance_available() -> bool:
    return importlib.util.find_spec("synthlabel.assess.conformance") is not None


def conformance_runner(profile: str | None = None) -> ConformanceRunner | None:
    """``synthlabel assess`` on sample files, if :mod:`synthlabel.assess.conformance` exists."""
    if not conformance_available():
        return None

    def run(files: list[Path]) -> list[tuple[str, bool, list[str]]]:
        mod: Any = importlib.import_module("synthlabel.assess.conformance")
        kwargs: dict[str, Any] = {"workers": 1}
        if profile:
            kwargs["profile"] = profile
        result = mod.assess([str(f) for f in files], **kwargs)
        out = []
        for f in result.files:
            problems = [f"{r.rule}: {r.message}" for r in f.failures("error")]
            if getattr(f, "error", ""):
                problems.append(str(f.error))
            out.append((str(f.path), f.status == "conformant", problems))
        return out

    return run


@dataclass
class BiometricResult:
    checklist: Checklist
    answers: Answers
    items: list[ItemResult]
    created: str

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for i in self.items if i.status == s) for s in STATUSES}

    @property
    def status(self) -> Status:
        c = self.counts
        if c["fail"]:
            return "fail"
        if c["needs-evidence"] or not c["pass"]:
            return "warn"
        return "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RESULT_SCHEMA,
            "created": self.created,
            "status": self.status,
            "checklist": {
                "id": self.checklist.id,
                "version": self.checklist.version,
                "source": self.checklist.source,
                "sha256": self.checklist.sha256,
            },
            "answers": {"source": self.answers.source, "sha256": self.answers.sha256},
            "service": {"name": self.answers.service, "edits": list(self.answers.edits)},
            "summary": self.counts,
            "items": [i.to_dict() for i in self.items],
            "sections": [s.to_dict() for s in self.to_sections()],
        }

    def to_sections(self) -> list[Section]:
        c = self.counts
        applicable = len(self.items) - c["not-applicable"]
        name = self.answers.service or "the service"
        summary = (
            f"{name} (edits {', '.join(self.answers.edits) or 'nothing'}): "
            f"{c['pass']} of {applicable} applicable duties met"
            + (f", {c['fail']} not met" if c["fail"] else "")
            + (f", {c['needs-evidence']} need evidence" if c["needs-evidence"] else "")
            + "."
        )
        rows: list[list[str]] = []
        for r in self.items:
            ev = [f"{Path(e.path).name} ({e.sha256[:12]})" for e in r.evidence if e.sha256]
            ev += [f"{e.path} (not found)" for e in r.evidence if not e.sha256]
            if r.statement:
                ev.append(f"“{r.statement[:120]}”")
            check = _check_cell(r.check) if r.check is not None else ""
            rows.append(
                [
                    r.item.id,
                    r.item.clause,
                    f"{r.item.title_zh} / {r.item.title_en}",
                    f"{STATUS_ZH[r.status]} {r.status}",
                    "; ".join(ev) or "—",
                    check or "—",
                    r.message,
                ]
            )
        table = Table(
            title="检查项 / Checklist items",
            columns=["Item", "Clause", "Duty", "Status", "Evidence", "Check", "Why"],
            rows=rows,
            row_status=[_ROW[r.status] for r in self.items],
        )
        chart = Chart(
            title="检查项状态 / Items by status",
            kind="pie",
            labels=[s for s in STATUSES if c[s]],
            series={"items": [float(c[s]) for s in STATUSES if c[s]]},
            unit="items",
            # the colours of the table rows: needs evidence amber, not applicable grey
            colours={s: colour(_ROW[s]) for s in STATUSES},
        )
        notes = [
            f"Checklist {self.checklist.id} v{self.checklist.version} "
            f"({self.checklist.source}, SHA-256 {self.checklist.sha256}); basis: "
            f"{self.checklist.basis}.",
            "Evidence files are recorded by SHA-256; their content is judged by a person, "
            "except sample outputs, which the label conformance check reads where available.",
        ]
        if self.answers.sha256:
            notes.append(f"Answers: {self.answers.source} (SHA-256 {self.answers.sha256}).")
        return [
            Section(
                title="生物识别信息编辑服务评估 / Biometric (face and voice) editing assessment",
                kind="biometric",
                status=self.status,
                summary=summary,
                metrics={
                    "服务 Service": name,
                    "编辑对象 Edits": ", ".join(self.answers.edits) or "—",
                    **{f"{STATUS_ZH[s]} {s}": str(c[s]) for s in STATUSES},
                },
                charts=[chart] if self.items else [],
                tables=[table],
                notes=notes,
            )
        ]


def _check_cell(c: CheckOutcome) -> str:
    """The check in a few words for the table (the full message is in the Why column)."""
    if c.mode == "manual":
        return f"{c.check}: manual"
    if c.passed is None or not c.files:
        return f"{c.check}: could not run"
    ok = sum(1 for f in c.files if f.get("conformant"))
    return f"{c.check}: {ok}/{len(c.files)} samples conform"


def evaluate(
    checklist: Checklist,
    answers: Answers,
    *,
    automatic: bool = True,
    runner: ConformanceRunner | None = None,
    conformance_profile: str | None = None,
) -> BiometricResult:
    """Each item's status from the answers and their evidence; automatic checks run where
    the checklist names one and ``automatic`` is on (``runner`` replaces ``synthlabel assess``)."""
    if automatic and runner is None:
        runner = conformance_runner(conformance_profile)
    if not automatic:
        runner = None
    results = [_evaluate_item(i, answers, runner) for i in checklist.items]
    return BiometricResult(
        checklist, answers, results, datetime.now(UTC).isoformat(timespec="seconds")
    )


def _evaluate_item(
    item: ChecklistItem, answers: Answers, runner: ConformanceRunner | None
) -> ItemResult:
    if not set(item.applies_to) & set(answers.edits):
        return ItemResult(
            item, "not-applicable", f"the service edits no {' or '.join(item.applies_to)}"
        )
    a = answers.items.get(item.id)
    if a is None or a.answer is None:
        return ItemResult(item, "needs-evidence", "not answered")
    collected = _collect(a.evidence + a.samples, answers.base_dir)
    evidence: list[Evidence] = []
    for given, path in collected:
        if path is None:
            evidence.append(Evidence(given, None))
        else:
            sha, size = _sha256_file(path)
            evidence.append(Evidence(given, sha, size))
    res = ItemResult(item, "pass", "", a.answer, a.statement, evidence)
    if a.answer == "no":
        res.status, res.message = "fail", f"answered no: {item.title_en}"
        return res
    if a.answer == "n/a":
        if a.statement:
            res.status, res.message = "not-applicable", "answered n/a, with a statement why"
        else:
            res.status, res.message = "needs-evidence", "n/a needs a statement saying why"
        return res
    missing = [e.path for e in evidence if e.sha256 is None]
    if missing:
        res.status = "needs-evidence"
        res.message = "evidence not found: " + ", ".join(missing)
        return res
    files = [p for _, p in collected if p is not None]
    have = {
        "file": bool(files),
        "statement": bool(a.statement),
        "either": bool(files or a.statement),
        "samples": bool(files),
    }[item.evidence]
    if not have:
        what = {
            "file": "an evidence file",
            "statement": "a statement",
            "either": "an evidence file or a statement",
            "samples": "sample output files",
        }[item.evidence]
        res.status = "needs-evidence"
        res.message = f"answered yes without {what}" + (f" ({item.hint})" if item.hint else "")
        return res
    if item.check == "conformance":
        res.check = _conformance(files, runner)
        if res.check.passed is False:
            res.status, res.message = "fail", res.check.message
            return res
        if res.check.passed is None and res.check.mode == "automatic":
            res.status, res.message = "needs-evidence", res.check.message
            return res
    noun = "sample" if item.evidence == "samples" else "evidence file"
    parts = [_n(len(files), noun)] if files else []
    if a.statement:
        parts.append("a statement")
    res.message = "answered yes with " + " and ".join(parts)
    if res.check is not None:
        res.message += f"; {res.check.message}"
    return res


def _n(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _conformance(files: list[Path], runner: ConformanceRunner | None) -> CheckOutcome:
    if runner is None:
        return CheckOutcome(
            "conformance",
            "manual",
            None,
            "label check: manual (the automatic check is off or synthlabel assess is not "
            "installed); check the samples by hand",
        )
    try:
        outcome = runner(files)
    except Exception as exc:  # a check that cannot run leaves the item open, never crashes
        return CheckOutcome(
            "conformance", "automatic", None, f"the label check failed to run: {exc}"
        )
    bad = [(p, probs) for p, ok, probs in outcome if not ok]
    rows = [{"path": p, "conformant": ok, "problems": probs} for p, ok, probs in outcome]
    if not outcome:
        return CheckOutcome("conformance", "automatic", None, "no sample could be checked", rows)
    if bad:
        first = bad[0]
        why = first[1][0] if first[1] else "not conformant"
        return CheckOutcome(
            "conformance",
            "automatic",
            False,
            f"label check (synthlabel assess): {len(bad)} of {_n(len(outcome), 'sample')} "
            f"do not conform (first: {Path(first[0]).name}: {why})",
            rows,
        )
    return CheckOutcome(
        "conformance",
        "automatic",
        True,
        f"label check (synthlabel assess): {len(outcome)} of {_n(len(outcome), 'sample')} conform",
        rows,
    )
