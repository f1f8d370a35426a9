"""Text attacks: paraphrase-like substitutions (synonyms, homoglyphs, punctuation, random
words and characters) and copy-paste through plain text.

In memory each attack maps a string to a string. On files (plain text, Markdown, HTML) the
edits touch only what a reader sees: a Markdown file's YAML front matter and HTML tags and
attributes (where the AIGC record lives) are kept as they are, so an edit alone is measured
(the record stays, its content binding breaks). ``text.copy_paste`` is the other case: what
survives when the rendered text is selected, copied and pasted into a plain-text box (front
matter, markup and invisible characters gone); it writes ``.txt``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np

from synthlabel.assess.attacks.base import Attack, AttackError, AttackSet, write_atomic

Rng = np.random.Generator

#: A small seeded synonym table (lower case; the replacement keeps the word's capitalisation).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "big": ("large", "huge"), "large": ("big", "sizeable"), "small": ("little", "tiny"),
    "little": ("small",), "quick": ("fast", "rapid"), "fast": ("quick", "swift"),
    "slow": ("unhurried", "sluggish"), "bright": ("vivid", "brilliant"), "dark": ("dim",),
    "quiet": ("calm", "silent"), "calm": ("quiet", "still"), "old": ("ancient", "aged"),
    "new": ("fresh", "recent"), "good": ("fine", "decent"), "bad": ("poor",),
    "clear": ("plain", "obvious"), "simple": ("plain", "basic"), "careful": ("cautious",),
    "early": ("prompt",), "later": ("afterwards",), "open": ("public",),
    "shows": ("displays", "reveals"), "show": ("display",), "makes": ("creates", "produces"),
    "make": ("create",), "finds": ("discovers", "locates"), "sees": ("notices", "observes"),
    "keeps": ("retains", "holds"), "holds": ("keeps", "carries"), "moves": ("shifts",),
    "builds": ("constructs",), "brings": ("carries", "delivers"), "reads": ("scans",),
    "writes": ("composes",), "says": ("states",), "uses": ("employs",), "use": ("employ",),
    "picture": ("image", "photo"), "image": ("picture",), "photo": ("picture",),
    "city": ("town",), "town": ("city",), "river": ("stream",), "garden": ("yard",),
    "story": ("tale", "account"), "report": ("account", "summary"), "data": ("information",),
    "music": ("melody",), "voice": ("speech",), "morning": ("dawn",), "light": ("glow",),
    "window": ("pane",), "user": ("person",), "people": ("folk", "persons"),
    "content": ("material",), "system": ("setup",), "network": ("web", "mesh"),
    "signal": ("sign",), "service": ("facility",), "record": ("entry",),
    "near": ("close to", "by"), "under": ("beneath", "below"), "over": ("above", "across"),
    "after": ("following",), "before": ("prior to",), "because": ("since", "as"),
    "while": ("whereas",), "but": ("yet", "though"), "and": ("plus",),
    "often": ("frequently",), "very": ("really", "quite"), "also": ("too",),
    "begin": ("start",), "start": ("begin",), "end": ("finish",), "help": ("assist",),
    "however": ("yet", "still"), "important": ("crucial", "key"), "many": ("numerous",),
    "generated": ("produced", "created"), "artificial": ("synthetic",),
    "生成": ("产生", "制作"), "内容": ("材料",), "图片": ("图像", "照片"), "快速": ("迅速",),
    "重要": ("关键",), "使用": ("利用",), "今天": ("今日",), "因为": ("由于",),
}  # fmt: skip

#: Latin letters and look-alikes from other scripts (Cyrillic, Greek).
HOMOGLYPHS: dict[str, str] = {
    "a": "а", "c": "с", "e": "е", "i": "і", "j": "ј", "o": "о", "p": "р", "s": "ѕ",
    "x": "х", "y": "у", "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "I": "І",
    "K": "К", "M": "М", "O": "О", "P": "Р", "T": "Т", "X": "Х", "Y": "У", "N": "Ν",
}  # fmt: skip

#: Punctuation swaps a rewrite or a locale change makes.
PUNCTUATION: dict[str, tuple[str, ...]] = {
    ",": (";", "，", " -"), ".": ("!", "。", ";"), "'": ("’",), '"': ("“", "”"),
    "-": ("–", "—"), ":": (" -", "："), "!": (".",), "?": (".", "？"), ";": (",",),
    "，": (",",), "。": (".",),
}  # fmt: skip

#: Invisible format characters a copy through plain text drops (zero-width space, joiners,
#: word joiner, BOM, bidirectional marks and isolates, soft hyphen).
ZERO_WIDTH = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")

#: The format plug-ins text attacks read (plain text, Markdown, HTML).
FORMATS = frozenset({"text", "markdown", "html"})

_WORD = re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]{2}")


def _case_like(src: str, word: str) -> str:
    if src.isupper() and len(src) > 1:
        return word.upper()
    if src[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def synonyms(text: str, rng: Rng, rate: float = 0.3) -> str:
    """Replace each word that has an entry in :data:`SYNONYMS` with probability ``rate``."""

    def sub(m: re.Match[str]) -> str:
        w = m.group(0)
        alts = SYNONYMS.get(w.lower())
        if not alts or rng.random() >= rate:
            return w
        return _case_like(w, alts[int(rng.integers(len(alts)))])

    return _WORD.sub(sub, text)


def homoglyphs(text: str, rng: Rng, rate: float = 0.05) -> str:
    """Swap each letter that has a look-alike with probability ``rate``."""
    return "".join(HOMOGLYPHS[c] if c in HOMOGLYPHS and rng.random() < rate else c for c in text)


def punctuation(text: str, rng: Rng, rate: float = 0.5) -> str:
    """Swap punctuation marks for others with probability ``rate``."""
    out = []
    for c in text:
        alts = PUNCTUATION.get(c)
        if alts and rng.random() < rate:
            c = alts[int(rng.integers(len(alts)))]
        out.append(c)
    return "".join(out)


def paraphrase(text: str, rng: Rng, *, rate: float = 0.5) -> str:
    """A cheap paraphrase: synonyms at ``rate``, punctuation at ``rate / 2``, a few
    homoglyphs (``rate / 25``)."""
    return homoglyphs(punctuation(synonyms(text, rng, rate), rng, rate / 2), rng, rate / 25)


def substitute_words(text: str, rate: float, pool: Sequence[str], rng: Rng) -> str:
    """Replace ``rate`` of the space-separated words with random words from ``pool``."""
    words = text.split(" ")
    k = round(rate * len(words))
    for i in rng.choice(len(words), size=k, replace=False):
        words[i] = pool[int(rng.integers(len(pool)))]
    return " ".join(words)


def substitute_chars(text: str, rate: float, rng: Rng) -> str:
    """Replace ``rate`` of the characters with random lower-case letters or spaces."""
    chars = list(text)
    k = round(rate * len(chars))
    letters = "abcdefghijklmnopqrstuvwxyz "
    for i in rng.choice(len(chars), size=k, replace=False):
        chars[i] = letters[int(rng.integers(len(letters)))]
    return "".join(chars)


def strip_invisible(text: str) -> str:
    """Without zero-width and bidirectional format characters (:data:`ZERO_WIDTH`)."""
    return ZERO_WIDTH.sub("", text)


# ------------------------------------------------------------------------ plain-text copy
_FRONT = re.compile(r"\A\ufeff?---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^```.*$", re.M), ""),  # code fences
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: their text
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.M), ""),  # headings
    (re.compile(r"^[ \t]{0,3}(?:>[ \t]?)+", re.M), ""),  # block quotes
    (re.compile(r"^[ \t]*[-*+][ \t]+", re.M), ""),  # bullets
    (re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # emphasis, code
    (re.compile(r"<!--.*?-->", re.S), ""),  # comments
    (re.compile(r"<[^>\n]+>"), ""),  # inline HTML tags
)


def split_front_matter(text: str) -> tuple[str, str]:
    """(front matter including its fences, body) of a Markdown text ("" when none)."""
    m = _FRONT.match(text)
    return (m.group(0), text[m.end() :]) if m else ("", text)


def markdown_to_plain(text: str) -> str:
    _, body = split_front_matter(text)
    for pattern, repl in _MD_RULES:
        body = pattern.sub(repl, body)
    return body


class _TextOnly(HTMLParser):
    SKIP = frozenset({"head", "script", "style", "template", "noscript"})
    BLOCK = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.depth += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.depth = max(0, self.depth - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.parts.append(data)


def html_to_plain(text: str) -> str:
    p = _TextOnly()
    p.feed(text)
    p.close()
    return "".join(p.parts)


def copy_paste(text: str, fmt: str = "text") -> str:
    """What a copy of the rendered text through a plain-text clipboard keeps: no front
    matter or markup (``fmt``: text, markdown, html), no invisible format characters,
    non-breaking spaces as spaces, NFC, trimmed lines, at most one blank line in a row."""
    if fmt == "markdown":
        text = markdown_to_plain(text)
    elif fmt == "html":
        text = html_to_plain(text)
    text = unicodedata.normalize("NFC", strip_invisible(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return out + "\n"


# ----------------------------------------------------------------------------- file I/O
_TAG = re.compile(
    r"(<!--.*?-->|<script\b.*?</script\s*>|<style\b.*?</style\s*>|<[^>]*>)", re.S | re.I
)


def text_format(path: Path, text: str) -> str:
    """``markdown``, ``html`` or ``text`` (by extension, then content)."""
    ext = path.suffix.lower()
    if ext in (".md", ".markdown", ".mdown"):
        return "markdown"
    if ext in (".html", ".htm", ".xhtml"):
        return "html"
    if ext in (".txt", ".text", ""):
        return "text"
    head = text.lstrip()[:100].lower()
    if head.startswith(("<!doctype html", "<html")):
        return "html"
    raise AttackError(f"text attacks handle plain text, Markdown and HTML, not {ext} files")


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AttackError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def edit_visible(text: str, fmt: str, edit: Callable[[str], str]) -> str:
    """``edit`` applied to the visible text only (Markdown body, HTML text between tags)."""
    if fmt == "markdown":
        front, body = split_front_matter(text)
        return front + edit(body)
    if fmt == "html":
        parts = _TAG.split(text)
        return "".join(
            p if i % 2 else html.escape(edit(html.unescape(p)), quote=False)
            for i, p in enumerate(parts)
        )
    return edit(text)


def _run_edit(src: Path, base: Path, rng: Rng, *, _memory: Any, **p: Any) -> Path:
    text = read_text(src)
    fmt = text_format(src, text)
    out = edit_visible(text, fmt, lambda t: _memory(t, rng, **p))
    ext = src.suffix or ".txt"
    return write_atomic(base.with_name(base.name + ext), out.encode("utf-8"))


def edit_attack(
    attack_id: str, description: str, memory: Any, *, family: str = "edit", **params: Any
) -> Attack:
    """A text attack from ``memory(text, rng, **params)``; on files it edits the visible text."""

    def run(src: Path, base: Path, rng: Rng, **p: Any) -> Path:
        return _run_edit(src, base, rng, _memory=memory, **p)

    return Attack(attack_id, "text", description, run, params, memory, family, FORMATS)


def _m_synonyms(text: str, rng: Rng, *, rate: float = 0.3, **_: Any) -> str:
    return synonyms(text, rng, rate)


def _m_homoglyphs(text: str, rng: Rng, *, rate: float = 0.05, **_: Any) -> str:
    return homoglyphs(text, rng, rate)


def _m_punctuation(text: str, rng: Rng, *, rate: float = 0.5, **_: Any) -> str:
    return punctuation(text, rng, rate)


def _m_paraphrase(text: str, rng: Rng, *, rate: float = 0.5, **_: Any) -> str:
    return paraphrase(text, rng, rate=rate)


def _m_words(text: str, rng: Rng, *, rate: float = 0.1, **_: Any) -> str:
    pool = sorted({w for w in text.split() if w.isalpha()}) or ["word"]
    return substitute_words(text, rate, pool, rng)


def _m_chars(text: str, rng: Rng, *, rate: float = 0.05, **_: Any) -> str:
    return substitute_chars(text, rate, rng) if text else text


def _m_copy_paste(text: str, rng: Rng, *, fmt: str = "text", **_: Any) -> str:
    return copy_paste(text, fmt)


def _run_copy_paste(src: Path, base: Path, rng: Rng, **_: Any) -> Path:
    text = read_text(src)
    out = copy_paste(text, text_format(src, text))
    return write_atomic(base.with_name(base.name + ".txt"), out.encode("utf-8"))


ATTACKS = AttackSet(
    "synthlabel-text",
    (
        Attack(
            "text.copy_paste", "text",
            "copy the rendered text and paste it as plain text (.txt): front matter, markup "
            "and zero-width characters gone",
            _run_copy_paste, {}, _m_copy_paste, "metadata", FORMATS,
        ),
        edit_attack(
            "text.synonyms", "30 % of the words with a synonym in the table swapped",
            _m_synonyms, rate=0.3,
        ),
        edit_attack(
            "text.homoglyphs", "5 % of the letters with a look-alike swapped (Cyrillic, Greek)",
            _m_homoglyphs, rate=0.05,
        ),
        edit_attack(
            "text.punctuation", "half the punctuation swapped (full-width, dashes, quotes)",
            _m_punctuation, rate=0.5,
        ),
        edit_attack(
            "text.paraphrase", "synonyms (50 %), punctuation (25 %) and homoglyphs (2 %)",
            _m_paraphrase, rate=0.5, family="composite",
        ),
        edit_attack(
            "text.words10", "10 % of the words replaced by other words of the text",
            _m_words, rate=0.1,
        ),
        edit_attack(
            "text.chars5", "5 % of the characters replaced by random letters",
            _m_chars, rate=0.05,
        ),
    ),
)  # fmt: skip
