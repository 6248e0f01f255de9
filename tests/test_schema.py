"""datasets/schema.py: the one output schema and the stage that assembles a batch's columns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from hf_sftprep import PrepReport
from hf_sftprep.datasets.schema import FEATURES, META_COLUMNS, OUTPUT_COLUMNS, PREPARED, SUMMED, assemble, output, user_columns
from hf_sftprep.datasets.stats import report_from_table
from hf_sftprep.tokens.batch import Batch


def _batch() -> Batch:
    batch = Batch([10, 11, 12], strict=False, texts=["a", "c"], targets=[[True], [True]], kept=[0, 2], lost=[0, 1],
                  dropped={1: "no_assistant"})
    batch.flat = np.array([5, 6, 7, 8, 6, 9], np.int32)
    batch.offsets = np.array([0, 3, 6])
    batch.trained = np.array([0, 0, 1, 0, 1, 1], bool)
    batch.eot_cut, batch.trained_cut = np.array([True, False]), np.array([True, False])
    return batch


def test_assemble_with_meta_keeps_a_placeholder_per_dropped_row():
    cols = {k: v.to_pylist() for k, v in assemble(_batch(), emit_meta=True).items()}
    assert cols == {
        "input_ids": [[5, 6, 7], [], [8, 6, 9]],
        "labels": [[-100, -100, 7], [], [-100, 6, 9]],
        "length": [3, 0, 3],
        "drop_reason": ["", "no_assistant", ""],
        "eot_truncated": [True, False, False],
        "trained_truncated": [True, False, False],
        "n_trained": [1, 0, 2],
        "reasoning_dropped": [0, 0, 1],
    }
    assert list(cols) == list(FEATURES)  # the schema's order and names


def test_plain_output_is_a_dict_of_kept_rows():
    out = output(assemble(_batch(), emit_meta=False), emit_meta=False)
    assert list(out) == list(OUTPUT_COLUMNS)
    assert [r.tolist() for r in out["input_ids"]] == [[5, 6, 7], [8, 6, 9]]
    assert [r.tolist() for r in out["labels"]] == [[-100, -100, 7], [-100, 6, 9]]
    assert out["length"].tolist() == [3, 3]


def test_every_meta_column_is_read_by_the_report():
    # the Ray report once undercounted because it copied a subset of the meta columns by hand
    read_on_their_own = {"drop_reason", "n_trained"}
    assert set(META_COLUMNS) == read_on_their_own | set(SUMMED)
    assert set(SUMMED.values()) <= {f.name for f in dataclasses.fields(PrepReport)}
    assert list(PREPARED) == list(OUTPUT_COLUMNS) and set(FEATURES) == set(OUTPUT_COLUMNS) | set(META_COLUMNS)


def test_the_report_sums_each_meta_column_over_kept_rows():
    report = report_from_table(pa.table(assemble(_batch(), emit_meta=True)))
    assert (report.rows_in, report.rows_out, report.dropped) == (3, 2, {"no_assistant": 1})
    assert (report.tokens, report.trained_tokens) == (6, 3)
    assert (report.end_of_turn_truncated_rows, report.trained_truncated_rows, report.reasoning_dropped_turns) == (1, 1, 1)


def test_user_columns_leave_out_record_and_output_columns():
    assert user_columns(["id", "messages", "tools", "labels"], "openai", None) == ["id"]
    assert user_columns(["q", "a", "src"], "mapped", {"user": "q", "assistant": "a"}) == ["src"]
    assert user_columns(["instruction", "input", "output", "lang"], "alpaca", None) == ["lang"]
