"""Span search and label building over a batch's flat token buffer. numpy only.

A batch of B rows is one flat ``int32`` array of token ids plus ``offsets`` of
length B + 1 (row r is ``flat[offsets[r]:offsets[r + 1]]``), the same layout as an
Arrow ``ListArray``. Nothing here loops over tokens or rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RowError

IGNORE_INDEX = -100


def row_of(positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Row index of each flat position."""
    return np.searchsorted(offsets, positions, side="right") - 1


def find_pattern(flat: np.ndarray, offsets: np.ndarray, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions (and rows) of every occurrence of ``pattern`` that lies inside one row.

    Candidates are narrowed token by token, so the cost is one pass over the buffer
    for the first id plus work proportional to the number of candidates.

    Example:
        >>> find_pattern(np.array([7, 1, 2, 7, 1, 2]), np.array([0, 4, 6]), np.array([7, 1, 2]))
        (array([0]), array([0]))
    """
    k = len(pattern)
    n = len(flat)
    if k == 0 or n < k:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    cand = np.flatnonzero(flat[: n - k + 1] == pattern[0])
    for j in range(1, k):
        cand = cand[flat[cand + j] == pattern[j]]
    rows = row_of(cand, offsets)
    inside = cand + k <= offsets[rows + 1]
    return cand[inside], rows[inside]


@dataclass
class Spans:
    """Trained token spans ``[start, stop)`` in flat coordinates, one per assistant turn."""

    start: np.ndarray
    stop: np.ndarray
    row: np.ndarray


def span_mask(n: int, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Boolean mask of length n, True inside any ``[start, stop)``; spans must not overlap.

    int8 +1/-1 marks and an int8 cumsum: the running sum is only ever 0 or 1 for disjoint spans, and
    this is ~2x faster than bincount + int32 on a 1.1M-token batch.
    """
    delta = np.zeros(n + 1, dtype=np.int8)
    delta[start] += 1
    delta[stop] -= 1
    return np.cumsum(delta[:n], dtype=np.int8) > 0


def char_span_mask(
    tok_start: np.ndarray, tok_end: np.ndarray, span_start: np.ndarray, span_end: np.ndarray
) -> np.ndarray:
    """Tokens lying wholly inside a character span ``[span_start, span_end)``.

    All coordinates are global (row character offsets already added) and spans are
    sorted and disjoint. A token that straddles a span's start is not inside: the
    header's last character merged with the content's first counts as header.
    Zero-width tokens (a BOS added by a post-processor) are never inside.
    """
    if len(span_start) == 0:
        return np.zeros(len(tok_start), dtype=bool)
    i = np.searchsorted(span_start, tok_start, side="right") - 1
    ii = np.maximum(i, 0)
    return (i >= 0) & (tok_end <= span_end[ii]) & (tok_end > tok_start)


def lengths_to_offsets(lengths: np.ndarray) -> np.ndarray:
    """``[3, 2] -> [0, 3, 5]`` as int64."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def take_rows(row_start: np.ndarray, keep_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat gather indices that take ``keep_len[r]`` tokens starting at flat position ``row_start[r]``.

    Returns ``(index, new_offsets)``; ``flat[index]`` is the new flat buffer.

    Example:
        >>> take_rows(np.array([1, 3]), np.array([2, 1]))
        (array([1, 2, 3]), array([0, 2, 3]))
    """
    new_offsets = lengths_to_offsets(keep_len)
    index = np.arange(int(new_offsets[-1]), dtype=np.int64)
    index += np.repeat(row_start - new_offsets[:-1], keep_len)
    return index, new_offsets


def truncate(offsets: np.ndarray, max_length: int, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gather indices for truncating each row to ``max_length`` on the given side.

    Returns ``(index, new_offsets, cut)`` where ``cut`` flags the rows that lost tokens.
    """
    lengths = np.diff(offsets)
    keep_len = np.minimum(lengths, max_length)
    keep_start = lengths - keep_len if side == "left" else np.zeros_like(lengths)
    index, new_offsets = take_rows(offsets[:-1] + keep_start, keep_len)
    return index, new_offsets, lengths > max_length


def count_per_row(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Number of True values in each row."""
    csum = np.zeros(len(mask) + 1, dtype=np.int64)
    np.cumsum(mask, out=csum[1:])
    return csum[offsets[1:]] - csum[offsets[:-1]]


def build_labels(flat: np.ndarray, trained: np.ndarray) -> np.ndarray:
    """``input_ids`` where trained, IGNORE_INDEX elsewhere, as int32."""
    return np.where(trained, flat, IGNORE_INDEX).astype(np.int32, copy=False)


def last_true_per_row(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per row, the flat position of its last True in ``mask``, or ``len(mask)`` when it has none.

    Example:
        >>> last_true_per_row(np.array([1, 0, 1, 0, 0], bool), np.array([0, 3, 5])).tolist()
        [2, 5]
    """
    out = np.full(len(offsets) - 1, len(mask), dtype=np.int64)
    hits = np.flatnonzero(mask)
    rows = np.searchsorted(offsets, hits, side="right") - 1
    last = np.r_[rows[1:] != rows[:-1], True] if len(rows) else np.zeros(0, bool)
    out[rows[last]] = hits[last]
    return out


def truncate_batch(batch, max_length: int | None, side: str, strategy: str, end_ids: np.ndarray):
    """The truncation stage: apply ``max_length`` to ``batch`` (a :class:`~.batch.Batch`), set its cut flags
    (an end-of-turn token was cut, a trained token was cut) and drop rows left with no trained token."""
    flat, offsets, trained = batch.flat, batch.offsets, batch.trained
    reasons: dict[int, str] = {}
    none = np.zeros(len(offsets) - 1, dtype=bool)
    batch.eot_cut, batch.trained_cut = none, none
    if max_length is not None:
        lengths = np.diff(offsets)
        over = np.flatnonzero(lengths > max_length)
        if len(over) and strategy == "error":
            k = int(over[0])
            raise RowError(
                batch.kept_row(k),
                "too_long",
                f"the row has {int(lengths[k])} tokens; expected at most max_length={max_length}. "
                "Raise max_length, or pass max_length_strategy='truncate' or 'drop'.",
            )
        if strategy == "drop":
            reasons.update((int(k), "too_long") for k in over)
        else:
            before = count_per_row(trained, offsets)
            last_end = last_true_per_row(trained & np.isin(flat, end_ids), offsets)
            index, new_offsets, _ = truncate(offsets, max_length, side)
            kept = np.zeros(len(flat) + 1, dtype=bool)  # slot len(flat): rows without a trained end-of-turn
            kept[index], kept[-1] = True, True
            batch.flat, batch.trained, batch.offsets = flat[index], trained[index], new_offsets
            # only the row's final end-of-turn counts: left truncation may cut earlier turns' ends harmlessly
            batch.eot_cut = ~kept[last_end]
            batch.trained_cut = count_per_row(batch.trained, batch.offsets) < before
    for k in np.flatnonzero(count_per_row(batch.trained, batch.offsets) == 0):
        reasons.setdefault(int(k), "no_trained_tokens")
    for k, reason in reasons.items():  # a row refused while labelling keeps that reason
        batch.dropped.setdefault(batch.kept[k], reason)
    return batch
