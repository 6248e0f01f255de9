"""Stanford Alpaca rows: encode the prompt and the response so that the prompt ends on a token boundary.

Stanford's prompt ends in ``### Response:`` and the output follows with no separator. Byte-level BPEs
whose pre-tokenizer joins one punctuation character to the letters after it (Llama 3, Qwen2) then merge
the ``:`` with the answer's first letters (``:The``) or its leading newline (``:\\n``). That token holds
prompt text, so it could not be trained, and a model generating after the prompt never sees it: the
prompt it is given ends in ``:``. Such rows are encoded as the prompt's ids followed by the response's,
the ids a model meets at generation time; every response token is then trained.

The split is used only where it spells the same text: the two encodings' decoded text must equal the
whole text's. Where it does not (a tokenizer that prefixes a space to every encoding), the row keeps the
whole-text ids and the straddling token stays untrained.
"""

from __future__ import annotations

import numpy as np

from .masking import char_span_mask, lengths_to_offsets

__all__ = ["encode_stanford", "split_ids"]


def _decoded(tokenizer, ids) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)


def split_ids(tokenizer, prompt: str, response: str, whole: list[int]) -> tuple[list[int], int] | None:
    """``(ids, prompt_length)``: the prompt encoded with the tokenizer's specials, then ``response``
    without them, when they spell the same text as ``whole`` (the whole text's ids); else None."""
    head = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    tail = tokenizer(response, add_special_tokens=False)["input_ids"]
    ids = list(head) + list(tail)
    return (ids, len(head)) if _decoded(tokenizer, ids) == _decoded(tokenizer, whole) else None


def encode_stanford(tokenizer, texts: list[str], prompt_ends: list[int]):
    """Encode Stanford rows (``texts[r][:prompt_ends[r]]`` the prompt): ``(flat ids, row offsets,
    trained)``, the response tokens trained. Rows where a token straddles the prompt's end are encoded
    apart (:func:`split_ids`)."""
    enc = tokenizer(texts, add_special_tokens=True, return_offsets_mapping=True)
    rows = [np.asarray(x, dtype=np.int32) for x in enc["input_ids"]]
    lengths = np.array([len(x) for x in rows], dtype=np.int64)
    char_base = lengths_to_offsets(np.array([len(t) for t in texts], dtype=np.int64))
    offs = np.concatenate([np.asarray(o, np.int64).reshape(-1, 2) for o in enc["offset_mapping"]])
    shift = np.repeat(char_base[:-1], lengths)
    start, end = offs[:, 0] + shift, offs[:, 1] + shift
    cut = np.repeat(char_base[:-1] + np.asarray(prompt_ends, np.int64), lengths)
    row_of = np.repeat(np.arange(len(texts)), lengths)
    trained = char_span_mask(start, end, char_base[:-1] + np.asarray(prompt_ends, np.int64), char_base[1:])
    straddle = np.unique(row_of[(start < cut) & (end > cut)])
    if not len(straddle):
        return np.concatenate(rows), lengths_to_offsets(lengths), trained
    row_offsets = lengths_to_offsets(lengths)
    masks = [trained[row_offsets[r] : row_offsets[r + 1]] for r in range(len(texts))]
    for r in straddle.tolist():
        split = split_ids(tokenizer, texts[r][: prompt_ends[r]], texts[r][prompt_ends[r] :], rows[r].tolist())
        if split is not None:
            ids, head = split
            rows[r] = np.asarray(ids, dtype=np.int32)
            masks[r] = np.arange(len(ids)) >= head
    lengths = np.array([len(x) for x in rows], dtype=np.int64)
    return np.concatenate(rows), lengths_to_offsets(lengths), np.concatenate(masks)
