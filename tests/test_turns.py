"""The turn search (find_turns, select_turns) on literal arrays, and against a slow per-row scan on random input.

The reference below reads one row at a time, token by token, as the docstrings of tokens/turns.py describe it:
a turn opens at the marker (or a result opener), extends over as much of the prompt as follows, closes at the
first terminal, takes the trailer on the row's last turn and any further terminals right after, and adjacent
blocks (or blocks one gap apart) merge when ``multi_block``. The ids a template appends to every rendering are
cut off the row's end first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_sftprep.tokens.masking import Spans
from hf_sftprep.tokens.turns import find_turns, select_turns

NONE: list[int] = []


@dataclass
class Shape:
    """A template's turn shape as token ids, in the order ``SFTPreprocessor._search`` passes them."""

    marker: list[int]
    prompt: list[int]
    terminals: list[int]
    trailer: list[int] = field(default_factory=list)
    open_end: bool = False
    multi_block: bool = False
    appended: list[int] | None = None
    block_gap: list[int] | None = None
    result_opener: list[int] | None = None

    def args(self) -> tuple:
        arr = lambda ids: None if ids is None else np.asarray(ids, dtype=np.int64)  # noqa: E731
        return (arr(self.marker), arr(self.prompt), arr(self.terminals), arr(self.trailer), self.open_end,
                self.multi_block, arr(self.appended), arr(self.block_gap), arr(self.result_opener))


def flatten(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.r_[0, np.cumsum([len(r) for r in rows])].astype(np.int64)
    return np.array([t for r in rows for t in r], dtype=np.int32), offsets


# -- the reference: one row at a time, one token at a time ---------------------------------------------------
def at(ids: list[int], i: int, pattern: list[int]) -> bool:
    return len(pattern) > 0 and ids[i : i + len(pattern)] == pattern


def reference_row(ids: list[int], s: Shape) -> tuple[list[tuple[int, int]], bool, list[tuple[int, int]]]:
    """``(turns, broken, partial)`` of one row in row coordinates: turns as (start, stop), partial as
    (position after a partly matched prompt, number of prompt ids matched)."""
    end = len(ids)
    if s.appended and len(ids) >= len(s.appended) and ids[len(ids) - len(s.appended):] == s.appended:
        end -= len(s.appended)
    openers = []  # (position, start of the trained part, matched prompt ids or None for a result opener)
    for i in range(end):
        if at(ids, i, s.marker):
            matched = len(s.marker)
            while matched < len(s.prompt) and i + matched < end and ids[i + matched] == s.prompt[matched]:
                matched += 1
            openers.append((i, i + matched, matched))
        if s.result_opener and at(ids, i, s.result_opener):
            openers.append((i, i + len(s.result_opener), None))
    turns, partial, broken = [], [], False
    for n, (pos, start, matched) in enumerate(openers):
        last = n == len(openers) - 1
        if matched is not None and matched < len(s.prompt) and start < end:
            partial.append((start, matched))
        stop = next((t + 1 for t in range(start, end) if ids[t] in s.terminals), None)
        if stop is None:
            stop = end
            broken |= not (last and s.open_end)
        broken |= start > stop  # the marker ran into the appended ids
        if not last and openers[n + 1][0] < stop:
            broken = True  # the next turn opens inside this one: this one was never closed
        if last and s.trailer and stop + len(s.trailer) <= end and ids[stop : stop + len(s.trailer)] == s.trailer:
            stop += len(s.trailer)
        for _ in s.terminals:
            if stop < end and ids[stop] in s.terminals:
                stop += 1
            else:
                break
        turns.append((pos, start, stop))
    if s.multi_block:
        merged = []
        for pos, start, stop in turns:
            if merged:
                prev_stop = merged[-1][2]
                gap = s.block_gap or []
                if pos == prev_stop or (gap and pos == prev_stop + len(gap) and ids[prev_stop:pos] == gap):
                    merged[-1] = (merged[-1][0], merged[-1][1], stop)
                    continue
            merged.append((pos, start, stop))
        turns = merged
    return [(start, stop) for _, start, stop in turns], broken, partial


def reference(rows: list[list[int]], s: Shape):
    """The reference over a batch, in flat coordinates: (start, stop, row) lists, broken flags, partial."""
    start, stop, row, broken, partial = [], [], [], [], []
    base = 0
    for r, ids in enumerate(rows):
        turns, bad, part = reference_row(ids, s)
        start += [base + a for a, _ in turns]
        stop += [base + b for _, b in turns]
        row += [r] * len(turns)
        broken.append(bad)
        partial += [(base + p, m) for p, m in part]
        base += len(ids)
    return (start, stop, row), broken, partial


def check(rows: list[list[int]], s: Shape) -> None:
    flat, offsets = flatten(rows)
    spans, broken, partial = find_turns(flat, offsets, *s.args())
    (start, stop, row), want_broken, want_partial = reference(rows, s)
    assert (spans.start.tolist(), spans.stop.tolist(), spans.row.tolist()) == (start, stop, row)
    assert broken.tolist() == want_broken
    assert partial.shape == (2, len(want_partial))
    assert list(zip(*partial.tolist())) == want_partial


def reference_select(rows_of_spans, good, flags, flag_offsets, last):
    """Per row: its spans in order, the j-th kept when the row is good and ``flags[flag_offsets[row] + j]``."""
    out = []
    for r in sorted(set(rows_of_spans[2])):
        if not good[r]:
            continue
        mine = [(a, b) for a, b, rr in zip(*rows_of_spans) if rr == r]
        kept = [sp for j, sp in enumerate(mine) if flags[flag_offsets[r] + j]]
        out += kept[-1:] if last else kept
    return [a for a, _ in out], [b for _, b in out]


# -- literal cases --------------------------------------------------------------------------------------------
CHATML = Shape(marker=[1, 2, 3], prompt=[1, 2, 3], terminals=[9])


def test_chatml_two_turns_and_a_non_assistant_header():
    rows = [[1, 5, 3, 6, 9, 1, 2, 3, 7, 8, 9, 3, 1, 2, 3, 4, 9]]
    spans, broken, partial = find_turns(*flatten(rows), *CHATML.args())
    assert spans.start.tolist() == [8, 15] and spans.stop.tolist() == [11, 17] and spans.row.tolist() == [0, 0]
    assert broken.tolist() == [False] and partial.shape == (2, 0)


def test_prompt_extension_counts_partial_openers():
    # Llama-3-like: marker 1 2, prompt 1 2 3 4 (header then "\n\n"); a history turn renders 1 2 3 only
    s = Shape(marker=[1, 2], prompt=[1, 2, 3, 4], terminals=[9])
    rows = [[1, 2, 3, 4, 5, 9, 1, 2, 3, 6, 9], [1, 2, 7, 9]]
    spans, broken, partial = find_turns(*flatten(rows), *s.args())
    assert spans.start.tolist() == [4, 9, 13] and spans.stop.tolist() == [6, 11, 15]
    assert spans.row.tolist() == [0, 0, 1] and broken.tolist() == [False, False]
    assert partial.tolist() == [[9, 13], [3, 2]]


def test_several_terminals_trailer_and_closing_runs():
    # gpt-oss-like terminals 7 8 9; Phi-3-like trailer 6 on the last turn only; 9 8 after a turn trains whole
    s = Shape(marker=[1], prompt=[1, 2], terminals=[7, 8, 9], trailer=[6])
    rows = [[1, 2, 5, 7, 6, 1, 2, 5, 8, 9, 3, 1, 2, 4, 9, 6, 3]]
    spans, broken, _ = find_turns(*flatten(rows), *s.args())
    assert spans.start.tolist() == [2, 7, 13] and spans.stop.tolist() == [4, 10, 16] and not broken.any()


def test_multi_block_with_gap_merges_one_message():
    s = Shape(marker=[1], prompt=[1, 2], terminals=[9], multi_block=True, block_gap=[0])
    rows = [[1, 2, 5, 9, 1, 2, 6, 9, 0, 1, 2, 7, 9, 4, 1, 2, 8, 9]]
    spans, broken, _ = find_turns(*flatten(rows), *s.args())
    assert spans.start.tolist() == [2, 16] and spans.stop.tolist() == [13, 18] and not broken.any()


def test_appended_ids_and_result_opener():
    # Command-A-like: every rendering ends with the next turn's opener 1 2, never a turn
    s = Shape(marker=[1, 2], prompt=[1, 2], terminals=[9], appended=[1, 2], result_opener=[4])
    rows = [[1, 2, 5, 9, 3, 4, 6, 9, 1, 2], [1, 2]]
    spans, broken, partial = find_turns(*flatten(rows), *s.args())
    assert spans.start.tolist() == [2, 6] and spans.stop.tolist() == [4, 8] and spans.row.tolist() == [0, 0]
    assert broken.tolist() == [False, False] and partial.shape == (2, 0)


def test_a_marker_running_into_the_appended_ids_is_broken():
    # open_end and an appended opener: the marker 5 1 starts before the appended 1 2 and runs into it, so the
    # turn would start past the row's end (an inverted span); the row goes to the character path instead
    s = Shape(marker=[5, 1], prompt=[5, 1], terminals=[9], open_end=True, appended=[1, 2])
    spans, broken, _ = find_turns(*flatten([[5, 1, 2], [5, 1, 7, 1, 2]]), *s.args())
    assert broken.tolist() == [True, False]
    assert spans.row.tolist() == [0, 1] and spans.start.tolist() == [2, 5] and spans.stop.tolist() == [1, 6]
    start, stop = select_turns(spans, ~broken, np.ones(2, bool), np.array([0, 1, 2]), False)
    assert (start.tolist(), stop.tolist()) == ([5], [6])  # the inverted span never reaches a mask


def test_open_end_and_broken_rows():
    rows = [[], [3, 4], [1, 2, 3, 5], [1, 2, 3, 5, 1, 2, 3, 6, 9], [1, 2, 3, 5, 9]]
    spans, broken, _ = find_turns(*flatten(rows), *CHATML.args())
    assert broken.tolist() == [False, False, True, True, False]
    assert spans.row.tolist() == [2, 3, 3, 4]
    s = Shape(marker=[1, 2, 3], prompt=[1, 2, 3], terminals=[9], open_end=True)  # GLM: the last turn may run on
    spans, broken, _ = find_turns(*flatten(rows), *s.args())
    assert broken.tolist() == [False, False, False, True, False]
    assert spans.start.tolist() == [5, 9, 13, 18] and spans.stop.tolist() == [6, 15, 15, 20]


def test_empty_batch_and_no_turns():
    spans, broken, partial = find_turns(*flatten([]), *CHATML.args())
    assert spans.start.tolist() == [] and broken.tolist() == [] and partial.shape == (2, 0)
    spans, broken, partial = find_turns(*flatten([[5, 6], []]), *CHATML.args())
    assert spans.start.tolist() == [] and broken.tolist() == [False, False]


def test_select_turns_literal():
    spans = Spans(np.array([2, 6, 9, 14, 20]), np.array([4, 8, 11, 16, 22]), np.array([0, 0, 1, 2, 2]))
    good = np.array([True, False, True])
    flags = np.array([True, True, True, True, False])
    offs = np.array([0, 2, 3, 5])
    start, stop = select_turns(spans, good, flags, offs, False)
    assert start.tolist() == [2, 6, 14] and stop.tolist() == [4, 8, 16]
    start, stop = select_turns(spans, good, flags, offs, True)
    assert start.tolist() == [6, 14] and stop.tolist() == [8, 16]
    start, stop = select_turns(spans, np.zeros(3, bool), flags, offs, True)
    assert start.tolist() == [] and stop.tolist() == []


# -- random input against the reference ------------------------------------------------------------------------
ALPHABET = 8  # few distinct ids, so that markers, prompts and terminals collide with noise often
ids = st.integers(0, ALPHABET - 1)


@st.composite
def shapes(draw) -> Shape:
    marker = draw(st.lists(ids, min_size=1, max_size=3))
    prompt = marker + draw(st.lists(ids, max_size=3))
    maybe = lambda n: st.none() | st.lists(ids, max_size=n)  # noqa: E731
    return Shape(
        marker=marker,
        prompt=prompt,
        terminals=draw(st.lists(ids, min_size=1, max_size=3, unique=True)),
        trailer=draw(st.lists(ids, max_size=2)),
        open_end=draw(st.booleans()),
        multi_block=draw(st.booleans()),
        appended=draw(maybe(2)),
        block_gap=draw(maybe(2)),
        result_opener=draw(maybe(2)),
    )


@st.composite
def batches(draw) -> tuple[Shape, list[list[int]]]:
    """A shape and rows built from its pieces (whole and partial prompts, terminals, trailer, gaps) and noise."""
    s = draw(shapes())
    pieces = [s.marker, s.prompt, s.trailer, s.block_gap or [], s.result_opener or []]
    piece = st.one_of(
        st.sampled_from(pieces),
        st.integers(1, len(s.prompt)).map(lambda k: s.prompt[:k]),
        st.sampled_from(s.terminals).map(lambda t: [t]),
        st.lists(ids, max_size=3),
    )
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = [t for p in draw(st.lists(piece, max_size=12)) for t in p]
        if s.appended and draw(st.booleans()):
            row += s.appended
        rows.append(row)
    return s, rows


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_find_turns_matches_reference(case):
    check(case[1], case[0])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.data())
def test_select_turns_matches_reference(case, data):
    s, rows = case
    flat, offsets = flatten(rows)
    spans, broken, _ = find_turns(flat, offsets, *s.args())
    counts = np.bincount(spans.row, minlength=len(rows))
    good = np.array(data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows))), dtype=bool)
    flags = np.array(data.draw(st.lists(st.booleans(), min_size=int(counts.sum()), max_size=int(counts.sum()))), bool)
    flag_offsets = np.r_[0, np.cumsum(counts)]
    last = data.draw(st.booleans())
    start, stop = select_turns(spans, good, flags, flag_offsets, last)
    got = (start.tolist(), stop.tolist())
    spans_lists = (spans.start.tolist(), spans.stop.tolist(), spans.row.tolist())
    assert got == reference_select(spans_lists, good, flags, flag_offsets, last)


def realistic_row(rng: np.random.Generator, s: Shape) -> list[int]:
    """A rendered conversation: user turns of noise, assistant turns (some opening with part of the prompt, some
    several blocks, some after a tool result), and now and then a turn left open or a stray piece."""
    row = []
    for _ in range(rng.integers(0, 6)):
        row += rng.integers(10, 20, rng.integers(0, 8)).tolist()
        kind = rng.random()
        if kind < 0.1 and s.result_opener:
            row += s.result_opener
        elif kind < 0.2:
            row += s.prompt[: rng.integers(len(s.marker), len(s.prompt) + 1)]
        else:
            row += s.prompt
        for b in range(rng.integers(1, 3) if s.multi_block else 1):
            if b:
                row += (s.block_gap or []) if rng.random() < 0.5 else s.prompt
            row += rng.integers(0, 20, rng.integers(0, 10)).tolist()
            if rng.random() < 0.95:
                row += [int(rng.choice(s.terminals))]
    if row and rng.random() < 0.5:
        row += s.trailer
    if s.appended and rng.random() < 0.7:
        row += s.appended
    return row


REALISTIC = {
    "chatml": Shape(marker=[1, 2], prompt=[1, 2, 3], terminals=[9]),
    "llama3_trailer": Shape(marker=[1, 2, 3], prompt=[1, 2, 3, 4], terminals=[9], trailer=[8]),
    "gptoss": Shape(marker=[1], prompt=[1, 2, 3], terminals=[7, 8, 9], multi_block=True, block_gap=[4]),
    "glm_open_end": Shape(marker=[1], prompt=[1, 2], terminals=[5, 6], open_end=True),
    "command_a": Shape(marker=[1, 2], prompt=[1, 2, 3, 4], terminals=[9, 8], appended=[1, 2]),
    "mistral_results": Shape(marker=[1], prompt=[1], terminals=[9], result_opener=[5, 6]),
}


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("name", sorted(REALISTIC))
def test_find_turns_seeded_batches(name, seed):
    rng = np.random.default_rng(seed)
    s = REALISTIC[name]
    check([realistic_row(rng, s) for _ in range(rng.integers(0, 40))], s)


def test_find_turns_on_real_renderings(any_tok):
    """Rendered random chats through each real tokenizer, with the probed spec's ids as prepare() passes them:
    with SmolLM2 and Qwen2.5 the boundary trap (an answer starting with newlines) gives partial openers (25 and 10)."""
    import random

    from hf_sftprep.templates.probe import probe_template
    from helpers import random_conversation

    spec = probe_template(any_tok)
    s = Shape(list(spec.marker_ids), list(spec.assistant_header_ids), [t[0] for t in spec.end_of_turn_ids], list(spec.trailer_ids),
              spec.open_end, spec.multi_block, list(spec.appended_ids), list(spec.block_gap_ids),
              list(spec.result_opener_ids))
    rng = random.Random(0)
    texts = [any_tok.apply_chat_template(random_conversation(rng), tokenize=False) for _ in range(60)]
    rows = any_tok(texts, add_special_tokens=False)["input_ids"]
    check(rows, s)
