"""Tokenize each distinct text piece once.

Fast tokenizers split the input on added special tokens before anything else and tokenize every piece
on its own, so a rendered conversation's ids are the concatenation of its pieces' ids. SFT sets repeat
large pieces (one long system prompt on every row, tool schemas, few-shot preambles): per batch, the
pieces are deduplicated, only the distinct ones are tokenized (one batched call) and rows are assembled
from them with Arrow ``take`` — no per-token Python work.

This holds only for piece-independent tokenizers; :func:`piece_independent` checks it on probe strings
and the caller falls back to whole-text tokenization otherwise.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .ids import encode_ids

logger = logging.getLogger("hf_sftprep")

# Leading spaces, newlines and tabs right after a special token are where SentencePiece-style
# tokenizers (prefix space on the first piece only) and whole-text normalizers differ.
PROBES = [
    "{s}hello{s} world{s}\n\nnext{s}  two spaces{s}\ttab{s}\n{s}",
    "plain start{s}{s}double{s} x\n\n{s}ünïcödé 한국어 🙂{s}",
    "  lead{s}   {s}\r\n{s}code:\n    x = 1\n{s}",
]


def split_pattern(specials: list[str]) -> re.Pattern | None:
    """A regex that splits text into pieces, keeping the special strings as their own pieces."""
    return re.compile("(" + "|".join(re.escape(s) for s in specials) + ")") if specials else None


def piece_independent(tokenizer, pattern: re.Pattern | None, specials: list[str]) -> bool:
    """True when tokenizing pieces separately gives exactly the whole-text ids on the probe strings."""
    if pattern is None or not specials:
        return False
    # the 6 longest, and every one that strips whitespace beside it (rstrip/lstrip: Phi-3's <|end|>, or a
    # user's setting), which swallows a newline in the whole text but not in its own piece
    strips = {t.content for t in tokenizer.added_tokens_decoder.values() if t.lstrip or t.rstrip}
    sample = list(dict.fromkeys(specials[:6] + [s for s in specials if s in strips]))
    texts = [p.replace("{s}", sample[i % len(sample)]) for i, p in enumerate(PROBES * len(sample))]
    whole = tokenizer(texts, add_special_tokens=False)["input_ids"]
    pieced, _ = tokenize_pieced(tokenizer, texts, pattern)
    ok = pieced.to_pylist() == whole
    if not ok:
        logger.debug("tokenizer is not piece-independent; tokenizing whole texts")
    return ok


def worth_deduping(texts: list[str], pattern: re.Pattern, sample: int = 64, max_unique: float = 0.5) -> bool:
    """Whether the batch repeats enough text to pay for splitting: judged on its first ``sample`` rows.

    On ordinary chats (every turn distinct) the distinct pieces hold ~all the characters and splitting
    is pure overhead (~4% measured on 4k chats); on seed-shaped rows (one long shared system prompt)
    they hold a few percent.
    """
    head = texts[:sample]
    total = sum(len(t) for t in head)
    distinct = {p for t in head for p in pattern.split(t)}
    return total > 0 and sum(len(p) for p in distinct) < max_unique * total


def tokenize_pieced(tokenizer, texts: list[str], pattern: re.Pattern, encoder=None) -> tuple[pa.ListArray, int]:
    """Ids of ``texts`` assembled from their distinct pieces; also returns the number of distinct pieces.
    ``encoder`` is passed to :func:`encode_ids` (the verified fast backend, or None for HF)."""
    index: dict[str, int] = {}
    order: list[int] = []
    counts = np.empty(len(texts), dtype=np.int64)
    for r, text in enumerate(texts):
        n = 0
        for piece in pattern.split(text):
            if piece:
                order.append(index.setdefault(piece, len(index)))
                n += 1
        counts[r] = n
    unique = encode_ids(tokenizer, list(index), encoder)
    order_arr = np.asarray(order, dtype=np.int64)
    flat = pc.list_flatten(unique.take(pa.array(order_arr)))
    piece_len = np.diff(unique.offsets.to_numpy())[order_arr] if len(order_arr) else np.zeros(0, np.int64)
    piece_end = np.cumsum(counts)
    tok_cum = np.concatenate([[0], np.cumsum(piece_len)])
    row_offsets = tok_cum[np.concatenate([[0], piece_end])].astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(row_offsets), flat), len(index)
