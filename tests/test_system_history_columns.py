"""The ``system`` column of ShareGPT and Alpaca rows and the ``history`` column of Alpaca rows, read as
LLaMA-Factory (and Axolotl's ``alpaca_w_system``) write them; records loaded with ``load_dataset("json")``."""

from __future__ import annotations

import json

import pytest
from datasets import DatasetDict, load_dataset, load_from_disk
from helpers import END_OF_TURN, cli, reference_labels, trained_text

from hf_sftprep import RowError, prepare
from hf_sftprep.datasets.mixture import build_mixture
from hf_sftprep.datasets.schema import user_columns
from hf_sftprep.records.dispatch import to_conversation

SMOL_DEFAULT = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
# SmolLM2: "<|im_start|>system\nYou are terse.<|im_end|>\n" / "user\n2+2?<|im_end|>\n" / "assistant\n4<|im_end|>\n"
TERSE = [1, 9690, 198, 2683, 359, 1733, 313, 30, 2, 198]
ASK = [1, 4093, 198, 34, 27, 34, 47, 2, 198]
FOUR = [1, 520, 9531, 198, 36, 2, 198]
ASK_AGAIN, SIX = [1, 4093, 198, 3528, 216, 35, 27, 35, 47, 2, 198], [1, 520, 9531, 198, 38, 2, 198]
X = -100


def load_jsonl(tmp_path, rows: list[dict]):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_dataset("json", data_files=str(path), split="train")


def sharegpt(system: object = None, first_system: str | None = None) -> dict:
    turns = [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]
    if first_system is not None:
        turns.insert(0, {"from": "system", "value": first_system})
    return {"conversations": turns, "system": system}


def qa(system: str | None = None) -> list[dict]:
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]


def test_sharegpt_system_column_becomes_the_system_message(tmp_path, smollm):
    rows = [{"id": i, **sharegpt(s)} for i, s in enumerate(["You are terse.", None, ""])]
    ds = load_jsonl(tmp_path, rows)
    out = prepare(ds, smollm)
    # the column is read, so it is not kept beside the tokens; 'id' is
    assert out.column_names == ["id", "input_ids", "labels", "length"]
    assert out[0]["input_ids"] == TERSE + ASK + FOUR
    assert out[0]["labels"] == [X] * 23 + [36, 2, X]
    assert smollm.decode(out[0]["input_ids"]) == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n")
    # null and "" mean no system prompt: the template's default one
    assert smollm.decode(out[1]["input_ids"]).startswith(SMOL_DEFAULT)
    assert out[1]["input_ids"] == out[2]["input_ids"]
    for i, system in enumerate(["You are terse.", None, None]):
        assert out[i]["input_ids"] == smollm.apply_chat_template(qa(system), tokenize=True)["input_ids"]
        assert (out[i]["input_ids"], out[i]["labels"]) == reference_labels(smollm, qa(system), END_OF_TURN["smollm"])


def test_sharegpt_system_turn_and_column(tmp_path, smollm):
    same = prepare(load_jsonl(tmp_path, [sharegpt("You are terse.", first_system="You are terse.")]), smollm)
    assert same[0]["input_ids"] == TERSE + ASK + FOUR  # one system message, not two
    with pytest.raises(RowError, match=(
            r"^row 0: field 'system' is 'You are terse.' but field 'conversations' opens with a different system "
            r"turn \('Be kind.'\); expected one system prompt. Keep one of them \(or make them equal\), or drop "
            r"such rows with on_invalid='drop'.$")) as info:
        to_conversation("sharegpt", 0, sharegpt("You are terse.", first_system="Be kind."))
    assert info.value.reason == "conflicting_system"


# LLaMA-Factory's alpaca layout; the second and third rows have neither column (null, "", [])
ALPACA_ROWS = [
    {"instruction": "And 3+3?", "input": "", "output": "6", "system": "You are terse.", "history": [["2+2?", "4"]]},
    {"instruction": "2+2?", "input": "", "output": "4", "system": None, "history": None},
    {"instruction": "2+2?", "output": "4", "system": "", "history": []},
]


def test_alpaca_system_and_history(tmp_path, smollm):
    ds = load_jsonl(tmp_path, ALPACA_ROWS)
    messages = [*qa("You are terse."), {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6"}]
    out = prepare(ds, smollm)
    assert out.column_names == ["input_ids", "labels", "length"]
    assert out[0]["input_ids"] == TERSE + ASK + FOUR + ASK_AGAIN + SIX
    # train_on="all" (the default) trains the history's answers, as LLaMA-Factory does without mask_history
    assert out[0]["labels"] == [X] * 23 + [36, 2] + [X] * 16 + [38, 2, X]
    assert trained_text(smollm, out[0]["labels"]) == "4<|im_end|>6<|im_end|>"
    assert out[0]["input_ids"] == smollm.apply_chat_template(messages, tokenize=True)["input_ids"]
    assert (out[0]["input_ids"], out[0]["labels"]) == reference_labels(smollm, messages, END_OF_TURN["smollm"])
    for i in (1, 2):  # null / "" / [] are no system prompt and no history
        assert smollm.decode(out[i]["input_ids"]).startswith(SMOL_DEFAULT)
        assert out[i]["input_ids"] == smollm.apply_chat_template(qa(), tokenize=True)["input_ids"]
    last = prepare(ds, smollm, train_on="last")
    assert last[0]["input_ids"] == out[0]["input_ids"]
    assert last[0]["labels"] == [X] * 41 + [38, 2, X]  # like LLaMA-Factory's mask_history: the last answer only


ALPACA = {"instruction": "2+2?", "output": "4"}


@pytest.mark.parametrize(
    "fmt, record, reason, pattern",
    [
        ("sharegpt", sharegpt(7), "bad_content",
         r"row 3: field 'system' is a int \(7\); expected a string \(the row's system prompt\), or null / \"\" for "
         r"none. Convert it to text, or drop such rows with on_invalid='drop'.$"),
        ("alpaca", {**ALPACA, "system": ["Be terse."]}, "bad_content",
         r"row 3: field 'system' is a list \(\['Be terse.'\]\); expected a string"),
        ("alpaca", {**ALPACA, "history": "2+2? 4"}, "bad_messages",
         r"row 3: field 'history' is a str \('2\+2\? 4'\); expected a list of \[instruction, response\] pairs, or "
         r"null / \[\] for none. Write the turns before this one as \[\[instruction, response\], ...\], or drop "
         r"such rows with on_invalid='drop'.$"),
        ("alpaca", {**ALPACA, "history": [["a", "b"], ["q", "r", "s"]]}, "bad_messages",
         r"row 3: field 'history'\[1\] is a list \(\['q', 'r', 's'\]\); expected an \[instruction, response\] pair "
         r"of two strings."),
        ("alpaca", {**ALPACA, "history": [["q", None]]}, "bad_messages",
         r"row 3: field 'history'\[0\] is a list \(\['q', None\]\); expected an \[instruction, response\] pair"),
        ("alpaca", {**ALPACA, "history": [["q", " "]]}, "empty_answer",
         r"row 3: field 'history'\[0\] has response ' '; expected a non-empty answer \(history answers are "
         r"trained\). Remove the pair, or drop such rows with on_invalid='drop'.$"),
    ],
)
def test_bad_values_name_row_column_and_fix(fmt, record, reason, pattern):
    with pytest.raises(RowError, match=pattern) as info:
        to_conversation(fmt, 3, record)
    assert info.value.reason == reason and info.value.row == 3


def test_bad_values_drop_and_count(tmp_path, smollm):
    rows = [{**ALPACA, "system": None, "history": None}, {**ALPACA, "system": None, "history": [["q", ""]]}]
    ds, report = prepare(load_jsonl(tmp_path, rows), smollm, on_invalid="drop", return_report=True)
    assert report.dropped == {"empty_answer": 1} and ds.num_rows == 1


def test_stanford_prompt_refuses_system_and_history(tmp_path, smollm):
    rows = [{**ALPACA, "system": None, "history": []}, {**ALPACA, "system": "You are terse.", "history": None}]
    ds = load_jsonl(tmp_path, rows)
    with pytest.raises(RowError, match=(
            r"^row 1: field 'system' is 'You are terse.', but alpaca_prompt='stanford' writes one instruction and "
            r"its response under a fixed preamble, with no place for a system prompt or earlier turns; expected the "
            r"column null or empty. Use alpaca_prompt='chat' \(a tokenizer with a chat template\), remove the "
            r"column, or drop such rows with on_invalid='drop'.$")):
        prepare(ds, smollm, alpaca_prompt="stanford")
    with pytest.raises(RowError, match=r"^row 0: field 'history' holds 1 pair\(s\), but alpaca_prompt='stanford'"):
        prepare(load_jsonl(tmp_path, [{**ALPACA, "history": [["q", "a"]]}]), smollm, alpaca_prompt="stanford")
    kept, report = prepare(ds, smollm, alpaca_prompt="stanford", on_invalid="drop", return_report=True)
    assert report.dropped == {"unsupported_column": 1}
    assert smollm.decode(kept[0]["input_ids"]).startswith("Below is an instruction that describes a task.")


def test_the_columns_are_read_not_kept():
    assert user_columns(["id", "conversations", "tools", "system"], "sharegpt", None) == ["id"]
    assert user_columns(["id", "instruction", "output", "system", "history"], "alpaca", None) == ["id"]
    assert user_columns(["id", "messages", "system"], "openai", None) == ["id", "system"]  # not an OpenAI column


def test_recipe_system_prompt_leaves_a_row_with_its_own_alone(tmp_path, smollm, tok_path):
    (tmp_path / "sg.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [sharegpt("You are terse."), sharegpt()]))
    alpaca = [{**ALPACA, "system": "You are terse."}, {**ALPACA, "system": None}]
    (tmp_path / "al.jsonl").write_text("".join(json.dumps(r) + "\n" for r in alpaca))
    recipe = {"tokenizer": tok_path, "shuffle": False, "dedupe": False, "sources": [
        {"path": str(tmp_path / name), "system_prompt": "Be brief."} for name in ("sg.jsonl", "al.jsonl")]}
    ds = build_mixture(recipe)
    brief = smollm.apply_chat_template(qa("Be brief."), tokenize=True)["input_ids"]
    assert ds["input_ids"] == [TERSE + ASK + FOUR, brief] * 2


def test_cli_build_reads_the_columns(tmp_path, tok_path, smollm):
    data = tmp_path / "alpaca.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ALPACA_ROWS[:2]))
    proc = cli("build", str(data), "--tokenizer", tok_path, "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    ds = load_from_disk(str(tmp_path / "out"))
    ds = ds["train"] if isinstance(ds, DatasetDict) else ds
    plain = smollm.apply_chat_template(qa(), tokenize=True)["input_ids"]
    assert ds["input_ids"] == [TERSE + ASK + FOUR + ASK_AGAIN + SIX, plain]
    assert ds[0]["labels"] == [X] * 23 + [36, 2] + [X] * 16 + [38, 2, X]
