"""``sl-txt-1``: a keyed green-list watermark for LLM text, detected from the text alone.

How it works (a keyed variant of Kirchenbauer et al., "A Watermark for Large Language
Models", 2023):

* **Green lists.** Before each generation step the previous ``context`` token ids (``h``,
  1..4) are hashed with the key: ``seed = HMAC-SHA256(key, "sl-txt-1/ctx" || ids)``. A
  vocabulary token ``t`` is *green* for that context when a 64-bit mix of ``seed`` and a keyed
  per-token salt falls below ``gamma * 2**32`` (top 32 bits), so every token is green with
  probability ``gamma`` independently of the others and of every other context. Whoever lacks
  the key cannot tell green from red.
* **Embedding** (:mod:`synthlabel.watermark.text_hf`): a transformers ``LogitsProcessor`` adds
  ``delta`` to the logits of the green tokens. Greedy, sampling and beam search all keep working;
  where the model is sure (low entropy) the bias changes nothing, where it hesitates it tips
  the choice to a green token. The mask is computed by :meth:`TextWatermarker.green_mask`, the
  same numpy function the detector uses, so generator and detector cannot drift apart.
* **Detection** re-tokenises the text with the generating model's tokenizer (or the built-in
  byte tokenizer), walks the tokens after the first ``h``, and counts how many are green for
  their context. Each distinct ``(context, token)`` pair is scored once: repeated phrases
  ("the the the", copied paragraphs) add nothing, so repetition cannot inflate the score.
  Under the null hypothesis (text written without the key) the greens among ``n`` distinct
  pairs are exactly Binomial(n, gamma) because the green test is a keyed hash of each pair; the
  reported p-value is the exact binomial tail ``P[X >= green]`` (computed in log space, so
  ``details["log10_p"]`` stays finite far below float underflow), with the one-proportion
  z-score in ``details``. No search is done, so no multiple-testing correction is needed.

Calibration on real text, and why the context is 4 bytes by default. The binomial law above
holds for a *fixed text and a random key*. For a fixed key, texts are not independent draws:
every English window contains the same common n-grams ("e ", "th", " the"), whose colours the
key fixes once for all texts. When the context is short and the vocabulary small, those shared
pairs are a large part of every window and the key shifts every window's z-score by a common
offset: with the byte tokenizer and ``context=1`` the offset has a standard deviation of 0.6
over keys (up to +1.6 for an unlucky key, measured on ~2700 windows of stdlib docstrings,
licences and specs), and a z offset of 1.6 turns the nominal 1e-6 false-positive rate into
~1e-3; ``context=2`` still gives 0.28, and a docstring window reached p = 2e-7 under a test
key. Four bytes of context (roughly the context of one BPE token) bring the offset down to
0.19, two BPE tokens (vocabulary 5000) to 0.07; so
:func:`default_context` picks ``4`` for byte-level tokenizers (vocabulary <= 512) and ``2``
otherwise. A longer context is slightly less robust to edits (one substituted word spoils
the scores of the ``context`` tokens after it too; bench/results/wm_text.md measures it).

Why a green list rather than a distortion-free scheme (Gumbel / tournament sampling): the
green list is a pure logits edit, so it composes with every decoding strategy the caller
already uses (greedy, top-k/p, beam search, repetition penalties), needs no control of the
sampler's randomness, and its detector is a closed-form, exactly calibrated binomial test. The
price is a small, measured quality cost (bench/results/wm_text.md reports the perplexity
change), where distortion-free schemes cost nothing in expectation but fail with greedy or
beam decoding and tie the detector to the sampler.

Keys. The mark is *zero-bit*: it says "generated under this key", nothing more. The key is a
byte string, normally the provider's own secret (then only the provider, or whoever it
shares the key with, can detect), or a record's watermark key
(:func:`synthlabel.watermark.payload.key_for_record`) to tie one generation to one AIGC record
(:meth:`TextWatermarker.for_record`; detection then confirms a *given* record, it cannot
search for one). :data:`DEFAULT_KEY` is a
public key so that :data:`ALGORITHM` can detect text marked with the defaults without
configuration; a public key also lets anyone remove or forge the mark, so providers who need
the mark to be private use their own secret.

This module imports neither torch nor transformers; detection needs only numpy.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    Detection,
    MediaKind,
    WatermarkError,
    absent,
)
from synthlabel.watermark.payload import key_for_record

if TYPE_CHECKING:  # pragma: no cover - typing only
    from synthlabel.model.aigc import AIGCRecord
    from synthlabel.watermark.text_hf import GreenListLogitsProcessor

ALGORITHM_ID = "sl-txt-1"

#: Public default key: text marked with it is detectable by anyone (and forgeable by anyone).
DEFAULT_KEY = b"synthlabel sl-txt-1 public key"
DEFAULT_GAMMA = 0.25
DEFAULT_DELTA = 3.0
#: Context width (tokens hashed into the green-list seed) for word-piece tokenizers ...
DEFAULT_CONTEXT = 2
#: ... and for byte-level tokenizers (vocabulary <= :data:`BYTE_LEVEL_VOCAB`), whose tokens are
#: short: four bytes keep the common-n-gram bias of a fixed key small (see the module doc).
DEFAULT_CONTEXT_BYTES = 4
BYTE_LEVEL_VOCAB = 512
#: Fewest distinct (context, token) pairs a verdict is based on.
DEFAULT_MIN_TOKENS = 16

_MASK64 = (1 << 64) - 1
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@runtime_checkable
class TextTokenizer(Protocol):
    """Anything that turns text into token ids: an HF tokenizer, ``tokenizers.Tokenizer``, ..."""

    def encode(self, text: str, *args: Any, **kwargs: Any) -> Any: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens (ids 0..255): the default, needs no vocabulary or download.

    Text that is not valid UTF-8 when encoded (lone surrogates) is encoded with
    ``surrogatepass`` so that every ``str`` has a token sequence. It is the tokenizer to use
    with byte-level models; for any other model pass the model's own tokenizer.
    """

    vocab_size = 256

    def encode(self, text: str, *args: Any, **kwargs: Any) -> list[int]:
        return list(text.encode("utf-8", errors="surrogatepass"))

    def decode(self, ids: Sequence[int], *args: Any, **kwargs: Any) -> str:
        return bytes(int(i) & 0xFF for i in ids).decode("utf-8", errors="replace")


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens, for HF, ``tokenizers`` and plain encoders."""
    try:
        out = tokenizer.encode(text, add_special_tokens=False)
    except TypeError:
        out = tokenizer.encode(text)
    ids = getattr(out, "ids", out)  # tokenizers.Encoding
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return [int(i) for i in ids]


def vocab_size_of(tokenizer: Any) -> int | None:
    """The vocabulary size of an HF / ``tokenizers`` / own tokenizer, or None if it has none."""
    for attr in ("vocab_size", "get_vocab_size"):
        try:
            value = getattr(tokenizer, attr, None)
            if callable(value):
                value = value()
            if value is not None:
                return int(value)
        except Exception:  # an odd tokenizer: fall back to the word-piece default
            continue
    return None


def default_context(tokenizer: Any = None) -> int:
    """The default context width for ``tokenizer``: 4 for byte-level vocabularies, else 2."""
    if tokenizer is None or isinstance(tokenizer, ByteTokenizer):
        return DEFAULT_CONTEXT_BYTES
    size = vocab_size_of(tokenizer)
    return (
        DEFAULT_CONTEXT_BYTES if size is not None and size <= BYTE_LEVEL_VOCAB else DEFAULT_CONTEXT
    )


def _mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finaliser (bijective avalanche mix), in place on a uint64 array."""
    x ^= x >> np.uint64(30)
    x *= _C1
    x ^= x >> np.uint64(27)
    x *= _C2
    x ^= x >> np.uint64(31)
    return x


def _salts(salt_seed: int, ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Keyed 64-bit salt of each token id (a function of the key and the id only)."""
    with np.errstate(over="ignore"):
        return _mix64(np.uint64(salt_seed) + (ids + np.uint64(1)) * _GOLDEN)


@lru_cache(maxsize=16)
def _vocab_salts(salt_seed: int, vocab_size: int) -> npt.NDArray[np.uint64]:
    """:func:`_salts` of the whole vocabulary (read-only; cached per key and size)."""
    out = _salts(salt_seed, np.arange(vocab_size, dtype=np.uint64))
    out.setflags(write=False)
    return out


def _binom_logsf(k: int, n: int, p: float) -> float:
    """Natural log of P[X >= k] for X ~ Binomial(n, p), exact and stable for any n."""
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    ks = np.arange(k, n, dtype=np.float64)
    # log pmf(k) then the ratio pmf(j+1)/pmf(j) = (n-j)/(j+1) * p/(1-p), summed in log space.
    log_first = (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    steps = np.log(n - ks) - np.log(ks + 1.0) + math.log(p) - math.log1p(-p)
    logs = np.concatenate(([log_first], log_first + np.cumsum(steps)))
    m = float(logs.max())
    return min(0.0, m + math.log(float(np.exp(logs - m).sum())))


@dataclass(frozen=True)
class TextScore:
    """The evidence of one text: distinct pairs scored, greens among them, z and p."""

    tokens: int  # token ids in the text
    scored: int  # distinct (context, token) pairs scored
    green: int  # green pairs among them
    repeats: int  # pairs skipped because they had been scored already
    gamma: float

    @property
    def green_fraction(self) -> float:
        return self.green / self.scored if self.scored else 0.0

    @property
    def z(self) -> float:
        if not self.scored:
            return 0.0
        n, g = self.scored, self.gamma
        return (self.green - g * n) / math.sqrt(n * g * (1.0 - g))

    @property
    def log10_p(self) -> float:
        """log10 of the exact binomial tail (finite far below float underflow)."""
        return _binom_logsf(self.green, self.scored, self.gamma) / math.log(10.0)

    @property
    def p_value(self) -> float:
        return float(10.0**self.log10_p)


class TextWatermarker:
    """The keyed green-list scheme: a logits processor for generation and its detector.

    ``key``: the secret (bytes, at least one); ``tokenizer``: what maps text to the model's
    token ids (default :class:`ByteTokenizer`); ``gamma``: green fraction of the vocabulary;
    ``delta``: logit bias added to green tokens; ``context``: how many previous tokens seed the
    green list (default :func:`default_context` of the tokenizer: 4 for bytes, 2 for word
    pieces; shorter is more robust to edits but less well calibrated on real text, longer is
    harder to learn from many outputs);
    ``min_tokens``: fewest distinct scored tokens a detection is based on.
    """

    def __init__(
        self,
        key: bytes = DEFAULT_KEY,
        *,
        tokenizer: Any = None,
        gamma: float = DEFAULT_GAMMA,
        delta: float = DEFAULT_DELTA,
        context: int | None = None,
        min_tokens: int = DEFAULT_MIN_TOKENS,
    ) -> None:
        if not isinstance(key, bytes | bytearray) or not key:
            raise WatermarkError("text watermark key must be non-empty bytes")
        if not 0.0 < gamma < 1.0:
            raise WatermarkError(f"green fraction gamma={gamma} must be between 0 and 1")
        if not (math.isfinite(delta) and delta >= 0.0):
            raise WatermarkError(f"bias delta={delta} must be a finite number >= 0")
        if context is None:
            context = default_context(tokenizer)
        if not 1 <= context <= 8:
            raise WatermarkError(f"context={context} tokens is out of range (1..8)")
        if min_tokens < 1:
            raise WatermarkError(f"min_tokens={min_tokens} must be at least 1")
        self.key = bytes(key)
        self.tokenizer: Any = tokenizer if tokenizer is not None else ByteTokenizer()
        self.gamma = float(gamma)
        self.delta = float(delta)
        self.context = int(context)
        self.min_tokens = int(min_tokens)
        self._threshold = np.uint64(min(int(self.gamma * 2**32), 2**32 - 1))
        salt = hmac.new(self.key, b"sl-txt-1/token-salt", hashlib.sha256).digest()
        self._salt_seed = int.from_bytes(salt[:8], "little")
        self._ctx_mac = hmac.new(self.key, b"sl-txt-1/ctx", hashlib.sha256)

    @classmethod
    def for_record(cls, record: AIGCRecord, **options: Any) -> TextWatermarker:
        """A watermarker keyed with ``record``'s watermark key (see :mod:`.payload`)."""
        return cls(key_for_record(record), **options)

    # -- the green list ---------------------------------------------------------------------

    def context_seed(self, context_ids: Sequence[int]) -> int:
        """The 64-bit keyed seed of a context (the last ``context`` ids before a token)."""
        mac = self._ctx_mac.copy()
        for i in context_ids:
            mac.update(int(i).to_bytes(8, "little", signed=True))
        return int.from_bytes(mac.digest()[:8], "little")

    def _green_from_seeds(
        self, seeds: npt.NDArray[np.uint64], tokens: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.bool_]:
        with np.errstate(over="ignore"):
            x = _mix64(seeds ^ _salts(self._salt_seed, tokens))
        return (x >> np.uint64(32)) < self._threshold

    def green_mask(
        self, contexts: Sequence[Sequence[int]], vocab_size: int
    ) -> npt.NDArray[np.bool_]:
        """Green tokens (shape ``(len(contexts), vocab_size)``) for each context row.

        Vectorised over the vocabulary; the logits processor calls it once per generation step
        with the last ``context`` ids of every sequence in the batch.
        """
        seeds = np.array([self.context_seed(c) for c in contexts], dtype=np.uint64)
        salts = _vocab_salts(self._salt_seed, vocab_size)
        with np.errstate(over="ignore"):
            x = _mix64(seeds[:, None] ^ salts[None, :])
        return (x >> np.uint64(32)) < self._threshold

    def is_green(self, context_ids: Sequence[int], token: int) -> bool:
        """Is ``token`` green after ``context_ids`` (exactly what :meth:`green_mask` says)?"""
        if token < 0:
            return False
        seeds = np.array([self.context_seed(context_ids)], dtype=np.uint64)
        tok = np.array([token], dtype=np.uint64)
        return bool(self._green_from_seeds(seeds, tok)[0])

    # -- detection --------------------------------------------------------------------------

    def score_ids(self, ids: Sequence[int]) -> TextScore:
        """Count the green distinct ``(context, token)`` pairs of a token sequence."""
        h = self.context
        seen: set[tuple[int, ...]] = set()
        seeds: list[int] = []
        toks: list[int] = []
        repeats = 0
        for i in range(h, len(ids)):
            pair = tuple(int(t) for t in ids[i - h : i + 1])
            if pair in seen:
                repeats += 1
                continue
            seen.add(pair)
            seeds.append(self.context_seed(pair[:-1]))
            toks.append(pair[-1])
        green = 0
        if toks:
            tok_arr = np.array(toks, dtype=np.int64)
            valid = tok_arr >= 0
            safe = np.where(valid, tok_arr, 0).astype(np.uint64)
            g = self._green_from_seeds(np.array(seeds, dtype=np.uint64), safe)
            green = int(np.count_nonzero(g & valid))
        return TextScore(len(ids), len(toks), green, repeats, self.gamma)

    def needed_tokens(self, threshold: float = DEFAULT_P_THRESHOLD) -> int:
        """Fewest distinct scored tokens for a verdict: ``min_tokens``, and never fewer than an
        all-green text needs to reach ``threshold`` (``gamma**n <= threshold``)."""
        reach = math.ceil(math.log(threshold) / math.log(self.gamma)) if 0 < threshold < 1 else 1
        return max(self.min_tokens, reach)

    def detect(
        self, text: str | Sequence[int], *, threshold: float = DEFAULT_P_THRESHOLD
    ) -> Detection:
        """Detect the mark in ``text`` (a ``str``, tokenised here, or token ids).

        Never raises for a ``str`` or id sequence: too-short text, tokenizer failures and
        wrong types come back as an absent detection with a ``reason``.
        """
        try:
            if isinstance(text, str):
                ids = encode_text(self.tokenizer, text)
            elif isinstance(text, bytes | bytearray):
                return absent(ALGORITHM_ID, "text must be str or token ids, not bytes")
            else:
                ids = [int(t) for t in text]
        except Exception as exc:  # a detector reports, it does not raise
            return absent(ALGORITHM_ID, f"could not tokenise the text: {exc}")
        score = self.score_ids(ids)
        details = self._details(score)
        need = self.needed_tokens(threshold)
        if score.scored < need:
            short = f"too short: {score.scored} scored tokens, need {need}"
            return absent(ALGORITHM_ID, short, **details)
        p = score.p_value
        present = p <= threshold
        reason: str | None = None
        if not present:
            reason = f"p-value {p:.3g} above the threshold {threshold:g}"
        return Detection(
            ALGORITHM_ID,
            present,
            p,
            max(0.0, min(1.0, 1.0 - p)),
            None,
            0,
            None,
            reason,
            details,
        )

    def _details(self, score: TextScore) -> dict[str, Any]:
        return {
            "tokens": score.tokens,
            "scored": score.scored,
            "green": score.green,
            "repeats_ignored": score.repeats,
            "green_fraction": round(score.green_fraction, 4),
            "z": round(score.z, 3),
            "log10_p": round(score.log10_p, 3),
            "gamma": self.gamma,
            "context": self.context,
        }

    # -- generation -------------------------------------------------------------------------

    def logits_processor(self) -> GreenListLogitsProcessor:
        """A transformers ``LogitsProcessor`` that embeds this mark (needs torch+transformers).

        ``model.generate(..., logits_processor=LogitsProcessorList([wm.logits_processor()]))``.
        """
        try:
            from synthlabel.watermark.text_hf import GreenListLogitsProcessor
        except ImportError as exc:
            raise WatermarkError(
                "the text watermark logits processor needs torch and transformers: "
                "pip install 'synthlabel[text-watermark]'"
            ) from exc
        return GreenListLogitsProcessor(self)


class GreenListText:
    """The registered ``sl-txt-1`` algorithm: :class:`TextWatermarker` with default settings.

    Defaults: ``detect(text)`` uses :data:`DEFAULT_KEY`, the :class:`ByteTokenizer` (UTF-8
    bytes; the only tokenizer that needs no model files), ``gamma=0.25``, ``delta=3`` and
    ``context=4`` (the byte default of :func:`default_context`). Pass ``key=`` (the provider's
    secret or a record's key), ``tokenizer=`` (the generating model's tokenizer) and the
    generator's ``gamma``/``context`` to detect a provider's mark, or build a
    :class:`TextWatermarker` once and reuse it.
    """

    id = ALGORITHM_ID
    name = "keyed green-list LLM text watermark (zero-bit, logits processor)"
    media_kind: MediaKind = "text"
    payload_bits = 0

    def watermarker(self, key: bytes = DEFAULT_KEY, **options: Any) -> TextWatermarker:
        return TextWatermarker(key, **options)

    def detect(
        self,
        text: str,
        *,
        key: bytes | None = None,
        tokenizer: Any = None,
        threshold: float = DEFAULT_P_THRESHOLD,
        **options: Any,
    ) -> Detection:
        try:
            wm = TextWatermarker(
                key if key is not None else DEFAULT_KEY, tokenizer=tokenizer, **options
            )
        except (WatermarkError, TypeError) as exc:
            return absent(ALGORITHM_ID, f"bad detector settings: {exc}")
        return wm.detect(text, threshold=threshold)


ALGORITHM = GreenListText()

__all__ = [
    "ALGORITHM",
    "ALGORITHM_ID",
    "BYTE_LEVEL_VOCAB",
    "DEFAULT_CONTEXT",
    "DEFAULT_CONTEXT_BYTES",
    "DEFAULT_DELTA",
    "DEFAULT_GAMMA",
    "DEFAULT_KEY",
    "DEFAULT_MIN_TOKENS",
    "ByteTokenizer",
    "GreenListText",
    "TextScore",
    "TextTokenizer",
    "TextWatermarker",
    "default_context",
    "encode_text",
    "vocab_size_of",
]
