"""Regression tests for issue 27 (hardening, round 3): each test_item<N> fails on the code before its fix."""

from __future__ import annotations

import json
import warnings

import pytest
from datasets import Dataset

from hf_sftprep import SFTPrepError, prepare
from helpers import chat


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def run_main(capsys, *args):
    from hf_sftprep.cli.main import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err) -> str:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert lines[-1].startswith("hf-sftprep: error: ") and "Traceback" not in err, err
    return lines[-1].removeprefix("hf-sftprep: error: ")


# -- 14. the 0.3 attribute names ------------------------------------------------------------------
def test_item14_report_keeps_the_03_attribute_names_with_a_deprecation_warning(smollm):
    _, report = prepare(Dataset.from_list([chat(0)]), smollm, max_length=35, return_report=True)
    old = {"eot_truncated_rows": 1, "header_text": "<|im_start|>assistant\n", "header_ids": [1, 520, 9531, 198],
           "end_text": "<|im_end|>", "end_ids": [2]}
    for name, value in old.items():
        with pytest.warns(DeprecationWarning, match=rf"^PrepReport\.{name} is deprecated \(renamed in 0\.3\) and will "
                                                    r"be removed in the next release; use PrepReport\."):
            assert getattr(report, name) == value
        assert report.to_dict()[name] == value  # the same value as the 0.3 key of to_dict()
    with pytest.warns(DeprecationWarning, match="use PrepReport.end_of_turn_truncated_rows"):
        report.eot_truncated_rows = 7
    assert report.end_of_turn_truncated_rows == 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names and to_dict() warn about nothing
        assert report.to_dict()["eot_truncated_rows"] == report.end_of_turn_truncated_rows == 7
