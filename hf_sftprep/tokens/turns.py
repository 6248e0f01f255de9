"""Assistant turns over a batch's flat token buffer, for any probed template. numpy only.

A turn opens with the template's marker ids, extended by as many of the generation prompt's ids as
follow; it closes at the first terminal id after that (any of several: gpt-oss has three), plus the
trailer ids on the row's last turn (Phi-3's EOS). Adjacent blocks merge into one turn where one message
renders as several (gpt-oss analysis + final). Rows whose turns cannot be vouched for are flagged
``broken`` and go to the exact character path.
"""

from __future__ import annotations

import numpy as np

from .masking import Spans, find_pattern, span_mask


def _extend_openers(flat, row_end, pos, k, prompt: np.ndarray) -> np.ndarray:
    """Number of prompt ids matched at each marker position (at least ``k``, the marker's length)."""
    matched = np.full(len(pos), k, dtype=np.int64)
    alive = np.ones(len(pos), dtype=bool)
    for j in range(k, len(prompt)):
        at = pos + j
        ok = alive & (at < row_end)
        ok[ok] = flat[at[ok]] == prompt[j]
        matched += ok
        alive = ok
    return matched


def _first_terminal(flat, row_end, start, terminals: np.ndarray):
    """Position of the first terminal id at or after ``start`` before its row's end (-1 when none)."""
    t_pos = np.flatnonzero(np.isin(flat, terminals))
    j = np.searchsorted(t_pos, start, side="left")
    jj = np.minimum(j, max(len(t_pos) - 1, 0))
    found = (j < len(t_pos)) & (t_pos[jj] < row_end) if len(t_pos) else np.zeros(len(start), bool)
    return np.where(found, t_pos[jj] if len(t_pos) else 0, -1)


def _absorb_closings(flat, stop, row_end, terminals: np.ndarray) -> np.ndarray:
    """A closing of several terminal tokens in a row (``<|im_end|><|endofturn|>``) is trained whole."""
    stop = stop.copy()
    for _ in range(len(terminals)):
        more = stop < row_end
        more[more] = np.isin(flat[stop[more]], terminals)
        if not more.any():
            break
        stop += more
    return stop


def _ends_before_appended(flat, offsets, appended: np.ndarray | None) -> np.ndarray:
    """Each row's end, before the ids the template appends to every rendering when the row ends with them."""
    ends = offsets[1:].copy()
    if appended is None or len(appended) == 0:
        return ends
    k = len(appended)
    has = np.diff(offsets) >= k
    for j in range(k):
        has[has] = flat[ends[has] - k + j] == appended[j]
    return ends - has * k


def find_turns(
    flat: np.ndarray,
    offsets: np.ndarray,
    marker: np.ndarray,
    prompt: np.ndarray,
    terminals: np.ndarray,
    trailer: np.ndarray,
    open_end: bool = False,
    multi_block: bool = False,
    appended: np.ndarray | None = None,
    block_gap: np.ndarray | None = None,
    result_opener: np.ndarray | None = None,
) -> tuple[Spans, np.ndarray, np.ndarray]:
    """Trained spans of every assistant turn, per-row ``broken`` flags, and partial-opener positions.

    Returns ``(spans, broken, partial)`` where ``partial`` is a 2 x k array: the flat position right after
    each opener that matched only part of the prompt, and how many prompt ids it matched: the caller checks that the token there does not begin
    with the rest of the prompt (a token straddling prompt and answer is masked, which only the
    character path can decide).

    Example (ChatML: marker = prompt = ``<|im_start|>assistant\\n`` = 1 2 3, terminal ``<|im_end|>`` = 9):
        >>> flat = np.array([1, 5, 3, 6, 9, 1, 2, 3, 7, 8, 9, 3])
        >>> spans, broken, _ = find_turns(flat, np.array([0, 12]), np.array([1, 2, 3]), np.array([1, 2, 3]),
        ...                               np.array([9]), np.array([], np.int64))
        >>> spans.start, spans.stop, broken
        (array([8]), array([11]), array([False]))
    """
    n_rows = len(offsets) - 1
    broken = np.zeros(n_rows, dtype=bool)
    pos, row = find_pattern(flat, offsets, marker)
    empty = np.zeros(0, dtype=np.int64)
    ends = _ends_before_appended(flat, offsets, appended)
    keep = pos < ends[row] if len(pos) else np.zeros(0, bool)
    pos, row = pos[keep], row[keep]
    if len(pos) == 0 and (result_opener is None or len(result_opener) == 0):
        return Spans(empty, empty, empty), broken, np.zeros((2, 0), np.int64)
    row_end = ends[row]
    matched = _extend_openers(flat, row_end, pos, len(marker), prompt)
    if result_opener is not None and len(result_opener):
        # answers after a tool result open with the result's closing ([/TOOL_RESULTS]): no prompt follows
        r_pos, r_row = find_pattern(flat, offsets, result_opener)
        ok = r_pos < ends[r_row] if len(r_pos) else np.zeros(0, bool)
        r_pos, r_row = r_pos[ok], r_row[ok]
        order = np.argsort(np.r_[pos, r_pos], kind="stable")
        full = np.full(len(r_pos), len(prompt), dtype=np.int64)  # counted as a whole prompt: no partial check
        pos, row = np.r_[pos, r_pos][order], np.r_[row, r_row][order]
        shift = np.r_[np.zeros(len(matched), np.int64), len(result_opener) - full]
        matched = np.r_[matched, full][order]
        extra = shift[order]
        if len(pos) == 0:
            return Spans(empty, empty, empty), broken, np.zeros((2, 0), np.int64)
        row_end = ends[row]
    else:
        extra = np.zeros(len(pos), dtype=np.int64)
    start = pos + matched + extra
    is_partial = (matched < len(prompt)) & (start < row_end)  # an empty turn at a row's end has no next token
    partial = np.stack([start[is_partial], matched[is_partial]]) if is_partial.any() else np.zeros((2, 0), np.int64)
    term = _first_terminal(flat, row_end, start, terminals)
    stop = np.where(term >= 0, term + 1, row_end)
    # a marker running into the appended text ends past the row's end: no turn the search can vouch for
    broken[row[start > stop]] = True
    last_in_row = np.r_[row[1:] != row[:-1], True]
    unclosed = term < 0
    broken[row[unclosed & ~(last_in_row & open_end)]] = True
    # a marker opening before the previous turn's terminal: that turn was never closed
    overlap = (row[1:] == row[:-1]) & (pos[1:] < stop[:-1])
    broken[row[1:][overlap]] = True
    if len(trailer):
        k = len(trailer)
        has = last_in_row & (stop + k <= row_end)
        for j in range(k):
            has[has] = flat[stop[has] + j] == trailer[j]
        stop = stop + has * k
    stop = _absorb_closings(flat, stop, row_end, terminals)
    if multi_block:
        adjacent = pos[1:] == stop[:-1]
        if block_gap is not None and len(block_gap):
            k = len(block_gap)
            gap = (pos[1:] == stop[:-1] + k) & (stop[:-1] + k <= row_end[:-1])
            for j in range(k):
                gap[gap] = flat[stop[:-1][gap] + j] == block_gap[j]
            adjacent |= gap
        joins = np.r_[False, (row[1:] == row[:-1]) & adjacent]
        first = np.flatnonzero(~joins)
        last = np.r_[first[1:] - 1, len(pos) - 1]
        start, stop, row = start[first], stop[last], row[first]
    return Spans(start, stop, row), broken, partial


def select_turns(
    spans: Spans, good_rows: np.ndarray, flags: np.ndarray, flag_offsets: np.ndarray, last: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(start, stop)`` of the turns to train: rows in ``good_rows`` only, turns whose flag is set
    (``flags[flag_offsets[r] + j]`` for the j-th turn of row r), and only each row's last one if ``last``.

    Example:
        >>> spans = Spans(np.array([2, 6, 9]), np.array([4, 8, 11]), np.array([0, 0, 1]))
        >>> select_turns(spans, np.array([True, True]), np.array([False, True, True]), np.array([0, 2, 3]), False)
        (array([6, 9]), array([ 8, 11]))
    """
    keep = good_rows[spans.row]
    start, stop, row = spans.start[keep], spans.stop[keep], spans.row[keep]
    if len(row) == 0:
        return start, stop
    idx = np.arange(len(row))
    first = np.maximum.accumulate(np.where(np.r_[True, row[1:] != row[:-1]], idx, 0))
    trained = flags[flag_offsets[row] + idx - first]
    start, stop, row = start[trained], stop[trained], row[trained]
    if last and len(row):
        final = np.r_[row[1:] != row[:-1], True]
        start, stop = start[final], stop[final]
    return start, stop


class TurnSearch:
    """The vectorized turn search for one tokenizer and spec: its id arrays, built once, not per batch.

    Calling it on a batch's flat ids gives ``(exact, trained)``: the rows the search cannot vouch for (the
    character path redoes them) and the trained mask of the others.
    """

    def __init__(self, tokenizer, spec):
        self.tokenizer, self.spec = tokenizer, spec
        # marker, prompt, terminal and trailer ids
        self.ids = tuple(
            np.asarray(ids, dtype=np.int64)
            for ids in (spec.marker_ids, spec.assistant_header_ids, [t[0] for t in spec.end_of_turn_ids], spec.trailer_ids)
        )
        self.appended = np.asarray(spec.appended_ids, dtype=np.int64)
        self.block_gap = np.asarray(spec.block_gap_ids, dtype=np.int64)
        self.result = np.asarray(spec.result_opener_ids, dtype=np.int64)
        enc = tokenizer(spec.assistant_header, add_special_tokens=False, return_offsets_mapping=True)
        ends = [e for _, e in enc["offset_mapping"]]
        # rest[k]: the prompt's text after its first k tokens
        self.prompt_rest = [spec.assistant_header[e:] for e in [0, *ends]]
        # how many prompt tokens each opening the probe saw spans (the partial matches that need no check)
        self.opening_counts = np.asarray([k + 1 for k, e in enumerate(ends) if e in spec.openings], dtype=np.int64)
        self.special_ids = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
        self._straddles: dict[tuple[int, int], bool] = {}

    def __call__(self, flat, offsets, targets, last: bool) -> tuple[np.ndarray, np.ndarray]:
        spec = self.spec
        spans, broken, partial = find_turns(
            flat, offsets, *self.ids, spec.open_end, spec.multi_block, self.appended, self.block_gap, self.result
        )
        expected = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
        exact = broken | (np.bincount(spans.row, minlength=len(targets)) != expected)
        if partial.shape[1]:
            # a partial opening the probe never saw (an answer continuing the prompt by chance) goes exact too
            straddle = self._straddling(flat[partial[0]], partial[1]) | ~np.isin(partial[1], self.opening_counts)
            exact[np.searchsorted(offsets, partial[0][straddle], side="right") - 1] = True
        flags = np.fromiter((f for t in targets for f in t), dtype=bool, count=int(expected.sum()))
        flag_offsets = np.r_[0, np.cumsum(expected)]
        start, stop = select_turns(spans, ~exact, flags, flag_offsets, last)
        return exact, span_mask(len(flat), start, stop)

    def _straddling(self, next_ids: np.ndarray, matched: np.ndarray) -> np.ndarray:
        """Whether the token after a partly matched prompt may begin with the prompt's rest (then only the
        character path can tell which characters are prompt). One decode per distinct (id, matched) pair."""
        pairs, inverse = np.unique(np.stack([next_ids.astype(np.int64), matched]), axis=1, return_inverse=True)
        hits = np.zeros(pairs.shape[1], dtype=bool)
        for j, key in enumerate(zip(pairs[0].tolist(), pairs[1].tolist())):
            hit = self._straddles.get(key)
            if hit is None and key[0] in self.special_ids:
                hit = self._straddles[key] = False  # a special token is atomic: it never holds prompt text
            if hit is None:
                rest, text = self.prompt_rest[key[1]], self.tokenizer.decode([key[0]])
                hit = self._straddles[key] = bool(rest and text and (text[0] == rest[0] or text[0] == "\ufffd"))
            hits[j] = hit
        return hits[inverse.ravel()]
