"""Regression tests for issue 27 (hardening, round 3), the build / prepare items: each test_item<N> fails on
the code before its fix."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from hf_sftprep import SFTPrepError, prepare
from helpers import chat
from test_hardening3 import one_line_error, run_main, write_jsonl

DEMO = Path(__file__).resolve().parents[1] / "hf_sftprep" / "data" / "demo_chat.jsonl"


# -- 1. build --test-size splits the prepared rows: equal rows stay on one side ----------------------
def test_item1_build_test_size_keeps_equal_rows_on_one_side(tmp_path, tok_path, capsys):
    code, _, err = run_main(capsys, "build", DEMO, "--tokenizer", tok_path, "--out", tmp_path / "p",
                            "--test-size", "0.5")
    assert code == 0, err
    ds = load_from_disk(str(tmp_path / "p"))
    train = {tuple(ids) for ids in ds["train"]["input_ids"]}
    assert [i for i, ids in enumerate(ds["test"]["input_ids"]) if tuple(ids) in train] == []
    # 202 records, 177 distinct token sequences: 89 of them (half, rounded up) go to test with all their copies
    assert (ds["train"].num_rows, ds["test"].num_rows) == (100, 102)
    assert (len(train), len({tuple(ids) for ids in ds["test"]["input_ids"]})) == (88, 89)
    stats = json.loads((tmp_path / "p" / "stats.json").read_text())
    splits = stats["splits"]
    assert (stats["rows_in"], splits["train"]["rows_in"], splits["test"]["rows_in"]) == (202, 100, 102)


# -- 6. a streamed load without split= ------------------------------------------------------------
def test_item6_a_streamed_dataset_dict_is_prepared_per_split(tmp_path, smollm):
    from datasets import IterableDatasetDict

    data = write_jsonl(tmp_path / "c.jsonl", [chat(i) for i in range(3)])
    streamed = load_dataset("json", data_files={"train": data, "test": data}, streaming=True)
    assert isinstance(streamed, IterableDatasetDict)
    out = prepare(streamed, smollm)
    assert isinstance(out, IterableDatasetDict) and list(out) == ["train", "test"]
    want = prepare(Dataset.from_list([chat(i) for i in range(3)]), smollm).to_list()
    assert [list(out[split]) for split in out] == [want, want]
    with pytest.raises(SFTPrepError, match=r"^return_report=True needs the whole dataset; a streamed "
                                           r"IterableDatasetDict \(splits train, test\) is prepared lazily\. "):
        prepare(streamed, smollm, return_report=True)


# -- 7. a dict chat_template on a small dataset -----------------------------------------------------
def test_item7_named_templates_on_50_rows_encode_with_hf_and_build_nothing(smollm, monkeypatch):
    from hf_sftprep.tokens import fast_backend

    tok = copy.deepcopy(smollm)
    tok.chat_template = {"default": smollm.chat_template, "tool_use": smollm.chat_template}
    monkeypatch.setattr(fast_backend, "_BUILT", {})  # no build of an earlier test counts as finished
    ds, report = prepare(Dataset.from_list([chat(i) for i in range(50)]), tok, return_report=True)
    assert fast_backend._BUILT == {}  # no fastokens build was started (it holds the GIL for seconds)
    assert (report.tokenizer_backend, report.tokenizer_backend_reason) == (
        "hf", "the dataset is small (50 rows < 10000): building fastokens would cost more than it saves")
    assert ds["input_ids"] == prepare(Dataset.from_list([chat(i) for i in range(50)]), smollm)["input_ids"]


# -- 8. build DIR whose files have different columns -------------------------------------------------
@pytest.mark.parametrize("ext", ["jsonl", "csv"])
def test_item8_build_dir_names_the_files_whose_columns_differ(tmp_path, tok_path, capsys, ext):
    folder = tmp_path / "data"
    folder.mkdir()
    if ext == "jsonl":
        write_jsonl(folder / "a.jsonl", [chat(0), chat(1)])
        write_jsonl(folder / "b.jsonl", [chat(2, id=7)])
        write_jsonl(folder / "c.jsonl", [{"instruction": "x", "output": "y"}])
        want = (f"{folder}: its files do not all have the same columns (datasets reads a directory as one table): "
                f"a.jsonl has messages; b.jsonl also has id; c.jsonl also has instruction, output and lacks messages. "
                "Give every file the same columns, or load each file on its own (hf-sftprep build FILE, or one "
                "recipe source per file).")
    else:
        (folder / "a.csv").write_text("instruction,output\nx,y\n")
        (folder / "b.csv").write_text("instruction,input,output\nx,z,y\n")
        want = (f"{folder}: its files do not all have the same columns (datasets reads a directory as one table): "
                f"a.csv has instruction, output; b.csv also has input. "
                "Give every file the same columns, or load each file on its own (hf-sftprep build FILE, or one "
                "recipe source per file).")
    code, _, err = run_main(capsys, "build", folder, "--tokenizer", tok_path, "--out", tmp_path / "p")
    assert one_line_error(code, err) == want


# -- 12. each split's backend reason quotes its own row count -------------------------------------
def test_item12_each_split_reports_its_own_backend_reason(smollm, monkeypatch):
    from hf_sftprep.tokens import fast_backend

    monkeypatch.setattr(fast_backend, "_BUILT", {})  # a build finished by an earlier test is used at any size
    dd = DatasetDict({"train": Dataset.from_list([chat(i) for i in range(30)]),
                      "test": Dataset.from_list([chat(i) for i in range(7)])})
    _, reports = prepare(dd, smollm, return_report=True)
    assert {k: r.tokenizer_backend_reason for k, r in reports.items()} == {
        "train": "the dataset is small (30 rows < 10000): building fastokens would cost more than it saves",
        "test": "the dataset is small (7 rows < 10000): building fastokens would cost more than it saves"}


# -- 13. --test-size is checked as a flag, in the flag's words ----------------------------------------
@pytest.mark.parametrize("value, message", [
    ("0.99", "--test-size 0.99: 0.99 of the 3 rows rounds up to 3 test rows, which leaves none for train; give a "
             "fraction of at most 2/3, or a row count below 3, e.g. --test-size 1."),
    ("nan", "--test-size nan: expected a fraction between 0 and 1, or a whole number of rows >= 1."),
    ("inf", "--test-size inf: expected a fraction between 0 and 1, or a whole number of rows >= 1."),
])
def test_item13_test_size_errors_name_the_flag(tmp_path, tok_path, capsys, value, message):
    data = write_jsonl(tmp_path / "c.jsonl", [chat(i) for i in range(3)])
    code, _, err = run_main(capsys, "build", data, "--tokenizer", tok_path, "--out", tmp_path / "p",
                            "--test-size", value)
    assert one_line_error(code, err) == message
    one = write_jsonl(tmp_path / "one.jsonl", [chat(0)])
    code, _, err = run_main(capsys, "build", one, "--tokenizer", tok_path, "--out", tmp_path / "q",
                            "--test-size", "0.5")
    assert one_line_error(code, err) == ("--test-size 0.5: the data has 1 row; a test split needs at least 2 (one for "
                                         "train); leave out --test-size.")


def test_item13_test_size_above_the_distinct_rows_names_the_flag(tmp_path, tok_path, capsys):
    data = write_jsonl(tmp_path / "c.jsonl", [chat(0)] * 4 + [chat(1)] * 4 + [chat(2)])
    code, _, err = run_main(capsys, "build", data, "--tokenizer", tok_path, "--out", tmp_path / "p", "--test-size", "3")
    assert one_line_error(code, err) == (
        "--test-size 3: the data has 9 rows but 3 distinct ones after preparation (rows with equal token ids stay on "
        "one side of the split, so they count once), and 3 test rows would leave none for train; give at most 2, or a "
        "fraction, e.g. --test-size 0.5.")
    code, _, err = run_main(capsys, "build", data, "--tokenizer", tok_path, "--out", tmp_path / "q",
                            "--test-size", "0.8")
    assert one_line_error(code, err) == (
        "--test-size 0.8: the data has 9 rows but 3 distinct ones after preparation (rows with equal token ids stay on "
        "one side of the split, so they count once), and 0.8 of them rounds up to 3 test rows, which would leave none "
        "for train; give a fraction of at most 2/3, or a row count below 3, e.g. --test-size 1.")


def test_item13_prepare_split_names_test_size_as_a_python_argument(smollm):
    from hf_sftprep.datasets.prepare import prepare_split

    raw = Dataset.from_list([chat(0)] * 4 + [chat(1)] * 4 + [chat(2)])
    with pytest.raises(SFTPrepError, match=r"^test_size=1\.5: expected a fraction between 0 and 1, or a whole number "
                                           r"of rows >= 1\.$"):
        prepare_split(raw, smollm, 1.5)
    with pytest.raises(SFTPrepError, match=r"^test_size=3: the data has 9 rows but 3 distinct ones after preparation .*"
                                           r"give at most 2, or a fraction, e.g\. test_size=0\.5\.$"):
        prepare_split(raw, smollm, 3)
    with pytest.raises(SFTPrepError, match=r"^prepare_split\(\) got a DatasetDict; expected a datasets\.Dataset"):
        prepare_split(DatasetDict({"train": raw}), smollm, 1)
    ds, reports = prepare_split(raw, smollm, 1, seed=0)
    assert {k: (ds[k].num_rows, reports[k].rows_in) for k in ds} == {"train": (5, 5), "test": (4, 4)}
    assert ds["test"]["input_ids"] == prepare(Dataset.from_list([chat(1)] * 4), smollm)["input_ids"]  # all 4 copies
