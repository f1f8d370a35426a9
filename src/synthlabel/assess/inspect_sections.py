"""Report sections built from inspection results (``synthlabel inspect``).

``verdict_section(results)`` turns a list of :class:`~synthlabel.model.results.InspectionReport`
(or their ``to_dict()`` form, as ``inspect --json`` writes them under ``"results"``) into one
:class:`~synthlabel.assess.sections.Section`: how many files got each verdict of the Labeling
Measures (confirmed / possible / suspected / no trace), per group (media kind by default), how
many labels fail their checks, and a table of every file.

Status: ``fail`` when a file carries a non-compliant label (altered, moved, malformed) or
could not be read; ``warn`` when a file only got a "possible" or "suspected" verdict;
``pass`` otherwise.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from synthlabel.assess.sections import Chart, Section, Status, Table
from synthlabel.model.results import InspectionReport

VERDICTS = ("confirmed", "possible", "suspected", "no_trace")
UNJUDGED = "not_judged"  # inspected without the detectors: no verdict
UNREADABLE = "unreadable"
COMPLIANCE = ("compliant", "noncompliant", "not_found", "inconclusive")
# Fixed colours per verdict (greyscale 77 / 159 / 116 / 212; see assess/charts.py).
VERDICT_COLOURS = {
    "confirmed": "#b42318",
    "possible": "#f79009",
    "suspected": "#3b82c4",
    "no_trace": "#d0d5dd",
    UNJUDGED: "#98a2b3",
    UNREADABLE: "#475467",
}
COMPLIANCE_COLOURS = {
    "compliant": "#3a9a5b",
    "noncompliant": "#b42318",
    "not_found": "#d0d5dd",
    "inconclusive": "#f5b041",
}
MAX_ROWS = 300  # the file table lists at most this many files (failures first)

_WORDS: dict[str, tuple[str, str]] = {
    "title": ("Verdict distribution", "判定结果分布"),
    "confirmed": ("Confirmed AI", "确认生成合成"),
    "possible": ("Possibly AI", "可能生成合成"),
    "suspected": ("Suspected AI", "疑似生成合成"),
    "no_trace": ("No trace", "未发现痕迹"),
    UNJUDGED: ("Not judged", "未判定"),
    UNREADABLE: ("Unreadable", "无法读取"),
    "compliant": ("Compliant label", "标识合规"),
    "noncompliant": ("Non-compliant label", "标识不合规"),
    "not_found": ("No label", "无标识"),
    "inconclusive": ("Inconclusive", "无法判断"),
    "files": ("Files", "文件数"),
    "chart_pie": ("Verdicts", "判定结果"),
    "chart_groups": ("Verdicts by {group}", "按{group}统计的判定结果"),
    "chart_compliance": ("Implicit label (AIGC record) state", "隐式标识（AIGC 记录）状态"),
    "group.media": ("media kind", "媒体类型"),
    "group.folder": ("folder", "目录"),
    "table": ("Files", "文件"),
    "col.file": ("File", "文件"),
    "col.format": ("Format", "格式"),
    "col.verdict": ("Verdict", "判定"),
    "col.label": ("Label", "标识"),
    "col.signature": ("Signature", "签名"),
    "col.why": ("Strongest evidence", "主要依据"),
    "summary": (
        "{n} files inspected: {confirmed} confirmed, {possible} possible, {suspected} suspected, "
        "{no_trace} with no trace.",
        "共检测 {n} 个文件：确认 {confirmed} 个，可能 {possible} 个，疑似 {suspected} 个，"
        "未发现痕迹 {no_trace} 个。",
    ),
    "summary_bad": (
        " {bad} carry a label that fails its checks.",
        "其中 {bad} 个文件的标识未通过校验。",
    ),
    "summary_err": (" {err} could not be read.", "{err} 个文件无法读取。"),
    "metric.files": ("Files", "文件数"),
    "metric.noncompliant": ("Labels failing checks", "标识未通过校验"),
    "metric.unreadable": ("Unreadable", "无法读取"),
    "note.policy": ("Verdict policy: {policy}.", "判定策略：{policy}。"),
    "note.rows": (
        "The table lists {shown} of {n} files (failures and warnings first).",
        "表格列出 {n} 个文件中的 {shown} 个（未通过与警告优先）。",
    ),
    "note.unjudged": (
        "{n} files were inspected without the detectors and have no verdict.",
        "{n} 个文件未运行检测器，没有判定结果。",
    ),
}


def _w(lang: str, key: str, **fields: Any) -> str:
    text = _WORDS[key][1 if lang == "zh" else 0]
    return text.format(**fields) if fields else text


def _as_dict(r: InspectionReport | Mapping[str, Any]) -> dict[str, Any]:
    return r.to_dict() if isinstance(r, InspectionReport) else dict(r)


def _verdict(d: Mapping[str, Any]) -> str:
    if d.get("error"):
        return UNREADABLE
    v = d.get("verdict")
    if isinstance(v, Mapping):
        v = v.get("verdict")
    return str(v) if v in VERDICTS else UNJUDGED


def _signature(d: Mapping[str, Any]) -> str:
    for rec in d.get("records") or []:
        sig = rec.get("producer_signature") if isinstance(rec, Mapping) else None
        if isinstance(sig, Mapping):
            text = str(sig.get("status", ""))
            binding = str(sig.get("binding", ""))
            if binding and binding not in ("absent", "not_checked"):
                text += f", {binding}"
            if sig.get("trusted"):
                text += " (trusted)"
            return text
    return "—"


def _short(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _why(d: Mapping[str, Any]) -> str:
    if d.get("error"):
        return _short(str(d["error"]))
    v = d.get("verdict")
    reasons = v.get("reasons") if isinstance(v, Mapping) else None
    if reasons:
        return _short(str(reasons[0]))
    ev = d.get("evidence") or []
    if ev and isinstance(ev[0], Mapping):
        return str(ev[0].get("code", ""))
    return ""


def _row_status(verdict: str, compliance: str) -> Status:
    if verdict == UNREADABLE or compliance == "noncompliant":
        return "fail"
    if verdict in ("possible", "suspected"):
        return "warn"
    if verdict == "confirmed":
        return "pass"
    return "info"


def verdict_section(
    results: Iterable[InspectionReport | Mapping[str, Any]],
    *,
    lang: str = "en",
    title: str | None = None,
    group: Callable[[Mapping[str, Any]], str] | None = None,
    group_name: str | None = None,
) -> Section:
    """One section on the verdicts of ``results``.

    ``group(result_dict) -> str`` puts each file in a bar of the "by group" chart (default:
    its media kind); ``group_name`` names the grouping in the chart title ("folder")."""
    items = [_as_dict(r) for r in results]
    verdicts = [_verdict(d) for d in items]
    compliance = [str(d.get("compliance", "inconclusive")) for d in items]
    counts = Counter(verdicts)
    n = len(items)
    bad = sum(1 for c in compliance if c == "noncompliant")
    err = counts[UNREADABLE]
    keys = [*VERDICTS, *(k for k in (UNJUDGED, UNREADABLE) if counts[k])]
    names = {k: _w(lang, k) for k in keys}

    status: Status = "pass"
    if bad or err:
        status = "fail"
    elif counts["possible"] or counts["suspected"]:
        status = "warn"
    summary = _w(lang, "summary", n=n, **{k: counts[k] for k in VERDICTS})
    if bad:
        summary += _w(lang, "summary_bad", bad=bad)
    if err:
        summary += _w(lang, "summary_err", err=err)

    def pct(k: int) -> str:
        return f"{k} ({k * 100 / n:.0f} %)" if n else "0"

    metrics = {_w(lang, "metric.files"): str(n)}
    for k in VERDICTS:
        metrics[names[k]] = pct(counts[k])
    metrics[_w(lang, "metric.noncompliant")] = str(bad)
    if err:
        metrics[_w(lang, "metric.unreadable")] = str(err)

    if group is None:
        groups = [str(d.get("media_kind") or d.get("format") or "?") for d in items]
        gname = group_name or _w(lang, "group.media")
    else:
        groups = [group(d) for d in items]
        gname = group_name or _w(lang, "group.folder")
    order = list(dict.fromkeys(groups))
    by_group = {
        names[k]: [
            float(sum(1 for g, v in zip(groups, verdicts, strict=True) if g == grp and v == k))
            for grp in order
        ]
        for k in keys
    }
    colours = {names[k]: VERDICT_COLOURS[k] for k in keys}
    comp_counts = Counter(compliance)
    comp_keys = [c for c in COMPLIANCE if comp_counts[c] or c in ("compliant", "noncompliant")]
    charts = [
        Chart(
            title=_w(lang, "chart_pie"),
            kind="pie",
            labels=[names[k] for k in keys],
            series={_w(lang, "files"): [float(counts[k]) for k in keys]},
            unit="",
            colours=colours,
        ),
        Chart(
            title=_w(lang, "chart_groups", group=gname),
            kind="stacked",
            labels=order,
            series=by_group,
            unit=_w(lang, "files"),
            colours=colours,
        ),
        Chart(
            title=_w(lang, "chart_compliance"),
            kind="hbar",
            labels=[_w(lang, c) for c in comp_keys],
            series={_w(lang, "files"): [float(comp_counts[c]) for c in comp_keys]},
            unit=_w(lang, "files"),
            colours={_w(lang, c): COMPLIANCE_COLOURS[c] for c in comp_keys},
        ),
    ]

    paths = [str(d.get("path", "")) for d in items]
    try:
        root = os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(paths[0] or ".")
    except (ValueError, IndexError):
        root = ""
    rank = {"fail": 0, "warn": 1, "info": 2, "pass": 3}
    rows = []
    for d, p, v, c in zip(items, paths, verdicts, compliance, strict=True):
        st = _row_status(v, c)
        shown = os.path.relpath(p, root) if root and p.startswith(root) else p
        rows.append(
            (
                rank[st],
                st,
                [
                    shown,
                    str(d.get("format") or "—"),
                    names.get(v, v),
                    _w(lang, c) if c in COMPLIANCE else c,
                    _signature(d),
                    _why(d),
                ],
            )
        )
    rows.sort(key=lambda r: r[0])  # stable: failures first, then input order
    listed = rows[:MAX_ROWS]
    table = Table(
        title=_w(lang, "table"),
        columns=[
            _w(lang, "col.file"),
            _w(lang, "col.format"),
            _w(lang, "col.verdict"),
            _w(lang, "col.label"),
            _w(lang, "col.signature"),
            _w(lang, "col.why"),
        ],
        rows=[r[2] for r in listed],
        row_status=[r[1] for r in listed],
    )
    notes = []
    policies = sorted(
        {
            str(d["verdict"].get("policy"))
            for d in items
            if isinstance(d.get("verdict"), Mapping) and d["verdict"].get("policy")
        }
    )
    if policies:
        notes.append(_w(lang, "note.policy", policy=", ".join(policies)))
    if counts[UNJUDGED]:
        notes.append(_w(lang, "note.unjudged", n=counts[UNJUDGED]))
    if len(rows) > MAX_ROWS:
        notes.append(_w(lang, "note.rows", shown=MAX_ROWS, n=len(rows)))
    return Section(
        title=title or _w(lang, "title"),
        kind="inspect",
        status=status,
        summary=summary,
        metrics=metrics,
        charts=charts,
        tables=[table],
        notes=notes,
    )
