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

__all__ = ["common_prefix_len", "offsets_trained_mask", "redo_exact", "special_token_ends", "turn_char_spans"]

logger = logging.getLogger("hf_sftprep")


def special_token_ends(text: str, offs: np.ndarray, ids: np.ndarray, special: set[int]) -> np.ndarray:
    """Token ends, with the whitespace a special token swallows (``rstrip=True``, Phi-3's ``<|end|>``)
    not counted as its own: the token is the closing, the newline is not."""
    ends = offs[:, 1].copy()
    for k in np.flatnonzero(np.isin(ids, list(special))) if special else ():
        a, b = int(offs[k, 0]), int(offs[k, 1])
        while b > a + 1 and text[b - 1].isspace():
            b -= 1
        ends[k] = b
    return ends


def offsets_trained_mask(tokenizer, texts: list[str], spans: list[list[tuple[int, int]]], add_special_tokens: bool,
                         special: set[int] | None = None):
    """Tokenize ``texts`` with offsets and mark tokens inside each row's character spans.

    Returns ``(ids, row_offsets, trained)``: the flat int32 ids, the row offsets and
    the boolean trained mask, all flat over the given rows. With ``special`` (ids), a special token's end
    leaves out the whitespace it swallows (:func:`special_token_ends`), as the reference counts it.
    """
    enc = tokenizer(texts, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids = [np.asarray(x, dtype=np.int32) for x in enc["input_ids"]]
    if special:
        enc["offset_mapping"] = [
            np.stack([np.asarray(o, np.int64).reshape(-1, 2)[:, 0],
                      special_token_ends(t, np.asarray(o, np.int64).reshape(-1, 2), x, special)], axis=1)
            for t, o, x in zip(texts, enc["offset_mapping"], ids)]
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
    searched = [int(b) for b in bad if int(b) not in batch.regions]
    given = [int(b) for b in bad if int(b) in batch.regions]
    for group, special in ((searched, None), (given, _special_ids(tokenizer) if given else None)):
        if group:
            _redo(batch, np.asarray(group, dtype=np.int64), tokenizer, spec, last, special)


def _special_ids(tokenizer) -> set[int]:
    return {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}


def _redo(batch: Batch, bad: np.ndarray, tokenizer, spec, last: bool, special: set[int] | None) -> None:
    sub_texts, sub_spans = [], []
    for b in bad:
        flags = batch.targets[b]
        if int(b) in batch.regions:  # already the reference's spans (and only the last with last=True)
            spans = batch.regions[int(b)]
        else:
            try:
                spans = turn_char_spans(batch.kept_row(b), batch.texts[b], spec, len(flags))
                spans = [s for s, f in zip(spans, flags) if f]
            except RowError as err:
                batch.refuse_kept(int(b), err)
                spans = []
            spans = spans[-1:] if last else spans
        sub_texts.append(batch.texts[b])
        sub_spans.append(spans)
    sub_flat, _, sub_trained = offsets_trained_mask(tokenizer, sub_texts, sub_spans, False, special)
    index, _ = take_rows(batch.offsets[bad], np.diff(batch.offsets)[bad])
    if not np.array_equal(batch.flat[index], sub_flat):
        raise SFTPrepError("internal: re-tokenizing with offsets gave different ids; please report this with the row.")
    batch.trained[index] = sub_trained
