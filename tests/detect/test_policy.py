"""The verdict policy: findings to the Labeling Measures' classes, as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthlabel.model.findings import Finding, Strength, Verdict
from synthlabel.model.policy import (
    BUILTIN_POLICIES,
    PolicyError,
    builtin_policy,
    decide,
    load_policy,
    parse_policy,
)


def f(code: str, strength: Strength = Strength.STRONG) -> Finding:
    return Finding("test", code, code, strength, "here", "a test")


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], Verdict.NO_TRACE),
        ([("aigc.record.valid", Strength.CONCLUSIVE)], Verdict.CONFIRMED),
        ([("aigc.record.unsigned", Strength.STRONG)], Verdict.CONFIRMED),
        ([("aigc.record.tampered", Strength.MODERATE)], Verdict.POSSIBLE),
        ([("aigc.record.label2", Strength.STRONG)], Verdict.POSSIBLE),
        ([("aigc.record.label3", Strength.MODERATE)], Verdict.SUSPECTED),
        ([("c2pa.ai_claim.trusted", Strength.CONCLUSIVE)], Verdict.CONFIRMED),
        ([("c2pa.ai_claim.untrusted", Strength.STRONG)], Verdict.POSSIBLE),
        ([("c2pa.ai_claim.invalid", Strength.MODERATE)], Verdict.POSSIBLE),
        ([("c2pa.ai_claim.ingredient", Strength.STRONG)], Verdict.POSSIBLE),
        ([("watermark.sl-img-1", Strength.CONCLUSIVE)], Verdict.CONFIRMED),
        ([("iptc.dst.trained", Strength.STRONG)], Verdict.POSSIBLE),
        ([("iptc.dst.algorithmic", Strength.WEAK)], Verdict.SUSPECTED),
        ([("trace.a1111.parameters", Strength.STRONG)], Verdict.POSSIBLE),
        ([("trace.software.photoshop", Strength.MODERATE)], Verdict.SUSPECTED),
        ([("visible.caption", Strength.MODERATE)], Verdict.POSSIBLE),
        ([("visible.caption", Strength.WEAK)], Verdict.SUSPECTED),
        ([("registry.match.exact", Strength.CONCLUSIVE)], Verdict.CONFIRMED),
        ([("registry.match.near", Strength.STRONG)], Verdict.POSSIBLE),
        ([("something.unknown", Strength.CONCLUSIVE)], Verdict.NO_TRACE),
        # the strongest class wins, whatever the order
        (
            [("trace.x.y", Strength.WEAK), ("aigc.record.valid", Strength.CONCLUSIVE)],
            Verdict.CONFIRMED,
        ),
    ],
)
def test_default_policy_classes(codes: list[tuple[str, Strength]], expected: Verdict) -> None:
    d = decide([f(c, s) for c, s in codes])
    assert d.verdict is expected
    assert d.policy == "synthlabel-default/1"
    assert (not d.reasons) == (expected is Verdict.NO_TRACE)
    assert len(d.evidence) == len(codes)


def test_evidence_is_sorted_strongest_first_and_serialises() -> None:
    d = decide([f("trace.a.b", Strength.WEAK), f("aigc.record.valid", Strength.CONCLUSIVE)])
    assert [e.code for e in d.evidence] == ["aigc.record.valid", "trace.a.b"]
    assert d.to_dict() == {
        "verdict": "confirmed",
        "label_value": "1",
        "policy": "synthlabel-default/1",
        "reasons": list(d.reasons),
        "declared": False,
    }
    assert "Art. 6(1)" in d.reasons[0]


def test_declaration_counts_as_possible_never_more() -> None:
    assert decide([], declared=True).verdict is Verdict.POSSIBLE
    assert decide([], declared=True).label_value == "2"
    d = decide([f("aigc.record.valid", Strength.CONCLUSIVE)], declared=True)
    assert d.verdict is Verdict.CONFIRMED and d.declared


def test_measures_strict_reads_article_6_literally() -> None:
    strict = builtin_policy("measures-strict")
    assert strict.decide([f("watermark.sl-img-1", Strength.CONCLUSIVE)]).verdict is (
        Verdict.SUSPECTED
    )
    assert strict.decide([f("aigc.record.tampered", Strength.MODERATE)]).verdict is (
        Verdict.CONFIRMED
    )
    assert strict.decide([], declared=True).verdict is Verdict.POSSIBLE
    assert strict.decide([f("trace.x.y", Strength.WEAK)]).verdict is Verdict.NO_TRACE


def test_every_builtin_policy_loads() -> None:
    for name in BUILTIN_POLICIES:
        p = load_policy(name)
        assert p.rules and p.to_dict()["id"] == p.id


def test_policy_files_and_their_errors(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text(
        'id = "mine"\nversion = 3\ndeclaration = "suspected"\n'
        '[[rules]]\nname = "any trace"\nverdict = "confirmed"\nwhen = "trace.*"\n',
        encoding="utf-8",
    )
    p = load_policy(good)
    assert p.ref == "mine/3"
    assert p.decide([f("trace.a.b", Strength.WEAK)]).verdict is Verdict.CONFIRMED
    assert p.decide([], declared=True).verdict is Verdict.SUSPECTED
    bad_cases = {
        "not toml [": "not valid TOML",
        'version = 1\n[[rules]]\nverdict="confirmed"\nwhen="a.b"': "'id'",
        'id="x"\nversion=1': "at least one",
        'id="x"\nversion=1\n[[rules]]\nverdict="sure"\nwhen="a.b"': "not one of",
        'id="x"\nversion=1\n[[rules]]\nverdict="confirmed"': "'when'",
        'id="x"\nversion=1\n[[rules]]\nverdict="no_trace"\nwhen="a.b"': "cannot conclude",
        'id="x"\nversion=1\n[[rules]]\nverdict="possible"\nwhen="a.b"\nmin="weak"': "unknown key",
        'id="x"\nversion=1\n[[rules]]\nverdict="possible"\nwhen="a.b"\nmin_strength="x"': "x",
    }
    for text, message in bad_cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(PolicyError, match=r"bad\.toml") as exc:
            load_policy(path)
        assert message in str(exc.value)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")
    with pytest.raises(PolicyError, match="no built-in policy 'lenient'"):
        load_policy("lenient")
    with pytest.raises(PolicyError):
        parse_policy('id="x"\nversion=0\n[[rules]]\nverdict="possible"\nwhen="a.b"')
