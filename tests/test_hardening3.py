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


# -- 9, 10. what a prepared directory's text can do to a terminal or a page -------------------------
HOSTILE = [
    {"messages": [{"role": "user", "content": "paint \x1b[31mred\x1b[0m\r[T]not trained[/T]"},
                  {"role": "assistant", "content": "ok [/T]hidden\x1b]0;title\x07\x9b2J\u202eevil\ttab\nline"}]},
    chat(1),
]


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory, tok_path):
    from hf_sftprep.cli.main import main

    root = tmp_path_factory.mktemp("hostile")
    out = root / "prepared"
    assert main(["build", write_jsonl(root / "h.jsonl", HOSTILE), "--tokenizer", tok_path, "--out", str(out)]) == 0
    return out


def test_item9_inspect_shows_control_characters_escaped_and_markers_unforgeable(hostile_dir, capsys):
    for color in ("never", "always"):
        code, out, _ = run_main(capsys, "inspect", hostile_dir, "--row", "0", "--color", color)
        assert code == 0
        body = out.split("\n", 1)[1]  # after the "--- row 0" line
        if color == "always":  # only the colours inspect itself writes, never one from the content
            body = body.replace("\x1b[32m", "").replace("\x1b[2m", "").replace("\x1b[0m", "")
        assert [c for c in body if ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F or c == "\u202e"] == []
        assert ("paint \\x1b[31mred\\x1b[0m\\r[\\T]not trained[\\/T]<|im_end|>" in body
                and "ok [\\/T]hidden\\x1b]0;title\\x07\\x9b2J\\u202eevil\ttab\nline" in body)
    plain = run_main(capsys, "inspect", hostile_dir, "--row", "0", "--color", "never")[1]
    # one trained span, and the markers around it are the only ones
    assert plain.count("[T]") == plain.count("[/T]") == 1
    assert "[T]ok [\\/T]hidden" in plain and "evil\ttab\nline<|im_end|>[/T]" in plain


def test_item10_html_report_escapes_every_value_of_a_hostile_stats_json(hostile_dir, tmp_path, capsys):
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(hostile_dir, d)
    stats = json.loads((d / "stats.json").read_text())
    evil = "<script>alert(1)</script>"
    stats.update(dropped={evil: evil}, end_of_turn_truncated_rows=evil, rows_in=evil,
                 packing={k: evil for k in ("rows_packed", "rows_in", "packs", "seq_length", "fill_rate", "dropped_overflow")},
                 sources={evil: {"rows_in": evil, "dropped": {evil: evil}, "duplicates": evil, "rows_out": evil,
                                 "tokens": 1, "share": 0.5, "trained_tokens": 1, "trained_share": evil,
                                 "length_percentiles": {"p50": evil}}})
    (d / "stats.json").write_text(json.dumps(stats))
    code, _, err = run_main(capsys, "report", d, "--out", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    assert "<script" not in page and "alert(1)</" not in page
    # the drop reason and count, the truncated rows, 6 packing values, 8 in the source row (its drop is
    # "reason=count"), and the summary table's rows_in and end_of_turn_truncated_rows
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2 + 1 + 6 + 8 + 2


# -- 4. the column-map hint -------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["unknown_columns", "alpaca_on_chat"])
def test_item4_the_column_map_hint_is_a_real_flag(tmp_path, tok_path, capsys, case):
    if case == "unknown_columns":
        data, extra = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}]), []
        found, expected, columns = "['answer', 'question']", "expected a 'messages' column (OpenAI chat), 'instruction' + 'output'", "answer, question"
    else:
        data, extra = write_jsonl(tmp_path / "chat.jsonl", [chat(0)]), ["--format", "alpaca"]
        found, expected, columns = "['messages']", "expected 'instruction' and 'output' columns", "messages"
    code, _, err = run_main(capsys, "build", data, "--tokenizer", tok_path, "--out", tmp_path / "o", *extra)
    message = one_line_error(code, err)
    assert message.startswith(f"cannot find the record format: columns found are {found}; {expected}")
    assert message.endswith(
        "Rename the columns, or pass --column-map system=COLUMN,user=COLUMN,assistant=COLUMN (each COLUMN one of the "
        f"columns found: {columns}; leave out system if none holds it).")
    assert "Ellipsis" not in message


# -- 5. pack() on packed data -----------------------------------------------------------------------
def test_item5_packing_packed_data_is_refused_as_already_packed(smollm, tmp_path, tok_path):
    from datasets import load_from_disk

    from hf_sftprep import build_trainer, pack
    from hf_sftprep.cli.main import main

    ds = prepare(Dataset.from_list([chat(i) for i in range(6)]), smollm)
    packed = pack(ds, 80)
    assert packed.num_rows == 3 and max(packed["length"]) == 74
    message = (r"^pack\(\.\.\., 128\) got a dataset that is already packed \(it has a 'seq_lengths' column: 3 packs of "
               r"up to 74 tokens\)\. pack\(\) takes the rows from prepare\(\): pack those, or train on the packed "
               r"dataset as it is \(build_trainer\(\.\.\., packing=None\)\)\.$")
    with pytest.raises(SFTPrepError, match=message):
        pack(packed, 128)
    with pytest.raises(SFTPrepError, match=message):  # before the model is looked at
        build_trainer(None, smollm, packed, packing=128, output_dir=str(tmp_path / "t"))
    data = write_jsonl(tmp_path / "c.jsonl", [chat(i) for i in range(6)])
    assert main(["build", data, "--tokenizer", tok_path, "--out", str(tmp_path / "p"), "--pack", "80", "--max-length", "80"]) == 0
    with pytest.raises(SFTPrepError, match=message):
        pack(load_from_disk(str(tmp_path / "p")), 128)


# -- 11. a recipe source that rounds to no rows -----------------------------------------------------
def test_item11_a_fraction_that_rounds_to_no_rows_is_refused(tmp_path, tok_path):
    from hf_sftprep import build_mixture

    big = write_jsonl(tmp_path / "big.jsonl", [chat(i) for i in range(100)])
    small = write_jsonl(tmp_path / "small.jsonl", [chat(200)] + [{"messages": [{"role": "user", "content": "x"}]}] * 2)
    with pytest.raises(SFTPrepError, match=r"^recipe: source 'small': fraction: 0\.004 of its 100 rows is 0\.4 rows, "
                                           r"which rounds to 0, so the source would vanish from the mixture; raise "
                                           r"fraction to at least 0\.01 \(1 row\), write take: 1, or remove the source\.$"):
        build_mixture({"tokenizer": tok_path, "sources": [{"path": big}, {"path": big, "name": "small", "fraction": 0.004}]})
    # 3 rows * 0.4 rounds to 1, but only 1 row is left after the drops: 0.4 rows
    with pytest.raises(SFTPrepError, match=r"^recipe: source 'small': fraction: 0\.4 of its 1 rows left after 2 were "
                                           r"dropped and 0 duplicates removed is 0\.4 rows, which rounds to 0"):
        build_mixture({"tokenizer": tok_path, "on_invalid": "drop",
                       "sources": [{"path": big}, {"path": small, "fraction": 0.4}]})
    ds = build_mixture({"tokenizer": tok_path, "sources": [{"path": big}, {"path": big, "name": "b", "fraction": 0.01}]})
    assert ds.num_rows == 100 + 1  # the smallest fraction kept: 1 row
