"""SFTPreprocessor: exact ids and labels on real tokenizers, and equivalence with a slow reference."""

from __future__ import annotations

import random

import numpy as np
import pytest
from helpers import END_OF_TURN, IGNORE, as_lists, random_conversation, reference_labels, trained_text

from hf_sftprep import SFTPreprocessor

SEED_MESSAGES = [
    {"role": "system", "content": "당신은 친절한 AI 어시스턴트입니다."},
    {"role": "user", "content": "안녕하세요, 오늘 날씨는 어떤가요?"},
    {"role": "assistant", "content": "안녕하세요! 오늘 날씨는 맑고 화창합니다."},
]


def run(tok, records: list[dict], **options) -> dict:
    columns = {k: [r[k] for r in records] for k in records[0]}
    return as_lists(SFTPreprocessor(tok, **options)(columns, list(range(len(records)))))


def test_seed_example_llama3(llama3):
    out = run(llama3, [{"messages": SEED_MESSAGES}])
    ids, labels = out["input_ids"][0], out["labels"][0]
    answer = llama3("안녕하세요! 오늘 날씨는 맑고 화창합니다.", add_special_tokens=False)["input_ids"]
    assert [t for t in labels if t != IGNORE] == answer + [128009]
    assert ids[:20] == [128000, 128006, 9125, 128007, 271, 65895, 83628, 34804, 108280, 104834, 24486,
                        15592, 101139, 30426, 25941, 95252, 29726, 80052, 13, 128009]
    assert ids.count(128000) == 1
    h = ids.index(78191) - 1
    assert ids[h : h + 4] == [128006, 78191, 128007, 271]
    assert labels[h : h + 4] == [IGNORE] * 4
    assert labels[h + 4 : h + 4 + len(answer) + 1] == answer + [128009]
    assert ids == llama3.apply_chat_template(SEED_MESSAGES, tokenize=True, return_dict=False)
    assert out["length"] == [len(ids)]


def test_seed_example_smollm_literal(smollm):
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    out = run(smollm, [{"messages": msgs}])
    ids, labels = out["input_ids"][0], out["labels"][0]
    assert ids == smollm.apply_chat_template(msgs, tokenize=True, return_dict=False)
    # default system prompt, then "<|im_start|>user\nHi<|im_end|>\n", then the assistant turn
    assert ids == [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407,
                   19712, 8182, 2, 198, 1, 4093, 198, 26843, 2, 198, 1, 520, 9531, 198, 19556, 17, 2, 198]
    # only "Hello" "!" and <|im_end|> are trained; header and the trailing "\n" are not
    assert labels == [IGNORE] * 31 + [19556, 17, 2, IGNORE]


@pytest.mark.parametrize("name", ["llama3", "qwen", "smollm"])
def test_every_assistant_turn_trained(request, name):
    tok = request.getfixturevalue(name)
    msgs = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "two"}, {"role": "assistant", "content": "second answer"}]
    out = run(tok, [{"messages": msgs}])
    assert trained_text(tok, out["labels"][0]) == f"first answer{END_OF_TURN[name]}second answer{END_OF_TURN[name]}"
    last = run(tok, [{"messages": msgs}], train_on="last")
    assert trained_text(tok, last["labels"][0]) == f"second answer{END_OF_TURN[name]}"
    everything = run(tok, [{"messages": msgs}], train_on_inputs=True)
    assert everything["labels"][0] == everything["input_ids"][0]


@pytest.mark.parametrize("name", ["llama3", "qwen", "smollm"])
@pytest.mark.parametrize("last_only", [False, True])
def test_reference_equivalence(request, name, last_only):
    """1,000 random multi-turn conversations: labels equal the prefix-rendering reference."""
    tok = request.getfixturevalue(name)
    rng = random.Random(1234)
    convs = [random_conversation(rng) for _ in range(1000 if not last_only else 300)]
    out = run(tok, [{"messages": c} for c in convs], train_on="last" if last_only else "all")
    for i, conv in enumerate(convs):
        ids, labels = reference_labels(tok, conv, END_OF_TURN[name], last_only=last_only)
        assert out["input_ids"][i] == ids, i
        assert out["labels"][i] == labels, (i, conv)


def test_boundary_trap_smollm(smollm):
    """ChatML's header '\\n' merges with an answer starting with newlines/spaces: the turn is still found."""
    answers = ["\n\ndef f():\n    pass", "   indented", "\n   x = 1", "\tTabbed"]
    records = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": a}]} for a in answers]
    out = run(smollm, records)
    for i, rec in enumerate(records):
        ids, labels = reference_labels(smollm, rec["messages"], "<|im_end|>")
        assert out["labels"][i] == labels
        assert sum(t != IGNORE for t in labels) > 1
        assert trained_text(smollm, labels).endswith("<|im_end|>")


def test_alpaca_chat_mode(llama3):
    recs = [{"instruction": "Add the numbers.", "input": "1 + 1", "output": "2"},
            {"instruction": "Say hi.", "input": "", "output": "Hi!"}]
    out = run(llama3, recs)
    assert [trained_text(llama3, x) for x in out["labels"]] == ["2<|eot_id|>", "Hi!<|eot_id|>"]
    expected = llama3.apply_chat_template(
        [{"role": "user", "content": "Add the numbers.\n\n1 + 1"}, {"role": "assistant", "content": "2"}],
        tokenize=True, return_dict=False)
    assert out["input_ids"][0] == expected


def test_alpaca_stanford_mode(llama3):
    recs = [{"instruction": "Add the numbers.", "input": "1 + 1", "output": "2"},
            {"instruction": "Say hi.", "input": "", "output": "Hi!"}]
    out = run(llama3, recs, alpaca_prompt="stanford")
    assert [trained_text(llama3, x) for x in out["labels"]] == ["2<|eot_id|>", "Hi!<|eot_id|>"]
    text = llama3.decode(out["input_ids"][1])
    assert text.startswith("<|begin_of_text|>Below is an instruction that describes a task. Write a response")
    assert text.endswith("### Instruction:\nSay hi.\n\n### Response:Hi!<|eot_id|>")
    assert "### Input:\n1 + 1\n\n### Response:" in llama3.decode(out["input_ids"][0])


def test_input_ids_equal_apply_chat_template(any_tok):
    rng = random.Random(7)
    convs = [random_conversation(rng) for _ in range(50)]
    out = run(any_tok, [{"messages": c} for c in convs])
    for conv, ids in zip(convs, out["input_ids"]):
        assert ids == any_tok.apply_chat_template(conv, tokenize=True, return_dict=False)


def test_no_double_bos(llama3):
    """The template renders BOS and the tokenizer also adds one on plain encodes: exactly one survives."""
    text = llama3.apply_chat_template(SEED_MESSAGES, tokenize=False)
    assert llama3(text)["input_ids"][:2] == [128000, 128000]  # the trap a hand-written pipeline falls into
    out = run(llama3, [{"messages": SEED_MESSAGES}])
    assert np.count_nonzero(np.asarray(out["input_ids"][0]) == 128000) == 1
    stanford = run(llama3, [{"instruction": "Say hi.", "output": "Hi!"}], alpaca_prompt="stanford")
    assert stanford["input_ids"][0][:2] == [128000, 39314]
