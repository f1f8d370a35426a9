"""Attacks on labelled content, shared by ``synthlabel drill`` and the benchmarks.

Each attack is a named, parameterised, seeded transformation of one media kind (image,
audio, video, text): re-encodes, resizes, crops, rotations, flips, screenshots, overlays,
metadata stripping, audio codecs, resampling, speed and noise, video re-encodes, scaling and
trims, text substitutions and copy-paste through plain text. See :mod:`.base` for the
contract and :mod:`.registry` for the plug-in group ``synthlabel.attacks``; docs/drill.md
lists them all.
"""

from synthlabel.assess.attacks.base import (
    KINDS,
    Attack,
    AttackError,
    AttackKind,
    AttackSet,
    rng_for,
)
from synthlabel.assess.attacks.registry import (
    SUITES,
    UnknownAttack,
    attacks,
    get,
    load_errors,
    register,
    select,
    suite,
    unregister,
)

__all__ = [
    "KINDS",
    "SUITES",
    "Attack",
    "AttackError",
    "AttackKind",
    "AttackSet",
    "UnknownAttack",
    "attacks",
    "get",
    "load_errors",
    "register",
    "rng_for",
    "select",
    "suite",
    "unregister",
]
