"""``synthlabel.assess.conformance``: real outputs labelled by our own pipeline conform; outputs
that break one rule each fail that rule, for the measured reason; profiles load, merge and
refuse bad data with the file and key named."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from synthlabel.assess.conformance import (
    CHECKS,
    AssessOptions,
    AssessResult,
    FileAssessment,
    ProfileError,
    assess,
    builtin_profiles,
    load_profile,
    parse_overrides,
    passed,
    profile_yaml,
    register_check,
)
from synthlabel.assess.sections import Section
from synthlabel.detect import _ocr
from tests.assess import conformance_samples as cs

pytestmark = [
    pytest.mark.skipif(not _ocr.available(), reason="synthlabel[ocr] not installed"),
    pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg not installed"),
]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="module")
def home(work: Path) -> Path:
    return cs.key_home(work)


@pytest.fixture(scope="module")
def good(work: Path, home: Path) -> AssessResult:
    cs.make_conformant(work / "good", home)
    return assess([work / "good"], options=AssessOptions(key_home=str(home)), workers=2)


@pytest.fixture(scope="module")
def bad(work: Path, home: Path) -> AssessResult:
    cs.make_nonconformant(work / "bad", home)
    return assess([work / "bad"], "gb45438", options=AssessOptions(key_home=str(home)), workers=2)


def by_name(result: AssessResult) -> dict[str, FileAssessment]:
    return {Path(f.path).name: f for f in result.files}


def failing(f: FileAssessment, severity: str | None = None) -> dict[str, str]:
    return {r.rule: r.message for r in f.failures(severity)}


# ------------------------------------------------------------------------------ conformant


def test_labelled_outputs_conform(good: AssessResult) -> None:
    files = by_name(good)
    assert sorted(files) == ["ok.md", "ok.mp4", "ok.png", "ok.txt", "rhythm.wav", "voice.wav"]
    for name, f in files.items():
        assert f.status == "conformant", (name, failing(f))
        assert failing(f) == {}, name  # not even a warning: signed, bound, one record
    assert good.conformant
    assert [f.kind for f in good.files] == ["text", "video", "image", "text", "audio", "audio"]


def test_measured_values_of_conformant_outputs(good: AssessResult) -> None:
    files = by_name(good)
    size = files["ok.png"].result("explicit.caption.size")
    # the labeller sizes the caption's ink to ceil(5 % of 360) = 18 px; measured on the pixels
    assert size.details["short_side_px"] == 360 and size.details["required_px"] == 18
    assert abs(size.details["height_px"] - 18) <= 1 and size.measured >= 0.047
    pos = files["ok.png"].result("explicit.caption.position")
    assert pos.measured == "bottom-right" and pos.details["position"] == "corner"
    video = files["ok.mp4"].result("explicit.video.opening")
    # 3 s caption on a 3 s clip, read for 2.5 s (min_seconds + 0.5) at 10 frames/s
    assert video.status == "pass" and video.details["first_seen_s"] == 0.0
    assert video.measured == pytest.approx(2.5)
    vsize = files["ok.mp4"].result("explicit.caption.size")
    assert vsize.details["short_side_px"] == 240 and abs(vsize.details["height_px"] - 12) <= 1
    assert "voice prompt '本内容由人工智能生成' at the start" in (
        files["voice.wav"].result("explicit.audio.prompt").message
    )
    assert (
        "rhythm prompt at the start" in files["rhythm.wav"].result("explicit.audio.prompt").message
    )
    sig = files["ok.png"].result("implicit.signature")
    assert sig.measured == "valid (trusted)" and sig.details["algorithm"] == "SM2-SM3"
    assert files["ok.png"].result("implicit.binding").measured == "intact"
    # plain text has no metadata carrier: the record rules do not apply, the notice does
    txt = files["ok.txt"]
    assert txt.result("implicit.record.present").status == "not-applicable"
    assert txt.result("explicit.text.notice").status == "pass"
    # no watermark was embedded: reported as not applicable (optional in GB 45438)
    assert files["ok.png"].result("watermark.present").status == "not-applicable"


# --------------------------------------------------------------------------- nonconformant

EXPECTED: dict[str, tuple[str, str]] = {
    # file: (the error-severity rule that fails, a phrase of its reason)
    "small.png": ("explicit.caption.size", "needs >= 5.0 % (18 px)"),
    "middle.png": ("explicit.caption.position", "at middle (inside)"),
    "norecord.png": ("implicit.record.present", "no AIGC record"),
    "badcode.png": ("implicit.provider_code", "wrong USCC check character"),
    "late.mp4": ("explicit.video.opening", "appears at about 3.00 s"),
    "mute.wav": ("explicit.audio.prompt", "no voice or rhythm prompt"),
    "nonotice.md": ("explicit.text.notice", "no notice with both elements"),
}


def test_each_broken_output_fails_its_rule_for_the_measured_reason(bad: AssessResult) -> None:
    files = by_name(bad)
    for name, (rule, reason) in EXPECTED.items():
        f = files[name]
        assert f.status == "nonconformant", name
        errors = failing(f, "error")
        assert list(errors) == [rule], (name, errors)
        assert reason in errors[rule], (name, errors[rule])
    small = files["small.png"].result("explicit.caption.size")
    assert 10 <= small.details["height_px"] <= 12  # rendered at 3 % of 360 px: 11 px
    assert small.measured == pytest.approx(0.03, abs=0.004)
    assert files["late.mp4"].result("explicit.caption.present").status == "pass"
    assert files["late.mp4"].result("explicit.video.opening").details["first_seen_s"] == 3.0
    # the malformed code is not signed either: a warning beside the error
    assert set(failing(files["badcode.png"], "warning")) == {"implicit.signature"}


def test_signature_and_binding_problems_are_warnings_under_gb45438(bad: AssessResult) -> None:
    files = by_name(bad)
    badsig, moved = files["badsig.jpg"], files["moved.png"]
    # GB 45438 does not require signatures (TC260-PG-202511A does): warnings, still conformant
    assert badsig.status == moved.status == "conformant"
    assert failing(badsig) == {"implicit.signature": failing(badsig)["implicit.signature"]}
    assert badsig.result("implicit.signature").measured == "invalid"
    assert "changed after signing" in badsig.result("implicit.signature").message
    assert badsig.result("implicit.record.valid").status == "pass"  # Annex E itself is fine
    assert set(failing(moved)) == {"implicit.binding"}
    assert moved.result("implicit.signature").status == "pass"  # a valid signature...
    assert moved.result("implicit.binding").measured == "broken"  # ...of other content


def test_summary_score_and_sections(bad: AssessResult) -> None:
    s = bad.summary()
    assert s["files"] == 9 and s["conformant"] == 2 and s["nonconformant"] == 7
    assert s["conformant_pct"] == pytest.approx(22.22, abs=0.01)
    checks = s["checks"]
    assert checks["applicable"] == checks["passed"] + checks["failed"] + checks["errors"]
    assert s["score_pct"] == pytest.approx(100 * checks["passed"] / checks["applicable"], 0.01)
    rules = {r["rule"]: r for r in s["rules"]}
    assert rules["explicit.audio.prompt"]["applicable"] == 1
    assert rules["explicit.audio.prompt"]["pass_pct"] == 0.0
    assert rules["explicit.caption.size"]["failed"] == 1
    assert rules["explicit.caption.size"]["passed"] == 6  # five pictures and the late video
    doc = bad.to_dict()
    assert doc["schema"] == "synthlabel.assess/1"
    sections = [Section.from_dict(x) for x in doc["sections"]]
    assert len(sections) == 1 and sections[0] == bad.sections()[0]
    sec = sections[0]
    assert sec.kind == "assess" and sec.status == "fail"
    assert sec.summary.startswith("2 of 9 files conform to GB 45438-2025")
    chart = sec.charts[0]
    assert chart.kind == "hbar" and chart.max_value == 100.0
    assert dict(zip(chart.labels, chart.series["pass %"], strict=True))[
        "explicit.caption.position"
    ] == pytest.approx(100 * 5 / 6, abs=0.1)
    failing_table = next(t for t in sec.tables if t.title == "Failing checks")
    rows = {(Path(r[0]).name, r[1]) for r in failing_table.rows}
    for name, (rule, _) in EXPECTED.items():
        assert (name, rule) in rows
    assert failing_table.row_status is not None
    assert len(failing_table.row_status) == len(failing_table.rows)


def test_company_policy_turns_warnings_into_errors(
    work: Path, home: Path, good: AssessResult, bad: AssessResult
) -> None:
    d = work / "company"
    d.mkdir()
    for name in ("badsig.jpg", "moved.png"):
        shutil.copy(work / "bad" / name, d / name)
    shutil.copy(work / "good" / "ok.png", d / "ok.png")
    cs.label(work / "good-raw" / "ok.png", d / "marked.png", home, watermark="auto")
    res = assess([d], "example-company", options=AssessOptions(key_home=str(home)), workers=2)
    files = by_name(res)
    assert "implicit.signature" in failing(files["badsig.jpg"], "error")
    assert "implicit.binding" in failing(files["moved.png"], "error")
    # our labeller's bottom-right caption is in a bottom corner, but sized for 5 %, not the
    # policy's 6 %, and no watermark was embedded
    ok = files["ok.png"]
    assert ok.result("explicit.caption.position").status == "pass"
    assert set(failing(ok, "error")) == {"explicit.caption.size", "watermark.present"}
    assert "needs >= 6.0 % (22 px)" in ok.result("explicit.caption.size").message
    assert "no watermark found" in ok.result("watermark.present").message
    assert ok.result("acme.two-layer").status == "fail"  # metadata only, no watermark
    marked = files["marked.png"]  # labelled with --watermark: the mark carries the record's key
    assert set(failing(marked)) == {"explicit.caption.size"}
    wm = marked.result("watermark.present")
    assert wm.measured == "sl-img-1" and "(matches the record)" in wm.message
    assert marked.result("acme.two-layer").measured == ["aigc", "watermark"]


def test_eu_profile_counts_machine_readable_marks(
    work: Path, home: Path, good: AssessResult, bad: AssessResult
) -> None:
    res = assess(
        [work / "good" / "ok.png", work / "bad" / "norecord.png", work / "good" / "ok.txt"],
        "eu-ai-act-art50",
        options=AssessOptions(key_home=str(home)),
        workers=1,
    )
    files = by_name(res)
    ok = files["ok.png"].result("eu.marking")
    assert ok.status == "pass" and ok.measured == ["aigc", "iptc"]  # record + IPTC DST
    assert files["ok.png"].result("eu.marking.multilayer").status == "pass"
    assert files["norecord.png"].result("eu.marking").status == "fail"
    assert files["ok.txt"].result("eu.marking").status == "fail"  # plain text: no carrier
    assert files["ok.png"].result("eu.disclosure").status == "not-applicable"
    deepfake = assess(
        [work / "good" / "ok.png", work / "bad" / "norecord.png"],
        "eu-ai-act-art50",
        overrides={"eu.disclosure": {"deepfake": True}},
        workers=1,
    )
    assert all(f.result("eu.disclosure").status == "pass" for f in deepfake.files)


def test_unreadable_and_unsupported_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01\x02 not a format we know")
    res = assess([tmp_path, tmp_path / "missing.jpg"], workers=1)
    names = {Path(f.path).name: f for f in res.files}
    assert "notes.bin" not in names  # directory walks skip unsupported files
    assert names["missing.jpg"].status == "unreadable" and names["missing.jpg"].error
    assert names["broken.png"].status in ("unreadable", "nonconformant")
    assert res.summary()["unreadable"] >= 1
    assert res.sections()[0].status == "fail"


# -------------------------------------------------------------------------------- profiles


def test_builtin_profiles_load_and_round_trip(tmp_path: Path) -> None:
    assert builtin_profiles() == ["eu-ai-act-art50", "example-company", "gb45438"]
    for name in builtin_profiles():
        p = load_profile(name)
        assert p.rules and all(r.title_zh and r.title_en for r in p.rules)
        f = tmp_path / f"{name}.yaml"
        f.write_text(profile_yaml(p))
        again = load_profile(f)
        assert [r.to_dict() for r in again.rules] == [r.to_dict() for r in p.rules]
    gb = load_profile()
    assert gb.id == "gb45438" and gb.rule("explicit.caption.size").params["min_ratio"] == 0.05
    company = load_profile("example-company")
    assert company.rule("explicit.caption.size").params == {"min_ratio": 0.06, "tolerance": 0.06}
    assert company.rule("implicit.signature").severity == "error"
    assert company.rule("implicit.record.present").clause.startswith("GB 45438")  # inherited


def _profile(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


HEADER = "id: mine\nversion: 1\ntitle: {en: Mine, zh: 我的}\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "rules: [{id: no.such.rule, title: X}]",
            "rules[0] (no.such.rule): unknown rule 'no.such.rule'",
        ),
        (
            "rules: [{id: x, check: nope, title: X}]",
            "rules[0] (x): unknown check 'nope'",
        ),
        (
            "rules: [{id: explicit.caption.size, title: X, params: {min_ratio: big}}]",
            "rules[0] (explicit.caption.size).params.min_ratio: expected a number, got 'big'",
        ),
        (
            "rules: [{id: explicit.caption.size, title: X, params: {min_ratio: 2}}]",
            "params.min_ratio: 2 is outside the range 0.001..0.5",
        ),
        (
            "rules: [{id: explicit.caption.size, title: X, params: {colour: red}}]",
            "params.colour: unknown parameter of check explicit.caption.size",
        ),
        (
            "rules: [{id: explicit.caption.position, title: X, params: {positions: [top, up]}}]",
            "params.positions: 'up' is not one of corner, edge",
        ),
        (
            "rules: [{id: explicit.audio.prompt, title: X, applies_to: [image]}]",
            "applies_to: check explicit.audio.prompt cannot judge image files",
        ),
        ("rules: [{id: implicit.signature, title: X, severity: fatal}]", "severity: 'fatal'"),
        ("rules: [{id: implicit.signature, title: X, colour: red}]", "unknown key(s) colour"),
        ("rules: [{id: implicit.signature}]", "title: expected a title"),
        (
            "rules: [{id: implicit.signature, title: X}, {id: implicit.signature, title: Y}]",
            "rules[1].id: rule 'implicit.signature' is listed twice",
        ),
        ("rules: []", "a profile needs at least one rule"),
        ("rules: [{id: implicit.signature, title: X}]\nextra: 1", "unknown key(s) extra"),
    ],
)
def test_profile_errors_name_the_file_and_the_key(tmp_path: Path, body: str, message: str) -> None:
    f = _profile(tmp_path, HEADER + body + "\n")
    with pytest.raises(ProfileError) as exc:
        load_profile(f)
    assert str(f) in str(exc.value) and message in str(exc.value), str(exc.value)


def test_yaml_syntax_errors_and_missing_files(tmp_path: Path) -> None:
    f = _profile(tmp_path, HEADER + "rules:\n  - id: [unclosed\n")
    with pytest.raises(ProfileError, match=r"p\.yaml: not valid YAML at line \d+, column \d+"):
        load_profile(f)
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match=r"unknown profile 'gb99999'.*built-in: eu-ai-act"):
        load_profile("gb99999")
    with pytest.raises(ProfileError, match="a profile is a YAML mapping"):
        load_profile(_profile(tmp_path, "- just\n- a list\n", "list.yaml"))
    with pytest.raises(ProfileError, match="version: expected a whole number"):
        load_profile(_profile(tmp_path, "id: x\nversion: one\ntitle: X\nrules: []\n", "v.yaml"))


def test_extends_remove_and_overrides(tmp_path: Path) -> None:
    f = _profile(
        tmp_path,
        HEADER + "extends: gb45438\nremove: [watermark.present, implicit.record.single]\n"
        "rules:\n  - id: explicit.caption.size\n    params: {min_ratio: 0.08}\n"
        "  - id: acme.both\n    check: marking.machine_readable\n    title: Both\n"
        "    params: {accept: [aigc, watermark], min_count: 2}\n",
    )
    p = load_profile(f)
    ids = [r.id for r in p.rules]
    assert "watermark.present" not in ids and "implicit.record.single" not in ids
    assert ids[-1] == "acme.both" and p.rule("acme.both").applies_to == (
        "image",
        "video",
        "audio",
        "text",
        "document",
    )
    size = p.rule("explicit.caption.size")
    assert size.params == {"min_ratio": 0.08, "tolerance": 0.06}  # merged key by key
    assert size.title_en.startswith("Caption text height")  # inherited
    over = load_profile(
        f,
        overrides=parse_overrides(
            ["explicit.caption.size.min_ratio=0.1", "acme.both.severity=warning"]
        ),
    )
    assert over.rule("explicit.caption.size").params["min_ratio"] == 0.1
    assert over.rule("acme.both").severity == "warning"
    with pytest.raises(ProfileError, match="--set: profile mine has no rule 'nope'"):
        load_profile(f, overrides=parse_overrides(["nope.x=1"]))
    with pytest.raises(ProfileError, match=r"--set 'size': expected RULE\.PARAM=VALUE"):
        parse_overrides(["size"])
    with pytest.raises(ProfileError, match=r"params\.min_ratio: expected a number"):
        load_profile(f, overrides=parse_overrides(["explicit.caption.size.min_ratio=big"]))
    bad_remove = _profile(tmp_path, HEADER + "extends: gb45438\nremove: [nope]\n", "r.yaml")
    with pytest.raises(ProfileError, match="remove: 'nope' is not a rule of gb45438"):
        load_profile(bad_remove)
    loop = _profile(tmp_path, HEADER + "extends: loop.yaml\n", "loop.yaml")
    with pytest.raises(ProfileError, match="nests more than 5 deep"):
        load_profile(loop)


def test_a_new_check_is_one_function_and_a_registration(tmp_path: Path) -> None:
    @register_check(
        "test.filename-prefix",
        kinds={"text"},
        params={"prefix": cs_param("ai-")},
    )
    def prefix(ctx: Any, params: Any) -> Any:
        name = Path(ctx.path).name
        if name.startswith(params["prefix"]):
            return passed(f"name starts with {params['prefix']!r}", name)
        return cs_failed(name, params["prefix"])

    try:
        f = _profile(
            tmp_path,
            HEADER + "rules:\n  - id: test.filename-prefix\n    title: Prefix\n"
            "    params: {prefix: gen-}\n",
        )
        (tmp_path / "gen-1.md").write_text("hello\n")
        (tmp_path / "other.md").write_text("hello\n")
        res = assess([tmp_path / "gen-1.md", tmp_path / "other.md"], f, workers=1)
        assert [f.status for f in res.files] == ["conformant", "nonconformant"]
        assert res.files[1].results[0].message == "'other.md' lacks the prefix 'gen-'"
    finally:
        CHECKS.pop("test.filename-prefix", None)


def cs_param(default: str) -> Any:
    from synthlabel.assess.conformance import Param

    return Param("str", default, "file names start with this")


def cs_failed(name: str, prefix: str) -> Any:
    from synthlabel.assess.conformance import failed

    return failed(f"{name!r} lacks the prefix {prefix!r}", name, f"starts with {prefix!r}")
