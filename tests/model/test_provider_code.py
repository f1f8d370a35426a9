"""Provider codes: the six real codes from the spec, fake codes, every failing part."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlabel.errors import ProviderCodeError
from synthlabel.model.provider_code import (
    USCC_ALPHABET,
    ProviderCode,
    classify,
    id_number_check_char,
    is_valid_id_number,
    is_valid_uscc,
    mask_personal,
    uscc_check_char,
    validate,
)

# provider-code.md §2: real codes seen in files (all valid). Never invent real codes.
REAL = [
    ("001191110102MACQD9K64010000", "1", "0000"),  # Doubao
    ("00119144030008867405X210001", "1", "0001"),  # Jimeng (producer)
    ("00119144030008867405X220001", "2", "0001"),  # Jimeng (propagator)
    ("001191440300708461136T1308L", "1", "308L"),  # Tencent Yuanbao
    ("001191440300MA5G49LC9K1YO01", "1", "YO01"),  # Honor
    ("001191310104MACE0YX63918020", "1", "8020"),  # StepFun export
]

# Clearly fake subject codes with valid check characters.
FAKE_USCC = "91110000MA0000000H"
FAKE_CODE = "001191110000MA0000000H10001"


def fake_id_number(body: str = "99999919900101001") -> str:
    """A fake resident ID: region 999999 does not exist."""
    return body + id_number_check_char(body)


@pytest.mark.parametrize(("code", "service", "model"), REAL)
def test_real_codes_are_valid(code: str, service: str, model: str) -> None:
    parts = validate(code)
    assert parts.format == "00"
    assert parts.subject_type == "1" and parts.binding == "1"
    assert parts.service_type == service and parts.model_code == model
    assert is_valid_uscc(parts.subject_id)
    assert parts.warnings == ()
    assert parts.code == code
    assert classify(code) == "code_valid"
    assert ProviderCode.parse(code) == parts
    assert (
        ProviderCode.build(
            parts.subject_type, parts.binding, parts.subject_id, parts.service_type, model
        )
        == code
    )
    assert mask_personal(code) == code  # organisations are not masked


def test_fake_code_builds_and_parses() -> None:
    assert uscc_check_char(FAKE_USCC[:17]) == "H"
    assert ProviderCode.build(1, 1, FAKE_USCC, 1, "0001") == FAKE_CODE
    assert ProviderCode.build("1", "1", FAKE_USCC) == "001191110000MA0000000H00000"
    parts = ProviderCode.parse("001191110000MA0000000H00000")
    assert parts.service_type is None and parts.model_code is None
    assert parts.service_kind == "none" and parts.subject_kind == "organisation"
    assert ProviderCode.build(1, 1, FAKE_USCC, 2).endswith("20000")


def test_wrong_uscc_check_char_message() -> None:
    bad = FAKE_CODE[:21] + "J" + FAKE_CODE[22:]
    with pytest.raises(ProviderCodeError) as ei:
        validate(bad)
    assert ei.value.part == "subject_code"
    assert "expected H got J" in str(ei.value)
    assert classify(bad) == "code_invalid"
    with pytest.raises(ProviderCodeError, match="expected H got J"):
        ProviderCode.build(1, 1, FAKE_USCC[:17] + "J")


@pytest.mark.parametrize(
    ("code", "part", "text"),
    [
        (FAKE_CODE[:-1], "length/charset", "27 characters, got 26"),
        (FAKE_CODE + "0", "length/charset", "27 characters, got 28"),
        (FAKE_CODE[:-1] + "a", "length/charset", "character 27 is 'a'"),
        ("01" + FAKE_CODE[2:], "format", "format-definition code '01'"),
        ("0031" + FAKE_CODE[4:], "subject_type", "subject type '3'"),
        ("0011" + "91110000MA0000000O" + "10001", "subject_code", "'O'"),
        (FAKE_CODE[:22] + "30001", "service_type", "service type '3'"),
        (FAKE_CODE[:22] + "00001", "model_code", "without a service type"),
    ],
)
def test_each_failing_part(code: str, part: str, text: str) -> None:
    with pytest.raises(ProviderCodeError) as ei:
        validate(code)
    assert ei.value.part == part
    assert text in str(ei.value)
    assert classify(code) == "code_invalid"


def test_parse_is_lenient_where_the_spec_says_warn() -> None:
    parts = ProviderCode.parse("01" + FAKE_CODE[2:22] + "30001")
    assert any("format" in w for w in parts.warnings)
    assert any("service type '3'" in w for w in parts.warnings)
    # Unknown binding is a warning even for strict validation.
    parts = validate("0012" + FAKE_CODE[4:])
    assert parts.binding == "2"
    assert any("binding" in w for w in parts.warnings)
    # Hard errors stay errors.
    with pytest.raises(ProviderCodeError):
        ProviderCode.parse("short")


def test_role_mismatch_is_a_warning() -> None:
    parts = validate("00119144030008867405X220001", role="producer")
    assert any("used as producer" in w for w in parts.warnings)
    assert validate("00119144030008867405X220001", role="propagator").warnings == ()
    assert any("used as propagator" in w for w in validate(FAKE_CODE, role="propagator").warnings)


def test_individual_codes_validate_and_mask() -> None:
    idn = fake_id_number()
    code = ProviderCode.build(2, 1, idn, 1, "0001")
    parts = validate(code)
    assert parts.is_personal and parts.subject_kind == "individual"
    masked = mask_personal(code)
    assert masked == "0021" + idn[:6] + "********" + idn[14:] + "10001"
    assert parts.masked() == masked
    assert idn[6:14] not in masked
    wrong = "X" if idn[-1] != "X" else "0"
    with pytest.raises(ProviderCodeError) as ei:
        validate(code[:21] + wrong + code[22:])
    assert ei.value.part == "subject_code"
    assert f"expected {idn[-1]} got {wrong}" in str(ei.value)
    with pytest.raises(ProviderCodeError, match="expected a digit"):
        ProviderCode.build(2, 1, "9999991990A101001X")
    assert is_valid_id_number(idn)
    assert not is_valid_id_number(idn[:-1])


def test_build_errors() -> None:
    with pytest.raises(ProviderCodeError) as ei:
        ProviderCode.build(3, 1, FAKE_USCC)
    assert ei.value.part == "subject_type"
    with pytest.raises(ProviderCodeError) as ei:
        ProviderCode.build(1, 2, FAKE_USCC)
    assert ei.value.part == "binding"
    with pytest.raises(ProviderCodeError) as ei:
        ProviderCode.build(1, 1, FAKE_USCC, 3)
    assert ei.value.part == "service_type"
    with pytest.raises(ProviderCodeError) as ei:
        ProviderCode.build(1, 1, FAKE_USCC, None, "0001")
    assert ei.value.part == "service_type"
    with pytest.raises(ProviderCodeError) as ei:
        ProviderCode.build(1, 1, FAKE_USCC, 1, "ab01")
    assert ei.value.part == "model_code" and "normalise=True" in str(ei.value)
    with pytest.raises(ProviderCodeError) as ei:
        ProviderCode.build(1, 1, FAKE_USCC, 1, "00001")
    assert ei.value.part == "model_code" and "exactly 4" in str(ei.value)
    assert ProviderCode.build(1, 1, FAKE_USCC, 1, "ab01", normalise=True).endswith("1AB01")
    with pytest.raises(ProviderCodeError) as ei:
        ProviderCode.build(1, 1, "91110000MA000000")
    assert ei.value.part == "subject_code" and "18 characters" in str(ei.value)


@pytest.mark.parametrize("name", ["doubao", "MiniMax", "picwish", "", "豆包", "Jimeng-AI"])
def test_names_classify_as_name(name: str) -> None:
    assert classify(name) == "name"


def test_code_like_values_classify_as_invalid() -> None:
    assert classify("0011" + "1" * 23) == "code_invalid"
    assert classify(FAKE_CODE.lower()) == "code_invalid"
    assert classify(FAKE_CODE[:-1]) == "code_invalid"


@settings(max_examples=60, deadline=None)
@given(
    body=st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17),
    service=st.sampled_from([None, 1, 2]),
    model=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4),
)
def test_property_build_validate_roundtrip(body: str, service: int | None, model: str) -> None:
    uscc = body + uscc_check_char(body)
    code = ProviderCode.build(1, 1, uscc, service, None if service is None else model)
    parts = validate(code)
    assert parts.subject_id == uscc
    assert parts.code == code
    # Any single-character change of the subject code is detected.
    pos = 4 + len(body) // 2
    other = next(c for c in USCC_ALPHABET if c != code[pos])
    with pytest.raises(ProviderCodeError):
        validate(code[:pos] + other + code[pos + 1 :])
