"""The attack registry: built-in and third-party attacks through the entry-point group
``synthlabel.attacks``.

An entry point names an :class:`~synthlabel.assess.attacks.base.Attack` or an
:class:`~synthlabel.assess.attacks.base.AttackSet` (several attacks). A third-party package
declares, in its ``pyproject.toml``::

    [project.entry-points."synthlabel.attacks"]
    my-attacks = "my_package.attacks:ATTACKS"

Attack ids are ``<kind>.<name>``; the first plug-in to claim an id keeps it (built-ins first).
"""

from __future__ import annotations

from synthlabel.assess.attacks.base import KINDS, Attack, AttackSet
from synthlabel.errors import SynthlabelError
from synthlabel.plugins import PluginPoint

ENTRY_POINT_GROUP = "synthlabel.attacks"

_BUILTIN: tuple[str, ...] = (
    "synthlabel.assess.attacks.image:ATTACKS",
    "synthlabel.assess.attacks.audio:ATTACKS",
    "synthlabel.assess.attacks.video:ATTACKS",
    "synthlabel.assess.attacks.text:ATTACKS",
)

_point: PluginPoint[Attack | AttackSet] = PluginPoint(
    ENTRY_POINT_GROUP,
    _BUILTIN,
    lambda obj: isinstance(obj, Attack | AttackSet),
    kind="attack",
)

#: Named selections of attacks (``--suite``). ``all`` is every registered attack.
SUITES: dict[str, tuple[str, ...]] = {
    "default": (
        "image.strip", "image.jpeg70", "image.jpeg50", "image.resize0.5", "image.crop80",
        "image.rotate3", "image.hflip", "image.screenshot", "image.overlay",
        "audio.strip", "audio.mp3_64k", "audio.aac_64k", "audio.opus_32k",
        "audio.resample8k", "audio.speed1.05", "audio.noise20",
        "video.strip", "video.h264_crf28", "video.h265_crf28", "video.scale_half",
        "video.trim",
        "text.copy_paste", "text.synonyms", "text.homoglyphs", "text.punctuation",
        "text.paraphrase",
    ),
    "quick": (
        "image.strip", "image.jpeg70", "image.screenshot",
        "audio.strip", "audio.mp3_64k", "audio.speed1.05",
        "video.strip", "video.h264_crf28",
        "text.copy_paste", "text.paraphrase",
    ),
}  # fmt: skip


_runtime: dict[str, Attack] = {}


class UnknownAttack(SynthlabelError):
    """No attack (or suite) with that name."""


def _flatten() -> dict[str, Attack]:
    out: dict[str, Attack] = {}
    for item in _point.all():
        for attack in item.attacks if isinstance(item, AttackSet) else (item,):
            if isinstance(attack, Attack):
                out.setdefault(attack.id, attack)
    out.update(_runtime)
    return out


def attacks(kind: str | None = None) -> list[Attack]:
    """Registered attacks (of one media kind), in registration order."""
    return [a for a in _flatten().values() if kind is None or a.kind == kind]


def get(attack_id: str) -> Attack:
    found = _flatten().get(attack_id)
    if found is None:
        known = ", ".join(_flatten()) or "none installed"
        raise UnknownAttack(f"no attack {attack_id!r} (known: {known})")
    return found


def suite(name: str) -> list[Attack]:
    """The attacks of a suite (``default``, ``quick``, ``all``)."""
    if name == "all":
        return attacks()
    if name not in SUITES:
        raise UnknownAttack(f"no suite {name!r} (known: {', '.join([*SUITES, 'all'])})")
    reg = _flatten()
    return [reg[i] for i in SUITES[name] if i in reg]


def select(ids: str | None = None, suite_name: str = "default") -> list[Attack]:
    """Attacks named in a comma-separated list (``image.jpeg70,audio``: a bare kind means
    every attack of that kind), or the suite's when ``ids`` is empty."""
    if not ids or not ids.strip():
        return suite(suite_name)
    chosen: dict[str, Attack] = {}
    for part in (p.strip() for p in ids.split(",")):
        if not part:
            continue
        if part in KINDS:
            chosen.update((a.id, a) for a in attacks(part))
        else:
            a = get(part)
            chosen[a.id] = a
    return list(chosen.values())


def register(attack: Attack, *, replace: bool = False) -> None:
    """Add an attack at run time (tests, notebooks); packages use the entry point."""
    if attack.id in _flatten() and not replace:
        raise ValueError(f"attack {attack.id!r} is already registered")
    _runtime[attack.id] = attack


def unregister(attack_id: str) -> None:
    """Remove an attack added with :func:`register`."""
    _runtime.pop(attack_id, None)


def load_errors() -> list[str]:
    return _point.load_errors()
