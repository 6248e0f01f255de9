"""verify(): prepared rows checked against apply_chat_template and the prefix-render reference; the CLI's verify."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from helpers import cli

from hf_sftprep import SFTPrepError, VerifyReport, pack, prepare, verify
from hf_sftprep.cli.loading import save_prepared

DATA = Path(__file__).parent.parent / "hf_sftprep" / "data"
SAME = {"messages": [{"role": "user", "content": "Paris"}, {"role": "assistant", "content": "Paris"}]}
CLEAN = """verify: 202 of 202 rows checked against apply_chat_template and the prefix-render reference
  matching           202
  input_ids differ     0
  labels differ        0
  not attributable     0"""


@pytest.fixture(scope="module")
def demo():
    return datasets.load_dataset("json", data_files=str(DATA / "demo_chat.jsonl"), split="train")


@pytest.fixture(scope="module")
def demo_prepared(demo, smollm):
    return prepare(demo, smollm)


def _flip(ds, row: int, token: int):
    """``ds`` with one label of one row masked."""

    def change(r, i):
        if i != row:
            return {}
        labels = list(r["labels"])
        labels[token] = -100
        return {"labels": labels}

    return ds.map(change, with_indices=True)


def test_demo_rows_all_match(demo, demo_prepared, smollm):
    report = verify(demo_prepared, smollm, raw=demo, sample=None)
    assert (report.rows, report.checked, report.matching, report.differing, report.not_attributable) == (202, 202, 202, 0, 0)
    assert report.ok and report.differences == [] and report.unattributed == []
    assert report.summary() == CLEAN


def test_sample_is_drawn_with_the_seed(demo, demo_prepared, smollm):
    report = verify(demo_prepared, smollm, raw=demo, sample=20)
    assert (report.rows, report.checked, report.matching) == (202, 20, 20)
    assert report.summary().splitlines()[0].startswith("verify: 20 of 202 rows checked")


def test_a_flipped_label_is_a_difference_with_its_row_and_text(demo, demo_prepared, smollm):
    report = verify(_flip(demo_prepared, 3, 40), smollm, raw=demo, sample=None)
    assert (report.matching, report.ids_differ, report.labels_differ, report.not_attributable) == (201, 0, 1, 0)
    assert not report.ok
    (diff,) = report.differences
    assert (diff.row, diff.record, diff.kind) == (3, 3, "labels")
    assert diff.describe() == (
        "row 3 (record 3): labels differ: 1 token(s), first token 40 (' '): prepared masks it, the reference trains it\n"
        "  prepared trains:  38..39 'There are' | 41..59 '24 × 60 = 1,440 minutes in a day.<|im_end|>'\n"
        "  reference trains: 38..59 'There are 24 × 60 = 1,440 minutes in a day.<|im_end|>'"
    )
    assert report.summary().splitlines()[2:5] == ["  input_ids differ     0", "  labels differ        1",
                                                 "  not attributable     0"]


def test_changed_ids_are_a_difference(demo, demo_prepared, smollm):
    changed = demo_prepared.map(lambda r, i: {"input_ids": r["input_ids"][:-1] + [0]} if i == 7 else {}, with_indices=True)
    report = verify(changed, smollm, raw=demo, sample=None)
    assert (report.matching, report.ids_differ, report.labels_differ) == (201, 1, 0)
    assert report.differences[0].row == 7 and report.differences[0].kind == "input_ids"
    assert report.differences[0].detail.startswith(f"{len(demo_prepared[7]['input_ids'])} prepared vs ")


def test_rows_after_dropped_ones_pair_with_their_records(demo, smollm):
    rows = demo.to_list()[:10]
    rows[2:2] = [{"messages": [{"role": "user", "content": "no answer"}]}]
    rows[6:6] = [{"messages": [{"role": "user", "content": "none either"}]}]
    raw = datasets.Dataset.from_list(rows)
    ds = prepare(raw, smollm, on_invalid="drop")
    assert ds.num_rows == 10
    report = verify(_flip(ds, 5, 40), smollm, raw=raw, sample=None, on_invalid="drop")
    assert (report.rows, report.matching, report.labels_differ) == (10, 9, 1)
    diff = report.differences[0]
    assert (diff.row, diff.record) == (5, 7)  # records 2 and 6 were dropped before it
    with pytest.raises(SFTPrepError, match=r"^verify\(\): the prepared dataset has 10 rows, but preparing raw \(12 "
                       r"records\) with these options keeps 12, so its rows cannot be paired with their records\. "
                       r"Pass verify\(\) the options prepare\(\) was called with"):
        verify(ds, smollm, raw=demo.select(range(12)), sample=None, on_invalid="drop")


def test_options_reach_the_reference(demo, smollm):
    for options in ({"max_length": 64}, {"train_on": "last"}, {"max_length": 64, "truncation_side": "left"}):
        ds = prepare(demo, smollm, **options)
        report = verify(ds, smollm, raw=demo, sample=None, **options)
        assert report.matching == report.checked == ds.num_rows, options
    assert prepare(demo, smollm, max_length=64).num_rows == 155  # 47 rows truncated to no trained token


def test_sharegpt_and_alpaca_records(demo, smollm):
    chats = [r for r in demo.to_list()
             if all(isinstance(m["content"], str) and m["role"] in ("system", "user", "assistant") for m in r["messages"])]
    names = {"user": "human", "assistant": "gpt", "system": "system"}
    sharegpt = datasets.Dataset.from_list(
        [{"conversations": [{"from": names[m["role"]], "value": m["content"]} for m in r["messages"]]} for r in chats])
    report = verify(prepare(sharegpt, smollm), smollm, raw=sharegpt, sample=None)
    assert (report.checked, report.matching) == (201, 201)
    alpaca = datasets.load_dataset("json", data_files=str(DATA / "demo_alpaca.jsonl"), split="train")
    for options in ({}, {"alpaca_prompt": "stanford"}):
        report = verify(prepare(alpaca, smollm, **options), smollm, raw=alpaca, sample=None, **options)
        assert (report.checked, report.matching) == (200, 200), options


def test_an_answer_that_repeats_the_question_is_attributed(demo, smollm):
    """The reference searches a message's text past what its prefix rendering shares with the whole one,
    so an answer equal to the question is placed at its own occurrence (0.4's first verify() counted it
    not attributable: the search started from the question's own text)."""
    raw = datasets.Dataset.from_list(demo.to_list()[:5] + [SAME])
    ds = prepare(raw, smollm)
    assert smollm.decode([t for t in ds[5]["labels"] if t != -100]) == "Paris<|im_end|>"  # the answer's own
    report = verify(ds, smollm, raw=raw, sample=None)
    assert (report.matching, report.differing, report.not_attributable) == (6, 0, 0)


# the shapes of the ShareGPT V3 rows 0.4.0's reference could not attribute (benchmarks/real_data.py, issue 26)
SHELL = [("human", "Pretend you are a shell."), ("gpt", "Sure."), ("human", "ls"), ("gpt", "Desktop\nMusic"),
         ("human", "cd Desktop"), ("gpt", "(no output)"), ("human", "touch a"), ("gpt", "(no output)"),
         ("human", "cd .."), ("gpt", "(no output)"), ("human", "ls"), ("gpt", "Desktop\nMusic")]
SHORT = [("human", "hi"), ("gpt", "Hello! How are you?"), ("human", "e"), ("gpt", "Did you mean something?"),
         ("human", "t"), ("gpt", "Tell me more.")]


@pytest.mark.parametrize("turns", [SHELL, SHORT], ids=["repeated_texts", "text_inside_a_control_token"])
def test_repeated_and_one_letter_messages_are_attributed(llama3, turns):
    """A command typed twice with the same answer (a shell role-play): each answer is searched after the
    earlier messages found in order, not after the last copy of their text. A user message 'e' or 't' is in
    '<|eot_id|>': control tokens are not message text when a region is checked for other messages."""
    raw = datasets.Dataset.from_list([{"conversations": [{"from": f, "value": v} for f, v in turns]}])
    ds = prepare(raw, llama3)
    answers = [v for f, v in turns if f == "gpt"]
    assert llama3.decode([t for t in ds[0]["labels"] if t != -100]) == "".join(a + "<|eot_id|>" for a in answers)
    report = verify(ds, llama3, raw=raw, sample=None)
    assert (report.matching, report.differing, report.not_attributable) == (1, 0, 0), report.unattributed


def _call(name, args):
    return {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": name, "arguments": args}}]}


# glaive's shapes (LLaMA-Factory's glaive_toolcall demo, benchmarks/real_tools.py): one function called twice,
# and the user's word copied into the second call's arguments
GLAIVE = [{"role": "user", "content": "Is racecar a palindrome?"}, _call("check_palindrome", {"text": "racecar"}),
          {"role": "tool", "content": '{"result": true}'}, {"role": "assistant", "content": "Yes."},
          {"role": "user", "content": "Computer"}, _call("check_palindrome", {"text": "Computer"}),
          {"role": "tool", "content": '{"result": false}'}, {"role": "assistant", "content": "No."}]


def test_a_function_called_twice_with_the_users_words_is_attributed(qwen):
    """Before: the second call's region started inside it (the search for the earlier messages' end found
    the first call's argument names there), then the call was refused as holding another message's text
    (the function name, the user's 'Computer'): 111 of 600 glaive rows differed, then 112 not attributable."""
    raw = datasets.Dataset.from_list([{"messages": GLAIVE}])
    ds = prepare(raw, qwen)
    call = '<tool_call>\n{{"name": "check_palindrome", "arguments": {{"text": "{}"}}}}\n</tool_call><|im_end|>'
    assert qwen.decode([t for t in ds[0]["labels"] if t != -100]) == (
        call.format("racecar") + "Yes.<|im_end|>" + call.format("Computer") + "No.<|im_end|>")
    report = verify(ds, qwen, raw=raw, sample=None)
    assert (report.matching, report.differing, report.not_attributable) == (1, 0, 0), report.unattributed


def test_spans_off_an_answers_own_occurrence_are_not_attributable(smollm):
    """verify()'s guard on the reference: spans that miss a trained answer's own occurrence (walking the
    messages from the last one back) make the row not attributable, with the message and its text named."""
    from hf_sftprep.datasets.check import _out_of_order

    msgs = SAME["messages"]
    text = smollm.apply_chat_template(msgs, tokenize=False)
    own = text.rindex("Paris")
    assert _out_of_order(text, msgs, [False, True], [(own, len(text))], last=False) is None
    got = _out_of_order(text, msgs, [False, True], [(text.index("Paris"), own)], last=False)
    assert got == ("text_elsewhere", "message 1's text ('Paris') also occurs elsewhere in the rendering, and the "
                                     "prefix renderings place the answer there")


def test_report_to_dict(demo, demo_prepared, smollm):
    out = verify(demo_prepared, smollm, raw=demo, sample=3).to_dict()
    assert {k: out[k] for k in ("rows", "checked", "matching", "differing", "not_attributable")} == {
        "rows": 202, "checked": 3, "matching": 3, "differing": 0, "not_attributable": 0}
    assert isinstance(VerifyReport().summary(), str)


def test_errors(demo, demo_prepared, smollm):
    with pytest.raises(SFTPrepError, match=r"^verify\(\): got no raw; expected the records the dataset was prepared "
                       r"from, as a datasets\.Dataset: verify\(ds, tok, raw=raw\)\.$"):
        verify(demo_prepared, smollm)
    with pytest.raises(SFTPrepError, match=r"^verify\(\): the dataset has no input_ids, labels column \(columns: "
                       r"messages\); expected the output of prepare\(\)\. Call verify\(prepare\(raw, tok\), tok, raw=raw\)\.$"):
        verify(demo, smollm, raw=demo)
    with pytest.raises(SFTPrepError, match=r"^verify\(\): sample=0; expected a positive number of rows, or None"):
        verify(demo_prepared, smollm, raw=demo, sample=0)
    with pytest.raises(SFTPrepError, match=r"^verify\(\) got a DatasetDict; expected the datasets\.Dataset prepare\(\) "
                       r"returned\. Pass one split, e\.g\. ds\['train'\]\.$"):
        verify(datasets.DatasetDict({"train": demo_prepared}), smollm, raw=demo)
    with pytest.raises(SFTPrepError, match=r"^verify\(\): the dataset is packed \(it has seq_lengths\)"):
        verify(pack(demo_prepared, 1024), smollm, raw=demo)
    with pytest.raises(SFTPrepError, match=r"^verify\(\): the prepared dataset has 202 rows but raw has 5 records; "
                       r"prepare\(\) never adds rows\."):
        verify(demo_prepared, smollm, raw=demo.select(range(5)))


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_verify_a_records_file(tok_path):
    proc = cli("verify", str(DATA / "demo_chat.jsonl"), "--tokenizer", tok_path, "--sample", "all")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "rows: 202 in, 202 out; dropped: none"
    assert proc.stdout.rstrip().endswith(CLEAN)
    bad = cli("verify", str(DATA / "demo_chat.jsonl"), "--tokenizer", tok_path, "--sample", "0")
    assert bad.returncode == 2
    assert bad.stderr == ("hf-sftprep: error: --sample 0: expected a positive number of rows, e.g. --sample 1000, "
                          "or --sample all.\n")


def test_cli_verify_a_build_folder(tmp_path, tok_path, demo, smollm):
    out = tmp_path / "built"
    built = cli("build", str(DATA / "demo_chat.jsonl"), "--tokenizer", tok_path, "--out", str(out))
    assert built.returncode == 0, built.stderr
    alone = cli("verify", str(out))
    assert alone.returncode == 2
    assert alone.stderr.startswith(f"hf-sftprep: error: {out} is a prepared dataset; it holds no records (prepare() "
                                   "consumes them). Pass the records it was built from with --records FILE")
    proc = cli("verify", str(out), "--records", str(DATA / "demo_chat.jsonl"), "--sample", "all")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip() == CLEAN

    tampered = tmp_path / "tampered"
    save_prepared(tampered, _flip(datasets.load_from_disk(str(out)), 3, 40), smollm, json.loads((out / "stats.json").read_text()))
    proc = cli("verify", str(tampered), "--records", str(DATA / "demo_chat.jsonl"), "--sample", "all")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[1:6] == [
        "  matching           201", "  input_ids differ     0", "  labels differ        1", "  not attributable     0",
        "row 3 (record 3): labels differ: 1 token(s), first token 40 (' '): prepared masks it, the reference trains it",
    ]


def test_cli_verify_refuses_a_split_build(tmp_path, tok_path):
    out = tmp_path / "split"
    built = cli("build", str(DATA / "demo_chat.jsonl"), "--tokenizer", tok_path, "--out", str(out), "--test-size", "10")
    assert built.returncode == 0, built.stderr
    proc = cli("verify", str(out), "--records", str(DATA / "demo_chat.jsonl"))
    assert proc.returncode == 2
    assert proc.stderr == (f"hf-sftprep: error: {out} was built with --test-size: its rows were shuffled into splits "
                           "and cannot be paired with the records. Verify the records file instead: hf-sftprep verify "
                           "FILE --tokenizer TOK.\n")
