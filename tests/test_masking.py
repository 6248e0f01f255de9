"""Span search and label building on literal arrays, and against a slow per-token loop."""

from __future__ import annotations

import numpy as np
import pytest

from hf_sftprep.tokens.masking import (
    IGNORE_INDEX,
    build_labels,
    char_span_mask,
    count_per_row,
    find_pattern,
    last_per_row,
    span_mask,
    take_rows,
    truncate,
    turn_spans,
)

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


def test_turn_spans_and_labels_literal():
    #               0  1  2  3  4  5  6  7  8  9 10 11
    flat = np.array([7, 9, 8, 1, 2, 5, 3, 9, 8, 4, 5, 6], dtype=np.int32)
    offsets = np.array([0, 12])
    spans, broken = turn_spans(flat, offsets, H, E)
    assert spans.start.tolist() == [3, 9] and spans.stop.tolist() == [6, 11] and not broken.any()
    labels = build_labels(flat, span_mask(len(flat), spans.start, spans.stop))
    assert labels.tolist() == [-100, -100, -100, 1, 2, 5, -100, -100, -100, 4, 5, -100]
    last = last_per_row(spans)
    assert last.start.tolist() == [9]


def test_unclosed_turn_marks_row_broken():
    flat = np.array([9, 8, 1, 2, 9, 8, 3, 5], dtype=np.int32)
    offsets = np.array([0, 4, 8])  # row 0 has a header but no end before its row ends
    spans, broken = turn_spans(flat, offsets, H, E)
    assert broken.tolist() == [True, False]
    assert spans.row.tolist() == [1] and spans.start.tolist() == [6] and spans.stop.tolist() == [8]


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


def slow_labels(rows: list[list[int]], header: list[int], end: list[int]) -> list[list[int]]:
    """Obviously-correct per-row loop: after each header, train up to and including the next end."""
    out = []
    for ids in rows:
        labels = [IGNORE_INDEX] * len(ids)
        i = 0
        while i + len(header) <= len(ids):
            if ids[i : i + len(header)] == header:
                j = i + len(header)
                while j + len(end) <= len(ids) and ids[j : j + len(end)] != end:
                    j += 1
                if j + len(end) <= len(ids):
                    for k in range(i + len(header), j + len(end)):
                        labels[k] = ids[k]
                    i = j + len(end)
                    continue
            i += 1
        out.append(labels)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_random_against_slow_loop(seed):
    rng = np.random.default_rng(seed)
    header, end = [9, 8, 7], [5, 4]
    rows = []
    for _ in range(rng.integers(1, 30)):
        ids = []
        for _ in range(rng.integers(0, 5)):
            ids += rng.integers(0, 4, rng.integers(0, 6)).tolist() + header + rng.integers(0, 4, rng.integers(0, 6)).tolist() + end
        rows.append(ids + rng.integers(0, 10, rng.integers(0, 3)).tolist())
    lengths = np.array([len(r) for r in rows])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.array([t for r in rows for t in r], dtype=np.int32)
    spans, broken = turn_spans(flat, offsets, np.array(header), np.array(end))
    assert not broken.any()
    labels = build_labels(flat, span_mask(len(flat), spans.start, spans.stop))
    expected = slow_labels(rows, header, end)
    got = [labels[offsets[r] : offsets[r + 1]].tolist() for r in range(len(rows))]
    assert got == expected
