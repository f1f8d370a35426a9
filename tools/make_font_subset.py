#!/usr/bin/env python3
"""Rebuild the font shipped in ``src/synthlabel/fonts`` (reproducible, offline).

Source: Noto Sans CJK SC Bold, face 2 of ``NotoSansCJK-Bold.ttc`` from the Debian package
``fonts-noto-cjk`` (1:20220127+repack1-1, font version 2.004, SIL Open Font License 1.1).
The subset keeps printable ASCII plus the characters of ``synthlabel.label.fonts.SUBSET_TEXT``
(the usual GB 45438 label wordings and CJK punctuation), keeps hinting and the layout
features, and renames the family to ``synthlabel.label.fonts.SHIPPED_FAMILY`` so that it can
never be mistaken for the complete font. The copyright, trademark and licence name records of
the source are kept.

Usage::

    .venv/bin/python tools/make_font_subset.py            # writes the shipped subset
    .venv/bin/python tools/make_font_subset.py --check    # rebuilds in memory, compares bytes

Needs fontTools (a dev dependency; the library itself does not import it). The output is
byte-for-byte reproducible from the same source file and fontTools version.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from synthlabel.label.fonts import (  # noqa: E402
    SHIPPED_FAMILY,
    SHIPPED_FONT_FILE,
    SUBSET_TEXT,
)

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
SOURCE_FACE = 2  # Noto Sans CJK SC Bold
#: SHA-256 of the Debian 1:20220127+repack1-1 file the shipped subset was made from.
SOURCE_SHA256 = "faa5f3656a78b2e2d450d27fe8382c778bc2b6bb5ea29c986664a6a435056ceb"
OUTPUT = ROOT / "src" / "synthlabel" / "fonts" / SHIPPED_FONT_FILE
PS_NAME = "NotoSansCJKscLabelSubset-Bold"


def build(source: Path = SOURCE) -> bytes:
    font = TTFont(str(source), fontNumber=SOURCE_FACE, recalcTimestamp=False)
    options = subset.Options()
    options.layout_features = ["*"]  # keep kerning, proportional CJK punctuation, ...
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.recalc_timestamp = False
    options.hinting = True
    options.drop_tables = [*options.drop_tables, "BASE"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=SUBSET_TEXT)
    subsetter.subset(font)

    name = font["name"]
    version = name.getDebugName(5) or ""
    renames = {
        1: SHIPPED_FAMILY,
        3: f"{version.split(';')[0]};synthlabel;{PS_NAME}",
        4: f"{SHIPPED_FAMILY} Bold",
        6: PS_NAME,
        16: SHIPPED_FAMILY,
        17: "Bold",
    }
    for record in list(name.names):
        if record.nameID in renames:
            name.removeNames(nameID=record.nameID)
    for name_id, value in renames.items():
        if name_id in (16, 17):
            continue  # not needed: family 1 already is the full family name
        name.setName(value, name_id, 3, 1, 0x409)
        name.setName(value, name_id, 1, 0, 0)
    cff = font["CFF "].cff
    cff.fontNames = [PS_NAME]
    top = cff.topDictIndex[0]
    top.FullName = f"{SHIPPED_FAMILY} Bold"
    top.FamilyName = SHIPPED_FAMILY

    out = io.BytesIO()
    font.save(out, reorderTables=True)
    return out.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--output", type=Path, default=OUTPUT)
    ap.add_argument("--check", action="store_true", help="compare with the shipped file")
    args = ap.parse_args()
    if not args.source.is_file():
        print(f"{args.source} not found: install Debian's fonts-noto-cjk", file=sys.stderr)
        return 2
    digest = hashlib.sha256(args.source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        print(
            f"warning: {args.source} sha256 {digest} differs from the recorded source "
            f"{SOURCE_SHA256}; the output will differ from the shipped file",
            file=sys.stderr,
        )
    data = build(args.source)
    if args.check:
        same = args.output.is_file() and args.output.read_bytes() == data
        print(f"{args.output}: {'identical' if same else 'DIFFERS'} ({len(data)} bytes)")
        return 0 if same else 1
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes, {len(set(SUBSET_TEXT))} characters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
