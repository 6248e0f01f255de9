"""The exact path: assistant turns located in characters, mapped to tokens by offsets.

Used for the rows where the token-level search cannot be trusted: a prompt whose last token merged
with the answer's first characters (ChatML's "\\n" + "\\n\\n..."), templates whose header is plain
text, and Stanford Alpaca prompts. Only those rows are re-tokenized, with ``return_offsets_mapping=True``.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import RowError, SFTPrepError
from ..templates.spans import common_prefix_len, turn_char_spans
from .batch import Batch
from .masking import char_span_mask, lengths_to_offsets, take_rows

__all__ = ["common_prefix_len", "offsets_trained_mask", "redo_exact", "turn_char_spans"]

logger = logging.getLogger("hf_sftprep")


def offsets_trained_mask(tokenizer, texts: list[str], spans: list[list[tuple[int, int]]], add_special_tokens: bool):
    """Tokenize ``texts`` with offsets and mark tokens inside each row's character spans.

    Returns ``(ids, row_offsets, trained)``: the flat int32 ids, the row offsets and
    the boolean trained mask, all flat over the given rows.
    """
    enc = tokenizer(texts, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids = [np.asarray(x, dtype=np.int32) for x in enc["input_ids"]]
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    row_offsets = lengths_to_offsets(lengths)
    flat = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int32)
    char_base = lengths_to_offsets(np.array([len(t) for t in texts], dtype=np.int64))
    offs = (
        np.concatenate([np.asarray(o, dtype=np.int64).reshape(-1, 2) for o in enc["offset_mapping"]])
        if ids
        else np.zeros((0, 2), np.int64)
    )
    shift = np.repeat(char_base[:-1], lengths)
    tok_start, tok_end = offs[:, 0] + shift, offs[:, 1] + shift
    starts = [char_base[r] + a for r, row_spans in enumerate(spans) for a, _ in row_spans]
    stops = [char_base[r] + b for r, row_spans in enumerate(spans) for _, b in row_spans]
    trained = char_span_mask(tok_start, tok_end, np.array(starts, np.int64), np.array(stops, np.int64))
    return flat, row_offsets, trained


def redo_exact(batch: Batch, bad: np.ndarray, tokenizer, spec, last: bool) -> None:
    """Redo the kept rows ``bad`` of ``batch`` from character offsets and write their mask into
    ``batch.trained``; rows whose turns cannot be found are refused."""
    logger.debug("exact path for %d of %d rows", len(bad), len(batch.texts))
    sub_texts, sub_spans = [], []
    for b in bad:
        flags = batch.targets[b]
        try:
            spans = turn_char_spans(batch.kept_row(b), batch.texts[b], spec, len(flags))
            spans = [s for s, f in zip(spans, flags) if f]
        except RowError as err:
            batch.refuse_kept(int(b), err)
            spans = []
        sub_texts.append(batch.texts[b])
        sub_spans.append(spans[-1:] if last else spans)
    sub_flat, _, sub_trained = offsets_trained_mask(tokenizer, sub_texts, sub_spans, False)
    index, _ = take_rows(batch.offsets[bad], np.diff(batch.offsets)[bad])
    if not np.array_equal(batch.flat[index], sub_flat):
        raise SFTPrepError("internal: re-tokenizing with offsets gave different ids; please report this with the row.")
    batch.trained[index] = sub_trained
