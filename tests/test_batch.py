"""tokens/batch.py: the object the stages hand each other, and how it refuses rows."""

from __future__ import annotations

import numpy as np
import pytest

from hf_sftprep import RowError
from hf_sftprep.tokens.batch import Batch


def _batch(strict: bool) -> Batch:
    return Batch([20, 21, 22, 23], strict=strict, texts=["a", "b", "c"], targets=[[True]] * 3, kept=[0, 2, 3])


def test_refuse_records_the_reason_by_input_position():
    batch = _batch(strict=False)
    batch.refuse(1, RowError(21, "no_assistant", "x"))
    batch.refuse_kept(1, RowError(22, "header_mismatch", "y"))
    assert batch.dropped == {1: "no_assistant", 2: "header_mismatch"}
    assert batch.failed_kept().tolist() == [1]  # input 1 was never kept; kept row 1 is input 2
    assert batch.kept_row(2) == 23 and batch.n == 4


def test_a_later_refusal_of_the_same_row_replaces_the_reason():
    batch = _batch(strict=False)
    batch.refuse_kept(0, RowError(20, "unverifiable_sanitized", "x"))
    batch.refuse_kept(0, RowError(20, "header_mismatch", "y"))
    assert batch.dropped == {0: "header_mismatch"}


def test_strict_batches_raise_the_row_error():
    batch = _batch(strict=True)
    with pytest.raises(RowError, match=r"^row 22: boom$"):
        batch.refuse_kept(1, RowError(22, "header_mismatch", "boom"))
    assert batch.dropped == {}


def test_defaults_are_an_empty_batch():
    batch = Batch([], strict=False)
    assert batch.flat.dtype == np.int32 and batch.offsets.tolist() == [0] and batch.trained.dtype == bool
    assert batch.failed_kept().tolist() == []
