"""The hf-sftprep command, run in subprocesses on temporary files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest



def cli(*args, env_extra=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "hf_sftprep", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def tok_path(tok_dir, request):
    request.getfixturevalue("smollm")  # builds tok_dir/smollm2_tokenizer
    return str(tok_dir / "smollm2_tokenizer")


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
    assert stats["header_ids"] == [1, 520, 9531, 198] and stats["end_text"] == "<|im_end|>"
    assert {"tokens", "trained_tokens", "trained_fraction", "length_percentiles", "eot_truncated_rows"} <= set(stats)
    assert "rows:" in proc.stdout and "wrote" in proc.stdout
    assert "hf_sftprep" in proc.stderr  # the datasets progress bar with our description


def test_inspect_plain_and_color(built, smollm):
    _, out, _ = built
    plain = cli("inspect", str(out), "--row", "0")
    assert plain.returncode == 0, plain.stderr
    from datasets import load_from_disk

    row = load_from_disk(str(out / "data"))["train"][0]
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
        (["build", "DATA", "--tokenizer", "/nonexistent/tok", "--out", "OUT"], "cannot load tokenizer '/nonexistent/tok'"),
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
    assert proc.stdout.count("rows: 200 in, 200 out; dropped: none") == 2
    assert "[T]" in proc.stdout and "trained turn 1" in proc.stdout
