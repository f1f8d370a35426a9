"""The risk taxonomy of TC260-003 Annex A (and GB/T 45654-2025 Annex A): 5 categories, 31
risks, plus the aspects the should-not-refuse bank (Q3) must cover.

The ids (``A1-a`` …) are ours (docs/tc260.md); the Chinese names are the canonical labels.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Risk:
    id: str  # "A1-a"
    category: str  # "A1"
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Aspect:
    id: str  # "history"
    name_zh: str
    name_en: str


CATEGORIES: dict[str, tuple[str, str]] = {
    "A1": ("违反社会主义核心价值观", "Violates core socialist values"),
    "A2": ("歧视性内容", "Discriminatory content"),
    "A3": ("商业违法违规", "Commercial violations"),
    "A4": ("侵犯他人合法权益", "Infringes others' lawful rights"),
    "A5": ("无法满足特定服务类型的安全需求", "Fails service-type-specific safety needs"),
}

_RISKS: tuple[tuple[str, str, str], ...] = (
    ("A1-a", "煽动颠覆国家政权、推翻社会主义制度", "Incites subversion of state power"),
    ("A1-b", "危害国家安全和利益、损害国家形象", "Endangers national security or image"),
    ("A1-c", "煽动分裂国家、破坏国家统一和社会稳定", "Incites separatism or instability"),
    ("A1-d", "宣扬恐怖主义、极端主义", "Promotes terrorism or extremism"),
    ("A1-e", "宣扬民族仇恨", "Promotes ethnic hatred"),
    ("A1-f", "宣扬暴力、淫秽色情", "Promotes violence or obscenity"),
    ("A1-g", "传播虚假有害信息", "Spreads false harmful information"),
    ("A1-h", "其他法律、行政法规禁止的内容", "Other content prohibited by law"),
    ("A2-a", "民族歧视", "Ethnic discrimination"),
    ("A2-b", "信仰歧视", "Religious discrimination"),
    ("A2-c", "国别歧视", "Nationality discrimination"),
    ("A2-d", "地域歧视", "Regional discrimination"),
    ("A2-e", "性别歧视", "Gender discrimination"),
    ("A2-f", "年龄歧视", "Age discrimination"),
    ("A2-g", "职业歧视", "Occupational discrimination"),
    ("A2-h", "健康歧视", "Health discrimination"),
    ("A2-i", "其他方面歧视", "Other discrimination"),
    ("A3-a", "侵犯他人知识产权", "Infringes intellectual property"),
    ("A3-b", "违反商业道德", "Violates business ethics"),
    ("A3-c", "泄露他人商业秘密", "Discloses trade secrets"),
    (
        "A3-d",
        "利用算法、数据、平台等优势实施垄断和不正当竞争行为",
        "Monopoly or unfair competition",
    ),
    ("A3-e", "其他商业违法违规行为", "Other commercial violations"),
    ("A4-a", "危害他人身心健康", "Harms physical or mental health"),
    ("A4-b", "侵害他人肖像权", "Infringes portrait rights"),
    ("A4-c", "侵害他人名誉权", "Infringes reputation rights"),
    ("A4-d", "侵害他人荣誉权", "Infringes honour rights"),
    ("A4-e", "侵害他人隐私权", "Infringes privacy"),
    ("A4-f", "侵害他人个人信息权益", "Infringes personal-information rights"),
    ("A4-g", "侵犯他人其他合法权益", "Infringes other lawful rights"),
    ("A5-a", "内容不准确，严重不符合科学常识或主流认知", "Inaccurate content"),
    ("A5-b", "内容不可靠，虽不包含严重错误但无法对使用者形成帮助", "Unreliable content"),
)

RISKS: dict[str, Risk] = {r[0]: Risk(r[0], r[0][:2], r[1], r[2]) for r in _RISKS}

#: The 17 risks of A.1 and A.2 (the keyword library and the should-refuse bank cover these).
CORE_RISKS: tuple[str, ...] = tuple(r for r in RISKS if RISKS[r].category in ("A1", "A2"))

#: What the should-not-refuse bank (Q3) must cover, at least 20 questions each.
_ASPECTS: tuple[tuple[str, str, str], ...] = (
    ("system", "我国制度", "China's system"),
    ("beliefs", "信仰", "Beliefs"),
    ("image", "国家形象", "National image"),
    ("culture", "文化", "Culture"),
    ("customs", "习俗", "Customs"),
    ("ethnicity", "民族", "Ethnicity"),
    ("geography", "地理", "Geography"),
    ("history", "历史", "History"),
    ("heroes", "英雄烈士", "Heroes and martyrs"),
    ("gender", "个人性别", "Personal gender"),
    ("age", "个人年龄", "Personal age"),
    ("occupation", "个人职业", "Personal occupation"),
    ("health", "个人健康", "Personal health"),
)
ASPECTS: dict[str, Aspect] = {a[0]: Aspect(*a) for a in _ASPECTS}


def risk_label(risk_id: str) -> str:
    r = RISKS.get(risk_id)
    return f"{risk_id} {r.name_zh}" if r else risk_id


def aspect_label(aspect_id: str) -> str:
    a = ASPECTS.get(aspect_id)
    return f"{a.name_zh} / {a.name_en}" if a else aspect_id
