"""The web UI's message catalog: every key the templates and pages use exists in English and
Chinese with the same placeholders, every enumeration value has a label, and the language is
picked from Accept-Language as a browser expects."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the [service] extra")

from synthlabel.formats.base import MediaKind
from synthlabel.service.db import models
from synthlabel.service.web import i18n

WEB = Path(i18n.__file__).resolve().parent


def _literal_keys() -> set[str]:
    keys: set[str] = set()
    for path in (WEB / "templates").glob("*.html"):
        keys |= set(re.findall(r"\bt\('([a-z0-9_.\-]+[a-z0-9_])'", path.read_text()))
    for path in WEB.glob("*.py"):
        text = path.read_text()
        keys |= set(re.findall(r'\bt\("([a-z0-9_]+\.[a-z0-9_.\-]+)"', text))
        keys |= set(re.findall(r'(?:WebError|FlowError)\([^"]*"([a-z]+\.[a-z0-9_]+)"', text))
    return keys


def test_every_used_key_exists() -> None:
    keys = _literal_keys()
    assert len(keys) > 100
    missing = sorted(k for k in keys if k not in i18n.MESSAGES)
    assert not missing, missing


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("key", sorted(i18n.MESSAGES))
def test_both_languages_with_the_same_placeholders(key: str) -> None:
    en, zh = i18n.MESSAGES[key]
    assert en.strip() and zh.strip()
    assert _fields(en) == _fields(zh)


ENUMS = {
    "verdict": ("confirmed", "possible", "suspected", "no_trace", "pending"),
    "jobstatus": models.REVIEW_JOB_STATUSES,
    "cstatus": models.COMPLAINT_STATUSES,
    "outcome": models.DECISION_OUTCOMES,
    "outcome_help": models.DECISION_OUTCOMES,
    "category": models.COMPLAINT_CATEGORIES,
    "fstatus": models.FILING_STATUSES,
    "assess": models.SECURITY_ASSESSMENT_STATUSES,
    "pkind": models.PROVIDER_KINDS,
    "role": models.ROLES,
    "rstate": models.REVIEW_STATES,
    "origin": models.CONTENT_ORIGINS,
    "media": tuple(m.value for m in MediaKind),
}


@pytest.mark.parametrize("group", sorted(ENUMS))
def test_every_enumeration_value_has_a_label(group: str) -> None:
    missing = [v for v in ENUMS[group] if f"{group}.{v}" not in i18n.MESSAGES]
    assert not missing, missing


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,zh-TW;q=0.5", "zh"),
        ("en;q=0.2,zh;q=0.7", "zh"),
        ("de,fr", "en"),
        ("zh;q=0", "en"),
        ("zh;q=bogus,en", "en"),
    ],
)
def test_accept_language(header: str, lang: str) -> None:
    assert i18n.from_accept_language(header) == lang


def test_translator_fills_and_falls_back() -> None:
    zh = i18n.Translator("zh")
    assert zh("common.too_long", n=5) == "最多 5 个字符。"
    assert i18n.Translator("xx").lang == "en"
    assert zh("no.such_key") == "such key"  # never a crash on a missing key
