"""Train/test splits in which rows with equal token ids stay on one side, so no test row is trained on: a
mixture's (distinct rows are split first and repeated after) and ``hf-sftprep build --test-size``'s."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SFTPrepError

HOW = ("the test rows are drawn (seed {seed}) from the mixture's distinct rows before epochs repeat any row; "
       "rows with equal token ids stay on one side, and each test row appears once")


def test_count(test_size: float | int, distinct: int) -> int:
    """How many distinct rows go to test: a row count as given, a fraction rounded up (as datasets does).

    Example:
        >>> test_count(0.25, 10), test_count(3, 10)
        (3, 3)
    """
    return int(test_size) if isinstance(test_size, int) else math.ceil(test_size * distinct)


def check_test_size(test_size: float | int, groups: np.ndarray, source: np.ndarray, names: list[str]) -> int:
    """The number of test rows, or a recipe error when it leaves train or test empty.

    ``groups`` is, per picked row, the id of its distinct token sequence; ``source`` its source index.
    """
    units, first = np.unique(groups, return_index=True)
    n_test = test_count(test_size, len(units))
    if 1 <= n_test < len(units):
        return n_test
    per_source = np.bincount(source[first], minlength=len(names))
    counts = ", ".join(f"{name!r} {int(n)}" for name, n in zip(names, per_source))
    fix = (f"lower test_size to at most {len(units) - 1}, or give a fraction, e.g. test_size: 0.1"
           if len(units) > 1 else "add rows to the sources, or remove test_size")
    raise SFTPrepError(
        f"recipe: test_size: {test_size!r} asks for {n_test} test rows, but the sources hold {len(units)} distinct "
        f"rows after drops, dedupe and shares ({counts}), so the {'test' if n_test < 1 else 'train'} split would be "
        f"empty; {fix}.")


def split_rows(picks: np.ndarray, groups: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) among ``picks`` (row numbers, repeats allowed): ``n_test`` distinct groups go to test,
    one row each; every pick of any other group stays in train, repeats included.

    Example:
        >>> split_rows(np.array([0, 1, 2, 0, 1]), np.array([0, 1, 2]), 1, seed=0)
        (array([0, 2, 0]), array([1]))
    """
    g = groups[picks]
    in_test = test_mask(g, n_test, seed)
    _, first = np.unique(g[in_test], return_index=True)
    return picks[~in_test], picks[in_test][np.sort(first)]


def test_mask(groups: np.ndarray, n_test: int, seed: int) -> np.ndarray:
    """True for every row of ``n_test`` groups drawn with the seed (so equal rows land on one side).

    Example:
        >>> test_mask(np.array([0, 1, 0, 2]), 1, seed=0)
        array([False,  True, False, False])
    """
    units = np.unique(groups)
    return np.isin(groups, np.random.default_rng([seed, 0x7E57]).choice(units, size=n_test, replace=False))


def equal_rows(ids: pa.ChunkedArray | pa.ListArray, kept: np.ndarray) -> np.ndarray:
    """Per row, a group number shared exactly by the kept rows with equal ``ids``; each row that is not kept
    (dropped: its ids are empty) is a group of its own.

    Each row's int32 ids are viewed as one binary value over the same buffers (no copy per row), so Arrow's
    hash kernel groups them exactly: equal bytes, not an equal hash.

    Example:
        >>> equal_rows(pa.array([[5, 6], [7], [5, 6], []]), np.array([True, True, True, False])).tolist()
        [0, 1, 0, 2]
    """
    arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    offsets = arr.offsets.to_numpy().astype(np.int64)
    values = arr.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]].astype(np.int32, copy=False)
    as_bytes = pa.Array.from_buffers(pa.large_binary(), len(arr), [None, pa.py_buffer((offsets - offsets[0]) * 4),
                                                                    pa.py_buffer(values)])
    groups = pc.dictionary_encode(as_bytes).indices.to_numpy().astype(np.int64)
    alone = np.flatnonzero(~kept)
    groups[alone] = len(groups) + np.arange(len(alone))
    return np.unique(groups, return_inverse=True)[1].ravel()
