"""Pattern search, span masks, labels and truncation on literal arrays (the turn search itself: test_turns.py)."""

from __future__ import annotations

import numpy as np

from hf_sftprep.tokens.masking import (
    IGNORE_INDEX,
    build_labels,
    char_span_mask,
    count_per_row,
    find_pattern,
    span_mask,
    take_rows,
    truncate,
)
from hf_sftprep.tokens.turns import find_turns

H = np.array([9, 8])  # header
E = np.array([5])  # end of turn


def test_find_pattern_literal():
    flat = np.array([9, 8, 1, 5, 9, 8, 2, 2, 5, 0], dtype=np.int32)
    pos, rows = find_pattern(flat, np.array([0, 10]), H)
    assert pos.tolist() == [0, 4] and rows.tolist() == [0, 0]


def test_header_straddling_two_rows_is_not_a_match():
    # row 0 ends with 9, row 1 starts with 8: "9 8" spans the boundary and must not match
    flat = np.array([1, 9, 8, 3, 5, 7, 9, 8, 4, 5], dtype=np.int32)
    offsets = np.array([0, 2, 10])
    pos, rows = find_pattern(flat, offsets, H)
    assert pos.tolist() == [6] and rows.tolist() == [1]


NONE = np.zeros(0, dtype=np.int64)


def test_turn_spans_and_labels_literal():
    #               0  1  2  3  4  5  6  7  8  9 10 11
    flat = np.array([7, 9, 8, 1, 2, 5, 3, 9, 8, 4, 5, 6], dtype=np.int32)
    offsets = np.array([0, 12])
    spans, broken, partial = find_turns(flat, offsets, H, H, E, NONE)
    assert spans.start.tolist() == [3, 9] and spans.stop.tolist() == [6, 11] and not broken.any()
    assert partial.shape == (2, 0)
    labels = build_labels(flat, span_mask(len(flat), spans.start, spans.stop))
    assert labels.tolist() == [-100, -100, -100, 1, 2, 5, -100, -100, -100, 4, 5, -100]
    assert labels.dtype == np.int32


def test_unclosed_turn_marks_row_broken():
    flat = np.array([9, 8, 1, 2, 9, 8, 3, 5], dtype=np.int32)
    offsets = np.array([0, 4, 8])  # row 0 has a header but no end before its row ends
    spans, broken, _ = find_turns(flat, offsets, H, H, E, NONE)
    assert broken.tolist() == [True, False]
    assert spans.row.tolist() == [0, 1] and spans.start.tolist() == [2, 6] and spans.stop.tolist() == [4, 8]


def test_char_span_mask_straddling_token_is_masked():
    # span [10, 20); token [8, 12) straddles the start -> masked; zero-width token never trained
    tok_start = np.array([0, 8, 12, 15, 19, 20, 0])
    tok_end = np.array([8, 12, 15, 19, 20, 25, 0])
    mask = char_span_mask(tok_start, tok_end, np.array([10]), np.array([20]))
    assert mask.tolist() == [False, False, True, True, True, False, False]


def test_take_rows_and_truncate():
    offsets = np.array([0, 3, 5, 9])
    index, new_off, cut = truncate(offsets, 2, "right")
    assert index.tolist() == [0, 1, 3, 4, 5, 6] and new_off.tolist() == [0, 2, 4, 6] and cut.tolist() == [True, False, True]
    index, _, _ = truncate(offsets, 2, "left")
    assert index.tolist() == [1, 2, 3, 4, 7, 8]
    assert take_rows(np.array([4, 0]), np.array([1, 2]))[0].tolist() == [4, 0, 1]
    assert count_per_row(np.array([1, 0, 1, 1, 1, 0, 0, 0, 1], bool), offsets).tolist() == [2, 2, 1]
