"""The hf-sftprep command, run in subprocesses on temporary files."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import cli


@pytest.fixture(scope="module")
def built(tmp_path_factory, tok_path):
    root = tmp_path_factory.mktemp("cli")
    data = root / "chats.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"answer {i}"}]} for i in range(20)]
    rows[5] = {"messages": [{"role": "user", "content": "no answer"}]}
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = root / "prepared"
    proc = cli("build", str(data), "--tokenizer", tok_path, "--out", str(out), "--on-invalid", "drop", "--test-size", "4")
    assert proc.returncode == 0, proc.stderr
    return root, out, proc


def test_build_writes_dataset_and_stats(built):
    _, out, proc = built
    stats = json.loads((out / "stats.json").read_text())
    assert stats["splits"]["train"]["rows_in"] + stats["splits"]["test"]["rows_in"] == 20
    assert sum(s["dropped"].get("no_assistant", 0) for s in stats["splits"].values()) == 1
    assert stats["assistant_header_ids"] == [1, 520, 9531, 198] and stats["end_of_turn"] == ["<|im_end|>"]
    assert {"tokens", "trained_tokens", "trained_fraction", "end_of_turn_truncated_rows"} <= set(stats)
    assert {"length_percentiles", "end_of_turn_truncated_rows"} <= set(stats["splits"]["test"])
    assert "rows:" in proc.stdout and "wrote" in proc.stdout
    assert "hf_sftprep" in proc.stderr  # the datasets progress bar with our description


def test_inspect_plain_and_color(built, smollm):
    _, out, _ = built
    plain = cli("inspect", str(out), "--row", "0")
    assert plain.returncode == 0, plain.stderr
    from datasets import load_from_disk

    row = load_from_disk(str(out))["train"][0]
    answer = smollm.decode([t for t in row["labels"] if t != -100])
    assert f"<|im_start|>assistant\n[T]{answer}[/T]\n" in plain.stdout
    assert "trained turn 1: tokens" in plain.stdout and "\x1b[" not in plain.stdout
    color = cli("inspect", str(out), "--rows", "0:2", "--color", "always")
    assert f"\x1b[32m{answer}\x1b[0m" in color.stdout and "\x1b[2m<|im_start|>" in color.stdout
    assert color.stdout.count("--- row") == 2


def test_report_html_embeds_image(built):
    root, out, _ = built
    html = root / "report.html"
    proc = cli("report", str(out), "--out", str(html))
    assert proc.returncode == 0, proc.stderr
    page = html.read_text()
    assert '<img alt="histograms" src="data:image/png;base64,' in page
    assert "Dropped rows" in page and 'class="t"' in page


@pytest.mark.parametrize(
    "args, message",
    [
        (["build", "/nonexistent/data.jsonl", "--tokenizer", "TOK", "--out", "OUT"], "/nonexistent/data.jsonl: no such file or directory."),
        (["build", "DATA", "--tokenizer", "/nonexistent/tok", "--out", "OUT"], "--tokenizer /nonexistent/tok: no such directory."),
        (["build", "DATA", "--tokenizer", "TOK", "--out", "FULL"], "directory is not empty; pass --overwrite"),
        (["build", "BADFORMAT", "--tokenizer", "TOK", "--out", "OUT"], "cannot find the record format: columns found are ['prompt', 'response']"),
        (["build", "someone/some-dataset", "--tokenizer", "TOK", "--out", "OUT"], "cannot load dataset 'someone/some-dataset' (split 'train') from the hub"),
        (["inspect", "NOTPREPARED"], "not a prepared dataset (expected stats.json and tokenizer/ inside)"),
    ],
)
def test_errors_are_one_line_exit_2(built, tok_path, args, message):
    root, out, _ = built
    (root / "full").mkdir(exist_ok=True)
    (root / "full" / "x").write_text("x")
    (root / "bad.jsonl").write_text(json.dumps({"prompt": "a", "response": "b"}) + "\n")
    subst = {"DATA": str(root / "chats.jsonl"), "TOK": tok_path, "OUT": str(root / "new"), "FULL": str(root / "full"),
             "BADFORMAT": str(root / "bad.jsonl"), "NOTPREPARED": str(root)}
    proc = cli(*[subst.get(a, a) for a in args])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("hf-sftprep: error: ") and message in lines[-1]
    assert "Traceback" not in proc.stderr


def test_demo(tok_dir, request):
    request.getfixturevalue("smollm")
    proc = cli("demo", env_extra={"HF_SFTPREP_CACHE": str(tok_dir)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("rows: 202 in, 202 out; dropped: none") == 1  # chats, with weight-0 and developer rows
    assert proc.stdout.count("rows: 200 in, 200 out; dropped: none") == 1  # Alpaca
    assert "rows: 9 in, 9 out; dropped: none" in proc.stdout  # tool calls
    assert '[T]<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>[/T]' in proc.stdout
    assert "[T]" in proc.stdout and "trained turn 1" in proc.stdout


# -- issue 15 and issue 11 regressions, run in-process (no interpreter start per call) --------------------


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


def test_issue11_load_from_disk_reads_the_build_directory(built, tmp_path, capsys):
    from datasets import DatasetDict, load_from_disk

    _, out, _ = built
    ds = load_from_disk(str(out))
    assert isinstance(ds, DatasetDict) and ds["train"].num_rows + ds["test"].num_rows == 19
    assert (out / "stats.json").is_file() and (out / "tokenizer" / "tokenizer_config.json").is_file()
    # a folder written the old way (dataset under data/) still opens
    old = tmp_path / "old"
    old.mkdir()
    ds.save_to_disk(str(old / "data"))
    (old / "stats.json").write_text((out / "stats.json").read_text())
    shutil.copytree(out / "tokenizer", old / "tokenizer")
    code, stdout, err = run_main(capsys, "inspect", old, "--row", "1", "--color", "never")
    assert code == 0, err
    assert stdout.startswith(f"--- row 1: {len(ds['train'][1]['input_ids'])} tokens")


def test_item3_report_shows_the_numbers_of_the_split_it_draws(built, capsys):
    root, out, _ = built
    stats = json.loads((out / "stats.json").read_text())
    splits = stats["splits"]
    assert (splits["train"]["rows_in"], splits["test"]["rows_in"]) == (16, 4)
    assert (stats["rows_in"], stats["rows_out"]) == (20, 19)  # the top level sums the splits
    assert stats["tokens"] == splits["train"]["tokens"] + splits["test"]["tokens"]
    assert "length_percentiles" not in stats  # per split only: percentiles do not add up
    for split in ("train", "test"):
        code, _, err = run_main(capsys, "report", out, "--split", split, "--out", root / f"{split}.html")
        assert code == 0, err
        page = (root / f"{split}.html").read_text()
        assert f"<h1>hf-sftprep report (split &#x27;{split}&#x27;)</h1>" in page
        assert f"<tr><th>rows_in</th><td>{splits[split]['rows_in']}</td></tr>" in page
        assert f"<tr><th>tokens</th><td>{splits[split]['tokens']}</td></tr>" in page


def test_item6_build_where_every_row_is_dropped_exits_2_and_writes_nothing(built, tok_path, tmp_path, capsys):
    root, _, _ = built
    code, stdout, err = run_main(capsys, "build", root / "chats.jsonl", "--tokenizer", tok_path, "--out", tmp_path / "o",
                                 "--max-length", "5", "--on-invalid", "drop")
    assert one_line_error(code, err).startswith(
        f"every row was dropped (no_assistant=1, no_trained_tokens=19); nothing was written to {tmp_path / 'o'}.")
    assert "rows: 20 in, 0 out" in stdout and "None" not in stdout
    assert not (tmp_path / "o").exists()


def test_item6_an_empty_split_is_saved_loadable(built, tok_path, tmp_path, capsys):
    from datasets import load_from_disk

    root, _, _ = built
    rows = [json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})] * 3
    rows.append(json.dumps({"messages": [{"role": "user", "content": "no answer"}]}))
    (tmp_path / "d.jsonl").write_text("\n".join(rows) + "\n")
    # the seeded split puts the one bad row alone in the test split, which is then empty
    code, _, err = run_main(capsys, "build", tmp_path / "d.jsonl", "--tokenizer", tok_path, "--out", tmp_path / "o",
                            "--on-invalid", "drop", "--test-size", "1", "--seed", "3")
    assert code == 0, err
    ds = load_from_disk(str(tmp_path / "o"))
    assert (ds["train"].num_rows, ds["test"].num_rows) == (3, 0)
    code, _, err = run_main(capsys, "inspect", tmp_path / "o", "--split", "test")
    assert one_line_error(code, err) == "row 0 is out of range; the dataset has 0 rows."


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "{root}/empty.jsonl: the file is empty; expected records (for JSON Lines, one JSON object per line)."),
        ("malformed", "{root}/broken.jsonl, line 3: not valid JSON (Expecting value at column 15); fix or remove that line."),
        ("out_is_file", "--out {root}/afile: is a file; expected a directory (new, or empty, or replaced with --overwrite)."),
        ("negative_test_size", "--test-size -1: expected a fraction between 0 and 1, or a whole number of rows >= 1."),
        ("too_large_test_size", "--test-size 20: the data has 20 rows; leave at least one for train."),
    ],
)
def test_item7_user_mistakes_are_one_line_exit_2(built, tok_path, capsys, case, message):
    root, _, _ = built
    (root / "empty.jsonl").write_text("")
    good = (root / "chats.jsonl").read_text().splitlines()
    (root / "broken.jsonl").write_text("\n".join([good[0], good[1], '{"messages": [oops', good[2]]) + "\n")
    (root / "afile").write_text("x")
    data, extra = str(root / "chats.jsonl"), []
    out = root / f"new-{case}"
    if case == "empty":
        data = str(root / "empty.jsonl")
    elif case == "malformed":
        data = str(root / "broken.jsonl")
    elif case == "out_is_file":
        out = root / "afile"
    elif case == "negative_test_size":
        extra = ["--test-size", "-1"]
    else:
        extra = ["--test-size", "20"]
    code, _, err = run_main(capsys, "build", data, "--tokenizer", tok_path, "--out", out, *extra)
    assert one_line_error(code, err) == message.format(root=root)


def test_item15_a_missing_local_tokenizer_path_says_no_such_directory(built, capsys):
    root, _, _ = built
    code, _, err = run_main(capsys, "build", root / "chats.jsonl", "--tokenizer", "./no-such-dir", "--out", root / "new15")
    assert one_line_error(code, err) == "--tokenizer ./no-such-dir: no such directory."


def test_cosmetic_inspect_empty_row_range_is_an_error(built, capsys):
    _, out, _ = built
    code, stdout, err = run_main(capsys, "inspect", out, "--rows", "5:2")
    assert one_line_error(code, err) == "--rows 5:2: the range is empty (A must be below B), e.g. --rows 2:5."
    assert stdout == ""
    code, _, err = run_main(capsys, "inspect", out, "--rows", "30:40")
    assert one_line_error(code, err) == "row 30 is out of range; the dataset has 16 rows."


def test_template_prints_the_probed_spec(tok_path, capsys):
    code, out, _ = run_main(capsys, "template", tok_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "header '<|im_start|>assistant\\n' | closes '<|im_end|>'"
    assert "  assistant_header_ids: (1, 520, 9531, 198)" in lines and "  end_of_turn_ids: ((2,),)" in lines
    assert "  renders_tool_calls: False" in lines  # SmolLM2's own template ignores tool_calls
    code, _, err = run_main(capsys, "template")
    assert one_line_error(code, err) == "template: give a tokenizer (directory or hub id), or --zoo."
