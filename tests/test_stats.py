"""The preparation report (datasets/stats.py), built from the preprocessor's meta columns as prepare() builds it."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pytest
from datasets import Dataset

from hf_sftprep import prepare
from hf_sftprep.datasets.preprocess import SFTPreprocessor
from hf_sftprep.datasets.stats import (
    PrepReport,
    kept_mask,
    log_drops,
    report_from_table,
    stats_for_splits,
    trained_per_row,
)

ROWS = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    {"messages": [{"role": "user", "content": "no answer"}]},
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
                  {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "6"}]},
    {"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "boop"}]},
]
TEMPLATE = {"assistant_header": "<|im_start|>assistant\n", "assistant_header_ids": [1, 520, 9531, 198],
            "end_of_turn": ["<|im_end|>"], "end_of_turn_ids": [[2]]}
# the 0.3 names, kept in to_dict() for one release
LEGACY = {"header_text": "<|im_start|>assistant\n", "header_ids": [1, 520, 9531, 198], "end_text": "<|im_end|>",
          "end_ids": [2]}


def meta_table(tok, rows, **options) -> tuple[pa.Table, SFTPreprocessor]:
    pre = SFTPreprocessor(tok, on_invalid="drop", emit_meta=True, **options)
    return pre({"messages": [r["messages"] for r in rows]}, list(range(len(rows)))), pre


@pytest.fixture(scope="module")
def table(smollm):
    return meta_table(smollm, ROWS)


def test_meta_columns_per_row(table):
    t, _ = table
    assert t.column("length").to_pylist() == [35, 0, 55, 0]
    assert t.column("n_trained").to_pylist() == [3, 0, 4, 0]  # "Hello!<|im_end|>"; "4<|im_end|>" + "6<|im_end|>"
    assert t.column("drop_reason").to_pylist() == ["", "no_assistant", "", "unknown_role"]
    assert kept_mask(t).tolist() == [True, False, True, False]
    assert trained_per_row(t.column("labels")).tolist() == [3, 0, 4, 0]


def test_trained_per_row_over_chunks_and_sliced_offsets():
    labels = pa.chunked_array([pa.array([[-100, 5], [6, 7, -100]]), pa.array([[-100, -100, -100, 8]])])
    assert trained_per_row(labels).tolist() == [1, 2, 1]
    sliced = pa.array([[1], [-100, 2, 3], [4, -100]]).slice(1)  # offsets no longer start at 0
    assert trained_per_row(sliced).tolist() == [2, 1]
    assert trained_per_row(pa.chunked_array([], type=pa.list_(pa.int32()))).tolist() == []


def test_report_from_table(table):
    t, pre = table
    report = report_from_table(t, pre.spec)
    assert report == PrepReport(
        rows_in=4, rows_out=2, dropped={"no_assistant": 1, "unknown_role": 1}, tokens=90, trained_tokens=7,
        length_percentiles={"p50": 45, "p90": 53, "p99": 54, "max": 55},
        trained_fraction_percentiles={"p50": 0.0792, "p90": 0.0844, "p99": 0.0856, "max": 0.0857}, **TEMPLATE,
    )
    assert report.trained_fraction == 7 / 90


def test_report_without_spec_has_no_template_facts(table):
    report = report_from_table(table[0])
    assert (report.assistant_header, report.end_of_turn, report.assistant_header_ids, report.end_of_turn_ids) == (None,) * 4
    assert {k: report.to_dict()[k] for k in LEGACY} == dict.fromkeys(LEGACY)


def test_prepare_returns_the_same_report(smollm, table):
    t, pre = table
    _, report = prepare(Dataset.from_list(ROWS), smollm, on_invalid="drop", return_report=True)
    expected = report_from_table(t, pre.spec)
    # prepare adds which backend encoded the rows; everything else is the table's report
    assert {**report.to_dict(), "tokenizer_backend": None, "tokenizer_backend_reason": ""} == expected.to_dict()


def test_truncation_counts(smollm):
    t, pre = meta_table(smollm, ROWS[2:3], max_length=40)
    report = report_from_table(t, pre.spec)
    assert (report.tokens, report.trained_tokens, report.end_of_turn_truncated_rows, report.trained_truncated_rows) == (40, 2, 1, 1)


def test_to_dict_and_json(table):
    report = report_from_table(table[0], table[1].spec)
    d = report.to_dict()
    assert list(d) == [
        "rows_in", "rows_out", "dropped", "tokens", "trained_tokens", "end_of_turn_truncated_rows",
        "trained_truncated_rows", "reasoning_dropped_turns", "length_percentiles", "trained_fraction_percentiles",
        "assistant_header", "assistant_header_ids", "end_of_turn", "end_of_turn_ids", "tokenizer_backend",
        "tokenizer_backend_reason", "trained_fraction", *LEGACY, "eot_truncated_rows",
    ]
    assert {k: d[k] for k in LEGACY} == LEGACY and d["eot_truncated_rows"] == d["end_of_turn_truncated_rows"]
    assert d["trained_fraction"] == 0.077778
    assert json.loads(report.to_json()) == d


def test_summary(table):
    report = report_from_table(table[0], table[1].spec)
    assert report.summary() == (
        "rows: 4 in, 2 out; dropped: no_assistant=1, unknown_role=1\n"
        "tokens: 90, trained: 7 (7.8%)\n"
        "length p50/p90/p99/max: 45/53/54/55; rows whose end-of-turn was truncated: 0 (rows that lost any trained token: 0)"
    )


def test_summary_of_an_empty_run_and_the_optional_lines():
    report = PrepReport(tokenizer_backend="hf", tokenizer_backend_reason="fastokens cannot load this tokenizer",
                        reasoning_dropped_turns=2)
    assert report.summary() == (
        "rows: 0 in, 0 out; dropped: none\n"
        "tokens: 0, trained: 0 (0.0%)\n"
        "length p50/p90/p99/max: - (no rows kept); rows whose end-of-turn was truncated: 0 (rows that lost any trained token: 0)\n"
        "tokenizer backend: hf (fastokens cannot load this tokenizer)\n"
        "assistant turns whose reasoning the template did not render: 2"
    )
    assert report.trained_fraction == 0.0


def test_log_drops(caplog, table):
    report = report_from_table(table[0])
    with caplog.at_level(logging.WARNING, logger="hf_sftprep"):
        log_drops(report)
        log_drops(PrepReport(rows_in=3, rows_out=3))
    assert [r.getMessage() for r in caplog.records] == ["hf_sftprep dropped 2 of 4 rows: no_assistant=1, unknown_role=1"]


def test_stats_for_splits(smollm, table):
    train = report_from_table(table[0], table[1].spec)
    t, pre = meta_table(smollm, ROWS[2:3], max_length=40)
    test = report_from_table(t, pre.spec)
    stats = stats_for_splits({"train": train, "test": test})
    assert stats == {
        "rows_in": 5, "rows_out": 3, "dropped": {"no_assistant": 1, "unknown_role": 1}, "tokens": 130,
        "trained_tokens": 9, "end_of_turn_truncated_rows": 1, "trained_truncated_rows": 1, "reasoning_dropped_turns": 0,
        **TEMPLATE, "tokenizer_backend": None, "tokenizer_backend_reason": "", "trained_fraction": 0.069231,
        **LEGACY, "eot_truncated_rows": 1,
        "splits": {"train": train.to_dict(), "test": test.to_dict()},
    }


def test_summary_leaves_out_the_size_choice_but_the_report_keeps_it():
    """A small dataset encoding through HF is a size choice, not a refusal: info in the log, kept in the
    report, not a summary line (as a build still running is not)."""
    reason = "the dataset is small (202 rows < 10000): building fastokens would cost more than it saves"
    report = PrepReport(tokenizer_backend="hf", tokenizer_backend_reason=reason)
    assert "tokenizer backend" not in report.summary()
    assert report.to_dict()["tokenizer_backend_reason"] == reason
