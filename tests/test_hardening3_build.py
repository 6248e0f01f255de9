"""Regression tests for issue 27 (hardening, round 3), the build / prepare items: each test_item<N> fails on
the code before its fix."""

from __future__ import annotations

import pytest

from helpers import chat
from test_hardening3 import one_line_error, run_main, write_jsonl



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
