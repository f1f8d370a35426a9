"""sl-txt-1: the keyed green-list LLM text watermark.

The detector tests need only numpy and always run; the generation tests build a tiny, randomly
initialised GPT-2 from a config (no download) and are skipped without torch/transformers.
"""

from __future__ import annotations

import glob
import importlib
import math
import pydoc
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from synthlabel.watermark.base import DEFAULT_P_THRESHOLD, TextWatermark, WatermarkError
from synthlabel.watermark.payload import key_for_record
from synthlabel.watermark.text import (
    ALGORITHM,
    DEFAULT_KEY,
    ByteTokenizer,
    TextWatermarker,
    _binom_logsf,
    default_context,
)

KEY = b"provider secret for tests"
STDLIB_DOCS = (
    "json", "csv", "argparse", "collections", "functools", "itertools", "pathlib", "re",
    "subprocess", "threading", "logging", "email", "http.client", "urllib.parse", "zipfile",
    "tarfile", "random", "statistics", "decimal", "fractions", "datetime", "calendar",
    "textwrap", "string", "difflib", "heapq", "bisect", "shutil", "tempfile", "socket",
)  # fmt: skip


def human_text() -> str:
    """Prose written without any key: stdlib docstrings, the project's specs, licences."""
    parts = []
    for path in sorted(
        glob.glob("/work/shared/spec/*.md") + glob.glob("/usr/share/common-licenses/*")
    ):
        with open(path, encoding="utf-8", errors="replace") as fh:
            parts.append(fh.read())
    for name in STDLIB_DOCS:
        mod = importlib.import_module(name)
        parts.append(pydoc.getdoc(mod))
        for attr in sorted(vars(mod))[:60]:
            doc = pydoc.getdoc(getattr(mod, attr))
            if doc and len(doc) > 80:
                parts.append(doc)
    return "\n\n".join(dict.fromkeys(parts))


def windows(ids: list[int], size: int = 200) -> Iterator[list[int]]:
    for start in range(0, len(ids) - size + 1, size):
        yield ids[start : start + size]


def simulate(
    wm: TextWatermarker, n: int, vocab: int, seed: int, *, entropy: float = 1.0
) -> list[int]:
    """Sample ``n`` ids from a random 'model' with the green bias applied (numpy only)."""
    rng = np.random.default_rng(seed)
    ids = [int(rng.integers(vocab))]
    for _ in range(n - 1):
        logits = rng.normal(0.0, 1.0 / entropy, vocab)
        logits[wm.green_mask([ids[-wm.context :]], vocab)[0]] += wm.delta
        p = np.exp(logits - logits.max())
        ids.append(int(rng.choice(vocab, p=p / p.sum())))
    return ids


# -- the detector (numpy only) ----------------------------------------------------------------


def test_algorithm_satisfies_the_text_protocol() -> None:
    assert isinstance(ALGORITHM, TextWatermark)
    assert (ALGORITHM.id, ALGORITHM.media_kind, ALGORITHM.payload_bits) == ("sl-txt-1", "text", 0)


def test_module_imports_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "from synthlabel.watermark.text import ALGORITHM\n"
        "print(ALGORITHM.detect('hello world ' * 20).present)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("text", ["", "hi", "x" * 500, "abc " * 3])
def test_short_or_repetitive_text_is_absent_with_a_reason(text: str) -> None:
    d = ALGORITHM.detect(text)
    assert not d.present and d.p_value == 1.0
    assert d.reason is not None and d.reason.startswith("too short: ")
    assert d.reason.endswith(" scored tokens, need 16")
    assert d.details["scored"] < 16


def test_reason_names_the_counts() -> None:
    d = TextWatermarker(KEY).detect("twelve bytes")  # 12 tokens, 8 after the 4-byte context
    assert d.reason == "too short: 8 scored tokens, need 16"
    d = TextWatermarker(KEY, context=1).detect("twelve bytes")
    assert d.reason == "too short: 11 scored tokens, need 16"


@pytest.mark.parametrize(
    "text", ["\ud800 lone surrogate " * 5, "emoji 😀 " * 30, "\x00" * 100, "中文文本。" * 40]
)
def test_detect_never_raises_on_odd_text(text: str) -> None:
    d = ALGORITHM.detect(text)
    assert not d.present


def test_detect_reports_a_broken_tokenizer() -> None:
    class Broken:
        def encode(self, text: str) -> list[int]:
            raise RuntimeError("boom")

    d = ALGORITHM.detect("some text " * 10, tokenizer=Broken())
    assert not d.present and d.reason is not None and "boom" in d.reason


@pytest.mark.parametrize(
    "kwargs",
    [{"gamma": 0.0}, {"gamma": 1.0}, {"delta": -1.0}, {"delta": math.inf}, {"context": 0}],
)
def test_bad_settings_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(WatermarkError):
        TextWatermarker(KEY, **kwargs)  # type: ignore[arg-type]
    assert not ALGORITHM.detect("a" * 100, **kwargs).present


def test_empty_key_raises() -> None:
    with pytest.raises(WatermarkError, match="non-empty bytes"):
        TextWatermarker(b"")


@pytest.mark.parametrize("context", [1, 2, 4])
def test_green_mask_matches_is_green_and_has_fraction_gamma(context: int) -> None:
    wm = TextWatermarker(KEY, context=context, gamma=0.25)
    ctxs = [[5, 9, 200, 7][:context], [1, 2, 3, 4][:context], [0] * context]
    mask = wm.green_mask(ctxs, 5000)
    assert mask.shape == (3, 5000)
    for row, ctx in zip(mask, ctxs, strict=True):
        assert abs(row.mean() - 0.25) < 0.03
        for t in (0, 1, 17, 4999):
            assert wm.is_green(ctx, t) == bool(row[t])
    assert (mask[0] != mask[1]).mean() > 0.3  # different contexts, different lists
    other = TextWatermarker(b"another key", context=context).green_mask(ctxs, 5000)
    assert (mask != other).mean() > 0.3  # different key, different lists


def test_green_mask_does_not_depend_on_vocab_size() -> None:
    wm = TextWatermarker(KEY)
    assert np.array_equal(wm.green_mask([[3]], 300)[0], wm.green_mask([[3]], 1000)[0, :300])


def test_binomial_tail_is_exact() -> None:
    # P[X >= 3], X ~ Bin(4, 0.25) = 4 * 0.25^3 * 0.75 + 0.25^4
    assert math.isclose(math.exp(_binom_logsf(3, 4, 0.25)), 4 * 0.25**3 * 0.75 + 0.25**4)
    assert _binom_logsf(0, 10, 0.25) == 0.0
    assert _binom_logsf(11, 10, 0.25) == -math.inf
    assert math.isclose(_binom_logsf(1000, 1000, 0.25), 1000 * math.log(0.25), rel_tol=1e-9)


@pytest.fixture(scope="module")
def human_windows() -> list[list[int]]:
    return list(windows(ByteTokenizer().encode(human_text())))


def test_human_text_is_not_detected_with_the_default_settings(
    human_windows: list[list[int]],
) -> None:
    assert len(human_windows) > 700
    for key in (DEFAULT_KEY, KEY):
        wm = TextWatermarker(key)
        assert wm.context == 4
        lp = np.array([wm.score_ids(w).log10_p for w in human_windows])
        assert lp.min() > math.log10(DEFAULT_P_THRESHOLD)
        assert np.mean(lp <= -2) < 0.02  # close to the nominal 1 %
        assert not any(wm.detect(w).present for w in human_windows[:200])


def test_p_values_are_calibrated_over_keys(human_windows: list[list[int]]) -> None:
    # For a fixed text the binomial law holds over keys: pooled p-values are ~uniform. (It is
    # discrete, hence conservative: at most about alpha below alpha.)
    sample = human_windows[::8]
    ps = np.array(
        [TextWatermarker(b"k%d" % k).score_ids(w).p_value for k in range(8) for w in sample]
    )
    assert ps.size > 700
    for alpha in (0.01, 0.05, 0.2):
        assert np.mean(ps <= alpha) < 1.25 * alpha
    assert np.mean(ps <= 0.5) > 0.3


def test_longer_context_shrinks_the_common_ngram_bias_of_a_key(
    human_windows: list[list[int]],
) -> None:
    # A fixed key colours the common n-grams of every window alike; with one byte of context
    # that shifts all windows' z-scores by a key-dependent offset (the reason for context=4).
    sample = human_windows[::6]

    def offset_sd(context: int) -> float:
        means = [
            np.mean([TextWatermarker(b"o%d" % k, context=context).score_ids(w).z for w in sample])
            for k in range(8)
        ]
        return float(np.std(means))

    assert offset_sd(4) < 0.3 < offset_sd(1)


def test_repetition_cannot_inflate_the_score() -> None:
    wm = TextWatermarker(KEY, context=1)
    green = next(t for t in range(256) if wm.is_green([65], t) and wm.is_green([t], 65))
    ids = [65, green] * 500  # 1000 tokens, every one green, but only two distinct pairs
    d = wm.detect(ids)
    assert not d.present
    assert d.details["scored"] == 2 and d.details["repeats_ignored"] == 997


def test_simulated_generation_is_detected_only_with_its_key() -> None:
    wm = TextWatermarker(KEY, context=2, delta=2.0)
    for seed in range(5):
        ids = simulate(wm, 200, 1000, seed)
        d = wm.detect(ids)
        assert d.present and d.p_value <= DEFAULT_P_THRESHOLD, d.details
        assert d.details["z"] > 6
        assert not TextWatermarker(b"wrong key", context=2).detect(ids).present
        assert not TextWatermarker(KEY, context=1).detect(ids).present  # wrong context width


def test_unbiased_generation_is_not_detected() -> None:
    wm = TextWatermarker(KEY, delta=0.0)
    for seed in range(5):
        assert not TextWatermarker(KEY).detect(simulate(wm, 200, 1000, seed)).present


def test_detection_survives_some_token_substitution() -> None:
    wm = TextWatermarker(KEY, context=1)
    rng = np.random.default_rng(7)
    ids = simulate(wm, 200, 1000, 3)
    edited = list(ids)
    for i in rng.choice(len(ids), size=30, replace=False):
        edited[i] = int(rng.integers(1000))
    assert wm.detect(edited).present
    assert wm.detect(edited).details["z"] < wm.detect(ids).details["z"]


# -- generation with a tiny random model (torch + transformers) --------------------------------


@pytest.fixture(scope="module")
def tiny_model() -> Iterator[object]:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only contend
    torch.manual_seed(1234)
    cfg = transformers.GPT2Config(
        vocab_size=256, n_positions=256, n_embd=64, n_layer=2, n_head=2,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    model = transformers.GPT2LMHeadModel(cfg).eval()
    yield model
    torch.set_num_threads(threads)


PRINTABLE_ONLY = [i for i in range(256) if not 32 <= i < 127]  # keep the bytes valid text


def generate(model: object, wm: TextWatermarker | None, *, sample: bool, n: int = 200) -> list[str]:
    import torch
    from transformers import LogitsProcessorList

    prompt = torch.tensor([list(b"Once upon a time"), list(b"The report says ")], dtype=torch.long)
    procs = LogitsProcessorList([wm.logits_processor()] if wm is not None else [])
    with torch.no_grad():
        out = model.generate(  # type: ignore[attr-defined]
            prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=sample,
            max_new_tokens=n,
            min_new_tokens=n,
            suppress_tokens=PRINTABLE_ONLY,
            logits_processor=procs,
            pad_token_id=0,
        )
    return [ByteTokenizer().decode(row) for row in out[:, prompt.shape[1] :].tolist()]


@pytest.mark.parametrize("sample", [True, False], ids=["sampling", "greedy"])
def test_generated_text_is_detected_from_text_alone(tiny_model: object, sample: bool) -> None:
    import torch

    torch.manual_seed(5)
    wm = TextWatermarker(KEY)
    texts = generate(tiny_model, wm, sample=sample)
    for text in texts:
        assert len(text) == 200
        d = ALGORITHM.detect(text, key=KEY)
        assert d.present and d.p_value <= DEFAULT_P_THRESHOLD, d.details
        assert not ALGORITHM.detect(text).present  # the public key is another key


def test_unwatermarked_generation_is_not_detected(tiny_model: object) -> None:
    import torch

    torch.manual_seed(6)
    for text in generate(tiny_model, None, sample=True):
        assert not TextWatermarker(KEY).detect(text).present


def test_logits_processor_adds_delta_to_exactly_the_green_tokens() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    wm = TextWatermarker(KEY, context=2, delta=2.5)
    proc = wm.logits_processor()
    input_ids = torch.tensor([[1, 2, 3], [9, 8, 7], [4, 4, 4]])
    scores = torch.zeros(3, 700)
    out = proc(input_ids, scores)  # type: ignore[arg-type]
    expected = wm.green_mask([[2, 3], [8, 7], [4, 4]], 700) * 2.5
    assert np.allclose(out.numpy(), expected)
    assert torch.equal(scores, torch.zeros(3, 700))  # the input is left alone
    short = torch.tensor([[5]])
    assert torch.equal(proc(short, torch.zeros(1, 10)), torch.zeros(1, 10))  # type: ignore[arg-type]


def test_detection_through_a_trained_hf_tokenizer() -> None:
    pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text = human_text()
    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([text], trainers.BpeTrainer(vocab_size=600, special_tokens=["[UNK]"]))
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe)
    wm = TextWatermarker(KEY, tokenizer=hf)
    assert wm.context == 2 == default_context(bpe)  # word pieces: two tokens of context
    ids = simulate(wm, 200, hf.vocab_size, 11)
    marked = hf.decode(ids)
    d_hf = wm.detect(marked)
    assert d_hf.present, d_hf.details
    assert TextWatermarker(KEY, tokenizer=bpe).detect(marked).present  # tokenizers too
    for w in windows(hf.encode(text), 200):
        assert not wm.detect(w).present


def test_default_context_follows_the_tokenizer() -> None:
    class Words:
        vocab_size = 30000

        def encode(self, text: str) -> list[int]:
            return [hash(w) % 30000 for w in text.split()]

    assert default_context() == default_context(ByteTokenizer()) == 4
    assert default_context(Words()) == 2
    assert default_context(object()) == 2  # unknown vocabulary: word pieces
    assert TextWatermarker(KEY, tokenizer=Words()).context == 2
    assert TextWatermarker(KEY, tokenizer=Words(), context=3).context == 3


def test_record_key_marks_are_detected_only_with_that_record() -> None:
    from synthlabel.model.aigc import AIGCRecord

    record = AIGCRecord(content_producer="001191440300MA5FXXXX", produce_id="gen-42")
    wm = TextWatermarker.for_record(record, context=2, delta=2.0)
    assert wm.key == key_for_record(record)
    ids = simulate(wm, 200, 1000, 21)
    assert ALGORITHM.detect(ids, key=key_for_record(record), context=2).present  # type: ignore[arg-type]
    other = TextWatermarker.for_record(record.replace(produce_id="gen-43"), context=2)
    assert not other.detect(ids).present
