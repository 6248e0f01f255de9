"""The encoding stage: a batch's rendered texts -> flat ``int32`` ids and row offsets.

One batched call: through the piece dedupe when the batch repeats pieces (system prompts, tool lists) and
the HF backend encodes, else straight through the encoder (fastokens' own segment cache is faster than the
dedupe, see ``SEGMENT_CACHE_BYTES`` in fast_backend.py). Rows under the 'split' policy are encoded by transformers' own
control-token sanitizer instead, so their control strings stay plain text.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from .batch import Batch
from .ids import encode_ids, hf_ids
from .pieces import tokenize_pieced, worth_deduping

__all__ = ["encode_batch", "encode_ids", "hf_ids"]


def _sanitized_ids(tokenizer, encoder, texts: list[str], sanitize: dict) -> pa.ListArray:
    """Whole-text ids, with the 'split' rows encoded by transformers' control-token sanitizer."""
    ids = encoder(texts).to_pylist()
    for k, (messages, tools) in sanitize.items():
        ids[k] = tokenizer.apply_chat_template(
            messages, tools=tools, tokenize=True, sanitize_control_tokens=True, return_dict=False
        )
    return pa.array(ids, type=pa.list_(pa.int32()))


def encode_batch(batch: Batch, tokenizer, encoder, split: re.Pattern | None) -> Batch:
    """Fill ``batch.flat`` and ``batch.offsets`` (offsets from 0) from ``batch.texts``.

    Args:
        split: the special-token splitter of the piece dedupe, or None when the tokenizer is not
            piece-independent (or the dedupe is off).
    """
    texts = batch.texts
    if batch.sanitize:
        arr = _sanitized_ids(tokenizer, encoder, texts, batch.sanitize)
    elif split is not None and not encoder.fast and worth_deduping(texts, split):
        arr, _ = tokenize_pieced(tokenizer, texts, split, encoder)
    else:
        arr = encode_ids(tokenizer, texts, encoder)
    flat = arr.values.to_numpy(zero_copy_only=False) if len(arr) else np.zeros(0, np.int32)
    offsets = arr.offsets.to_numpy().astype(np.int64)
    batch.flat = flat[offsets[0] : offsets[-1]] if len(arr) else flat
    batch.offsets = offsets - offsets[0]
    return batch
