"""The ``sl-txt-1`` embedder: a transformers ``LogitsProcessor`` that biases green tokens.

Use it through :meth:`synthlabel.watermark.text.TextWatermarker.logits_processor`::

    wm = TextWatermarker(provider_secret, tokenizer=tokenizer)
    out = model.generate(**inputs, do_sample=True, max_new_tokens=200,
                         logits_processor=LogitsProcessorList([wm.logits_processor()]))

At every step it takes the last ``context`` ids of each row of ``input_ids`` (prompt plus the
tokens generated so far; rows of a batch or of a beam search are independent), asks the
watermarker for the green mask of every row (one vectorised numpy pass over the vocabulary,
the very function the detector uses), and adds ``delta`` to the green logits. Rows shorter
than the context (an empty prompt at the first step) are left unbiased; the detector does not
score their first tokens either.

Order matters: ``generate`` runs the caller's ``logits_processor`` list *before* its own
temperature / top-k / top-p warpers (transformers 4.4x-5.x), so with ``temperature=T`` the
effective bias is ``delta / T`` (stronger at low temperature, and so is the quality cost); the
processor sees the model's raw logits. bench/results/wm_text.md measures low-entropy models by
sharpening the logits *before* the bias instead, which is what a confident model does.

Needs ``torch`` and ``transformers`` (``pip install 'synthlabel[text-watermark]'``); the
detector in :mod:`synthlabel.watermark.text` does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from transformers import LogitsProcessor

if TYPE_CHECKING:  # pragma: no cover - typing only
    from synthlabel.watermark.text import TextWatermarker


class GreenListLogitsProcessor(LogitsProcessor):
    """Adds ``watermarker.delta`` to the logits of the keyed green tokens of each row."""

    def __init__(self, watermarker: TextWatermarker) -> None:
        self.watermarker = watermarker

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        wm = self.watermarker
        h = wm.context
        if input_ids.shape[-1] < h or wm.delta == 0.0:
            return scores
        contexts = input_ids[:, -h:].tolist()
        mask = wm.green_mask(contexts, int(scores.shape[-1]))
        green = torch.from_numpy(mask).to(device=scores.device)
        return scores + green.to(scores.dtype) * wm.delta


__all__ = ["GreenListLogitsProcessor"]
