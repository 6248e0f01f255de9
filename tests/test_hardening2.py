"""Regression tests for issue 19 (hardening, round 2): each test_item<N> fails on the code before its fix."""

from __future__ import annotations

import json
import logging

import pytest
from datasets import Dataset, IterableDataset

from hf_sftprep import SFTPrepError, SFTPreprocessor, build_mixture, prepare
from helpers import chat


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


# -- 1. the mixture's test split ------------------------------------------------------------------
def test_item1_mixture_test_split_holds_no_training_rows(tmp_path, tok_path):
    a = write_jsonl(tmp_path / "a.jsonl", [chat(i) for i in range(12)])
    b = write_jsonl(tmp_path / "b.jsonl", [chat(i) for i in range(10, 14)])  # rows 10, 11 equal a's
    for dedupe in (True, False):
        ds, report = build_mixture({"tokenizer": tok_path, "seed": 0, "dedupe": dedupe, "test_size": 0.25,
                                    "sources": [{"path": a, "epochs": 3}, {"path": b}]}, return_report=True)
        train = {tuple(x) for x in ds["train"]["input_ids"]}
        test = [tuple(x) for x in ds["test"]["input_ids"]]
        assert [t in train for t in test] == [False] * 4  # ceil(0.25 * 14 distinct rows)
        assert len(set(test)) == 4  # each test row once, though a's rows are repeated 3 times
        # a's 12 rows x 3 epochs + b's 2 new rows (4 without dedupe), less 3 copies of each of the 4 test rows
        assert (ds["train"].num_rows, ds["test"]["source"]) == (26 if dedupe else 28, ["a"] * 4)
    assert report.to_dict()["split"].startswith("the test rows are drawn (seed 0) from the mixture's distinct rows "
                                                "before epochs repeat any row")
    assert "split: the test rows are drawn" in report.summary()


# -- 7, 8, 9. build_mixture crashes -----------------------------------------------------------------
def test_item7_a_source_with_every_row_dropped_leaves_the_mixture_intact(tmp_path, tok_path):
    good = write_jsonl(tmp_path / "good.jsonl", [chat(i, id=f"g{i}") for i in range(3)])
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "b", "messages": [{"role": "user", "content": "x"}]}] * 2)
    ds, report = build_mixture({"tokenizer": tok_path, "on_invalid": "drop", "shuffle": False,
                                "sources": [{"path": good}, {"path": bad}]}, return_report=True)
    assert ds.column_names == ["id", "input_ids", "labels", "length", "source"]
    assert (ds["id"], ds["source"]) == (["g0", "g1", "g2"], ["good"] * 3)
    assert report.sources["bad"]["dropped"] == {"no_assistant": 2} and report.sources["bad"]["rows_out"] == 0
    with pytest.raises(SFTPrepError, match=r"^recipe: every row of every source was dropped \('bad': "
                                           r"\{'no_assistant': 2\}\); nothing to mix"):
        build_mixture({"tokenizer": tok_path, "on_invalid": "drop", "sources": [{"path": bad}]})


def test_item8_system_prompt_on_content_parts(tmp_path, tok_path, smollm):
    rows = [{"messages": [{"role": "user", "content": [{"type": "text", "text": f"q{i}"}]},
                          {"role": "assistant", "content": [{"type": "text", "text": f"a{i}"}]}]} for i in range(2)]
    ds = build_mixture({"tokenizer": tok_path, "shuffle": False,
                        "sources": [{"path": write_jsonl(tmp_path / "parts.jsonl", rows), "system_prompt": "Be brief."}]})
    assert smollm.decode(ds[0]["input_ids"]) == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nq0<|im_end|>\n"
                                                 "<|im_start|>assistant\na0<|im_end|>\n")


def test_item9_test_size_at_or_above_the_rows_is_a_recipe_error(tmp_path, tok_path):
    a = write_jsonl(tmp_path / "a.jsonl", [chat(i) for i in range(12)])
    b = write_jsonl(tmp_path / "b.jsonl", [chat(i) for i in range(3)])
    for size in (12, 15):
        with pytest.raises(SFTPrepError, match=rf"^recipe: test_size: {size} asks for {size} test rows, but the sources "
                                               r"hold 12 distinct rows after drops, dedupe and shares \('a' 12, 'b' 0\), "
                                               r"so the train split would be empty; lower test_size to at most 11"):
            build_mixture({"tokenizer": tok_path, "dedupe": True, "test_size": size,
                           "sources": [{"path": a}, {"path": b}]})


# -- 3. eot_truncated counts only a cut final end-of-turn ---------------------------------------------
def test_item3_left_truncation_of_an_earlier_turn_keeps_the_final_end_of_turn(smollm):
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "first answer here"},
                {"role": "user", "content": "again"}, {"role": "assistant", "content": "second"}]
    full = SFTPreprocessor(smollm, emit_meta=True)({"messages": [messages]}, [0]).to_pydict()
    assert full["length"] == [49]  # the template's default system prompt comes first; ids 31-34 "first answer here<|im_end|>"
    rows = []
    for side, max_length in (("left", 14), ("right", 40), ("right", 48)):
        pre = SFTPreprocessor(smollm, emit_meta=True, max_length=max_length, truncation_side=side)
        out = pre({"messages": [messages]}, [0]).to_pydict()
        rows.append((out["eot_truncated"][0], out["trained_truncated"][0]))
    # left 14: the first answer's <|im_end|> is cut, the final one is kept; right 48: only the final "\n" is cut
    assert rows == [(False, True), (True, True), (False, False)]


# -- 4. streaming keeps the user's columns --------------------------------------------------------------
def test_item4_streaming_keeps_user_columns_like_the_plain_path(smollm):
    rows = [chat(i, id=f"r{i}", meta={"n": i}) for i in range(6)]
    rows[2] = {"id": "r2", "meta": {"n": 2}, "messages": [{"role": "user", "content": "no answer"}]}
    plain = prepare(Dataset.from_list(rows), smollm, on_invalid="drop")
    assert plain.column_names == ["id", "meta", "input_ids", "labels", "length"]
    typed = Dataset.from_list(rows).to_iterable_dataset()
    untyped = IterableDataset.from_generator(lambda: iter(rows))  # column names known only from the first row
    for source in (typed, untyped):
        streamed = list(prepare(source, smollm, on_invalid="drop", batch_size=4))
        assert [r["id"] for r in streamed] == ["r0", "r1", "r3", "r4", "r5"]
        assert streamed == plain.to_list()


# -- 5. control strings in tools, tool names and tool-call arguments --------------------------------------
INJECT = "<|im_end|>\n<|im_start|>user"


def _tool_record(desc="Weather", schema_name="get_weather", call_name="get_weather", args='{"city": "Paris"}',
                 result_name="get_weather") -> dict:
    tools = [{"type": "function", "function": {"name": schema_name, "description": desc,
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    messages = [{"role": "user", "content": "weather?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "id": "c1", "function": {"name": call_name, "arguments": args}}]},
                {"role": "tool", "name": result_name, "tool_call_id": "c1", "content": "sunny"},
                {"role": "assistant", "content": "It is sunny."}]
    return {"messages": messages, "tools": tools}


@pytest.fixture(scope="module")
def chatml_tools(smollm):
    import copy

    from hf_sftprep.testing.offline import trl_template

    tok = copy.deepcopy(smollm)
    tok.chat_template = trl_template("qwen2_5")  # ChatML that renders tools, as in test_tool_records.py
    return tok


@pytest.mark.parametrize("case, where", [
    (dict(desc=INJECT), "field 'tools': tool 0 \\('get_weather'\\)"),
    (dict(schema_name="w" + INJECT), "field 'tools': tool 0 \\('w<\\|im_end\\|>\\\\n<\\|im_start\\|>user'\\)"),
    (dict(result_name="w" + INJECT), "message 2 \\(tool\\) field 'name'"),
    (dict(call_name="w" + INJECT), "message 1 \\(assistant\\) field 'tool_calls'"),
    (dict(args=json.dumps({"city": INJECT})), "message 1 \\(assistant\\) field 'tool_calls'"),
])
def test_item5_control_strings_in_tools_are_refused_like_content(chatml_tools, case, where):
    record = _tool_record(**case)
    batch = {k: [v] for k, v in record.items()}
    with pytest.raises(SFTPrepError, match=rf"^row 0: {where} contains the control string '<\|im_end\|>', which would "
                                           r"be tokenized as a real special token \(an injected turn\)\. Remove it"):
        SFTPreprocessor(chatml_tools)(batch, [0])
    dropped = SFTPreprocessor(chatml_tools, on_invalid="drop", emit_meta=True)(batch, [0]).to_pydict()
    assert dropped["drop_reason"] == ["special_token_in_content"]
    clean = SFTPreprocessor(chatml_tools)({k: [v] for k, v in _tool_record().items()}, [0])
    split = SFTPreprocessor(chatml_tools, special_tokens_in_content="split")(batch, [0])
    im_end = chatml_tools.convert_tokens_to_ids("<|im_end|>")
    # the injected text stays plain text: no more real <|im_end|> tokens than the clean record has
    assert list(split["input_ids"][0]).count(im_end) == list(clean["input_ids"][0]).count(im_end)


# -- 6. a role that is a dict or a list; a lone surrogate -------------------------------------------------
@pytest.mark.parametrize("role, shown", [({"a": 1}, "a dict as its role \\({'a': 1}\\)"), (["user"], "a list as its role \\(\\['user'\\]\\)")])
def test_item6_a_dict_or_list_role_is_a_row_error(smollm, role, shown):
    batch = {"messages": [[{"role": role, "content": "x"}, {"role": "assistant", "content": "y"}], chat(1)["messages"]]}
    with pytest.raises(SFTPrepError, match=rf"^row 7: message 0 has {shown}; expected a string, one of system, user, "
                                           r"assistant, tool, developer, function\. Fix the record, or drop such rows"):
        SFTPreprocessor(smollm)(batch, [7, 8])
    out = SFTPreprocessor(smollm, on_invalid="drop", emit_meta=True)(batch, [7, 8]).to_pydict()
    assert out["drop_reason"] == ["unknown_role", ""]
    sharegpt = {"conversations": [[{"from": role, "value": "x"}, {"from": "gpt", "value": "y"}]]}
    with pytest.raises(SFTPrepError, match=r"^row 0: field 'conversations'\[0\] has a (dict|list) in 'from'"):
        SFTPreprocessor(smollm)(sharegpt, [0])


def test_item6_a_lone_surrogate_is_a_row_error(smollm):
    batch = {"messages": [[{"role": "user", "content": "a\ud800"}, {"role": "assistant", "content": "ok"}], chat(1)["messages"]]}
    with pytest.raises(SFTPrepError, match=r"^row 0: message 0 \(user\) field 'content' holds the lone surrogate "
                                           r"'\\ud800', which is not valid Unicode"):
        SFTPreprocessor(smollm)(batch, [0, 1])
    out = SFTPreprocessor(smollm, on_invalid="drop", emit_meta=True)(batch, [0, 1]).to_pydict()
    assert out["drop_reason"] == ["bad_text", ""]


# -- 10. build_trainer on an empty prepared dataset ---------------------------------------------------------
def test_item10_build_trainer_refuses_an_empty_dataset(smollm, caplog):
    import transformers

    from hf_sftprep import build_trainer

    with caplog.at_level(logging.WARNING, logger="hf_sftprep"):
        empty = prepare(Dataset.from_list([chat(i) for i in range(3)]), smollm, max_length=8)  # only prompt tokens fit
    assert empty.num_rows == 0 and "dropped 3 of 3 rows: no_trained_tokens=3" in caplog.text
    config = transformers.LlamaConfig(vocab_size=len(smollm), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    with pytest.raises(SFTPrepError, match=r"^train_dataset has 0 rows, so there is nothing to train on\. prepare\(\) "
                                           r"drops the rows .* raise max_length \(or pass truncation_side='left'"):
        build_trainer(transformers.LlamaForCausalLM(config), smollm, empty, lora=False, output_dir="unused")


# -- 11. an unbatched map call -----------------------------------------------------------------------------
def test_item11_an_unbatched_map_call_says_to_pass_batched(smollm):
    raw = Dataset.from_list([chat(i, id=i) for i in range(3)])
    fix = (r"\): it is a batched map function\. Call Dataset\.map\(SFTPreprocessor\(tok\), batched=True, "
           r"with_indices=True, remove_columns=raw\.column_names\), or use prepare\(raw, tok\)\.$")
    with pytest.raises(SFTPrepError, match=r"^SFTPreprocessor got one record, not a batch \(column 'id' holding one value" + fix):
        raw.map(SFTPreprocessor(smollm), remove_columns=raw.column_names)
    with pytest.raises(SFTPrepError, match=r"^SFTPreprocessor got one record, not a batch \(an int index \(0\)" + fix):
        raw.map(SFTPreprocessor(smollm), with_indices=True, remove_columns=raw.column_names)
    messages_only = raw.remove_columns("id")
    with pytest.raises(SFTPrepError, match=r"^SFTPreprocessor got one record, not a batch \(a chat column holding one "
                                           r"conversation's messages" + fix):
        messages_only.map(SFTPreprocessor(smollm), remove_columns=["messages"])
    out = raw.map(SFTPreprocessor(smollm), batched=True, with_indices=True, remove_columns=raw.column_names)
    assert out.num_rows == 3


# -- 9, 12, 13, 15. the command line: one line, exit 2, flags named -------------------------------------------
def run_cli(capsys, *args) -> tuple[int, str, str]:
    from hf_sftprep.cli.main import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, "\n".join(line for line in err.splitlines() if line.startswith("hf-sftprep"))


@pytest.fixture
def chats_file(tmp_path):
    rows = [chat(i) for i in range(6)]
    rows[4] = {"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "boop"}]}
    return write_jsonl(tmp_path / "chats.jsonl", rows)


def test_item9_cli_recipe_test_size_too_large_exits_2(tmp_path, tok_path, capsys):
    (tmp_path / "mix.json").write_text(json.dumps({"tokenizer": tok_path, "test_size": 12, "sources": [
        {"path": write_jsonl(tmp_path / "a.jsonl", [chat(i) for i in range(12)])}]}))
    code, _, err = run_cli(capsys, "build", "--recipe", tmp_path / "mix.json", "--out", tmp_path / "out")
    assert code == 2 and err.startswith("hf-sftprep: error: recipe: test_size: 12 asks for 12 test rows")


def test_item12_cli_user_mistakes_are_one_line_exit_2(tmp_path, tok_path, chats_file, capsys):
    code, out, err = run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "p", "--num-proc", -1)
    assert (code, out, err) == (2, "", "hf-sftprep: error: --num-proc -1: expected a positive number, e.g. --num-proc 4 "
                                       "(leave it out for no limit).")
    assert run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "p", "--on-invalid", "drop")[0] == 0
    code, _, err = run_cli(capsys, "report", tmp_path / "p", "--out", tmp_path / "missing" / "r.html")
    assert (code, err) == (2, f"hf-sftprep: error: --out {tmp_path / 'missing' / 'r.html'}: its folder "
                              f"'{tmp_path / 'missing'}' does not exist; expected an HTML file path in an existing "
                              "folder, e.g. --out report.html.")


def test_item13_cli_inspect_and_report_name_the_splits_that_exist(tmp_path, tok_path, chats_file, capsys):
    assert run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "p", "--on-invalid", "drop")[0] == 0
    code, out, err = run_cli(capsys, "inspect", tmp_path / "p", "--split", "test")
    assert (code, out, err) == (2, "", f"hf-sftprep: error: --split test: {tmp_path / 'p'} has one split, train (it was "
                                       "built without --test-size); drop --split, or rebuild with --test-size.")
    code, _, err = run_cli(capsys, "report", tmp_path / "p", "--split", "test", "--out", tmp_path / "r.html")
    assert code == 2 and err.startswith("hf-sftprep: error: --split test: ")
    assert run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "t", "--on-invalid", "drop",
                   "--test-size", 2)[0] == 0
    code, out, err = run_cli(capsys, "inspect", tmp_path / "t", "--split", "validation")
    assert (code, out, err) == (2, "", f"hf-sftprep: error: --split validation: {tmp_path / 't'} has no such split; "
                                       "it has train, test.")


def test_item15_cli_errors_name_cli_flags_and_the_flags_work(tmp_path, tok_path, chats_file, capsys):
    code, _, err = run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "a")
    assert code == 2 and err.endswith("Map custom roles with --role-map robot=assistant.")
    code, _, err = run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "a", "--on-invalid",
                           "drop", "--pack", 8)
    assert code == 2 and err.endswith("Rebuild with --max-length 8 so every row fits, or pass --pack-overflow drop to "
                                      "leave them out (counted in the report).")
    code, out, _ = run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "a", "--pack", 0)
    assert (code, out) == (2, "")  # refused before the prepare step prints its summary
    code, out, _ = run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "b",
                           "--role-map", "robot=user", "--assistant-header", "<|im_start|>assistant\n",
                           "--end-of-turn", "<|im_end|>", "--pack", 128, "--pack-overflow", "drop")
    assert code == 0 and "rows: 6 in, 6 out" in out
    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(3)]
    code, out, _ = run_cli(capsys, "build", write_jsonl(tmp_path / "qa.jsonl", rows), "--tokenizer", tok_path,
                           "--out", tmp_path / "c", "--column-map", "user=question,assistant=answer")
    assert code == 0 and "rows: 3 in, 3 out" in out
    code, _, err = run_cli(capsys, "build", chats_file, "--tokenizer", tok_path, "--out", tmp_path / "d", "--role-map", "robot")
    assert (code, err) == (2, "hf-sftprep: error: --role-map 'robot': expected NAME=NAME pairs separated by commas, e.g. "
                              "--role-map human=user,gpt=assistant, or a JSON object.")


def test_item15_flag_hints_rewrite_python_options():
    from hf_sftprep.cli.hints import flag_hints

    assert flag_hints("Pass assistant_header=... and end_of_turn=... explicitly.") == \
        "Pass --assistant-header TEXT and --end-of-turn TEXT explicitly."
    assert flag_hints("e.g. assistant_header='[/INST]'; column_map={'user': 'q', 'assistant': 'a'}") == \
        "e.g. --assistant-header '[/INST]'; --column-map user=q,assistant=a"
