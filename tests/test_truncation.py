"""max_length: truncation after labels, drop/error strategies, all -100 rows dropped, cut end-of-turn counted."""

from __future__ import annotations

import copy
import logging

import pytest
from datasets import Dataset

from hf_sftprep import RowError, SFTPreprocessor, prepare
from helpers import as_lists

LONG_PROMPT = [{"role": "system", "content": "policy " * 60}, {"role": "user", "content": "q"},
               {"role": "assistant", "content": "the answer"}]
SHORT = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]


def full(tok, msgs):
    return as_lists(SFTPreprocessor(tok)({"messages": [msgs]}, [0]))


def test_right_truncation_keeps_prefix_labels(smollm):
    ref = full(smollm, SHORT)
    n = len(ref["input_ids"][0])
    out = as_lists(SFTPreprocessor(smollm, max_length=n - 2, emit_meta=True)({"messages": [SHORT]}, [0]))
    assert out["input_ids"][0] == ref["input_ids"][0][: n - 2]
    assert out["labels"][0] == ref["labels"][0][: n - 2]
    assert out["eot_truncated"] == [True] and out["drop_reason"] == [""]
    assert out["length"] == [n - 2]


def test_left_truncation_keeps_suffix(smollm):
    ref = full(smollm, LONG_PROMPT)
    out = as_lists(SFTPreprocessor(smollm, max_length=10, truncation_side="left", emit_meta=True)({"messages": [LONG_PROMPT]}, [0]))
    assert out["input_ids"][0] == ref["input_ids"][0][-10:]
    assert out["labels"][0] == ref["labels"][0][-10:]
    assert out["eot_truncated"] == [False]


def test_zero_trained_after_truncation_is_dropped_and_counted(smollm, caplog):
    rows = [copy.deepcopy(SHORT), copy.deepcopy(LONG_PROMPT), copy.deepcopy(SHORT)]
    with caplog.at_level(logging.WARNING, logger="hf_sftprep"):
        ds, report = prepare(Dataset.from_dict({"messages": rows}), smollm, max_length=40, return_report=True)
    assert report.dropped == {"no_trained_tokens": 1} and ds.num_rows == 2
    assert all(any(t != -100 for t in row) for row in ds["labels"])
    assert "no_trained_tokens=1" in caplog.text


def test_drop_and_error_strategies(smollm):
    rows = {"messages": [SHORT, LONG_PROMPT]}
    out = as_lists(SFTPreprocessor(smollm, max_length=40, max_length_strategy="drop", emit_meta=True)(rows, [5, 6]))
    assert out["drop_reason"] == ["", "too_long"]
    assert out["input_ids"][0] == full(smollm, SHORT)["input_ids"][0]
    with pytest.raises(RowError, match=r"row 6: the row has \d+ tokens; expected at most max_length=40"):
        SFTPreprocessor(smollm, max_length=40, max_length_strategy="error")(rows, [5, 6])


def test_eot_truncated_counted_in_report(smollm):
    n = len(full(smollm, SHORT)["input_ids"][0])
    ds, report = prepare(Dataset.from_dict({"messages": [SHORT] * 3}), smollm, max_length=n - 2, return_report=True)
    assert report.end_of_turn_truncated_rows == 3 and report.rows_out == 3


def test_pad_equal_eos_keeps_eos_trained(smollm):
    """SmolLM2's pad token is its EOS (<|im_end|>, id 2): preparation still trains it."""
    assert smollm.pad_token_id == smollm.eos_token_id == 2
    labels = full(smollm, SHORT)["labels"][0]
    assert labels.count(2) == 1 and labels[-2] == 2


def test_warns_when_end_of_turn_is_not_eos(llama3, caplog):
    tok = copy.deepcopy(llama3)
    tok.eos_token = "<|end_of_text|>"
    with caplog.at_level(logging.WARNING, logger="hf_sftprep"):
        SFTPreprocessor(tok)
        SFTPreprocessor(tok)
    assert caplog.text.count("end-of-turn token(s) '<|eot_id|>' are trained, but none is the tokenizer's EOS "
                             "'<|end_of_text|>' (id 128001)") == 1
