"""A mixture's train/test split: distinct rows are split first and repeated after, so no test row is trained on."""

from __future__ import annotations

import math

import numpy as np

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
    units = np.unique(g)
    test_units = np.random.default_rng([seed, 0x7E57]).choice(units, size=n_test, replace=False)
    in_test = np.isin(g, test_units)
    _, first = np.unique(g[in_test], return_index=True)
    return picks[~in_test], picks[in_test][np.sort(first)]
