"""tokens/eot.py: train_on_eot changes only which end-of-turn tokens are trained, on the verified labels."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hf_sftprep import SFTPreprocessor
from hf_sftprep.errors import OptionError, RowError, SFTPrepError
from hf_sftprep.tokens.eot import closing_mask

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Later"}]


def _mask(ids, trained, mode, ends=((7,),), trailer=(), open_end=False):
    out = closing_mask(np.array(ids), np.array(trained, bool), ends, trailer, mode, open_end)
    return None if out is None else out.astype(int).tolist()


def test_closing_mask_modes():
    ids, trained = [9, 1, 2, 7, 9, 3, 7, 7], [0, 1, 1, 1, 0, 1, 1, 0]
    assert _mask(ids, trained, "last") == [0, 1, 1, 0, 0, 1, 1, 0]
    assert _mask(ids, trained, "none") == [0, 1, 1, 0, 0, 1, 0, 0]
    assert _mask(ids, trained, "all") == [0, 1, 1, 1, 0, 1, 1, 1]  # the untrained 7 closed another message


def test_closing_mask_trailer_multi_token_and_open_end():
    # Phi-3: <|end|> (7) then the EOS (8) after the final turn; a two-token closer (5, 6)
    assert _mask([1, 2, 7, 8], [0, 1, 1, 1], "none", trailer=(8,)) == [0, 1, 0, 0]
    assert _mask([1, 2, 5, 6, 3, 5, 6], [0, 1, 1, 1, 0, 1, 1], "last", ends=((5, 6),)) == [0, 1, 0, 0, 0, 1, 1]
    assert _mask([1, 2, 7, 3, 4], [0, 1, 1, 0, 1], "none", open_end=True) == [0, 1, 0, 0, 1]  # GLM's open last turn
    assert _mask([1, 2, 7, 3, 4], [0, 1, 1, 0, 1], "none") is None  # a trained run with no closer


def _trained(tok, mode=None, messages=CHAT, **kw):
    pre = SFTPreprocessor(tok, **({"train_on_eot": mode} if mode else {}), **kw)
    out = pre({"messages": [messages]}, [0])
    ids, labels = [int(i) for i in out["input_ids"][0]], [int(i) for i in out["labels"][0]]
    return ids, labels, [tok.decode([i]) for i, lab in zip(ids, labels) if lab != -100]


def test_turn_is_the_default_byte_for_byte(llama3, qwen):
    for tok in (llama3, qwen):
        assert _trained(tok, "turn")[:2] == _trained(tok)[:2]


def test_modes_on_llama3(llama3):
    ids, labels, text = _trained(llama3, "turn")
    assert text == ["Hello", "<|eot_id|>", "Later", "<|eot_id|>"]
    assert [i for i, lab in enumerate(labels) if lab != -100] == [19, 20, 32, 33]
    assert ids[19:21] == [9906, 128009]
    assert _trained(llama3, "last")[2] == ["Hello", "Later", "<|eot_id|>"]
    assert _trained(llama3, "none")[2] == ["Hello", "Later"]
    ids, labels, text = _trained(llama3, "all")
    assert text == ["<|eot_id|>"] * 2 + ["Hello", "<|eot_id|>", "<|eot_id|>", "Later", "<|eot_id|>"]


def test_modes_on_qwen(qwen):
    assert _trained(qwen, "turn")[2] == ["Hello", "<|im_end|>", "Later", "<|im_end|>"]
    assert _trained(qwen, "none")[2] == ["Hello", "Later"]
    # the "\n" after <|im_end|> is the template's separator, not an end of turn: never trained
    assert _trained(qwen, "all")[2] == ["<|im_end|>"] * 2 + ["Hello", "<|im_end|>", "<|im_end|>", "Later", "<|im_end|>"]


def test_all_leaves_the_default_system_block_untrained(qwen):
    """Qwen2.5 writes its own system prompt before a chat without one: its <|im_end|> closes no message of
    the row, so "all" leaves it untrained (Axolotl trains the row's own turns only; issue 28, bug 2)."""
    chat = CHAT[1:]
    ids, labels, text = _trained(qwen, "all", chat)
    assert ids[:5] == [151644, 8948, 198, 2610, 525]  # <|im_start|>system\nYou are (the template's default)
    ends = [i for i, t in enumerate(ids) if t == 151645]
    assert [labels[i] != -100 for i in ends] == [False, True, True, True, True]
    assert text == ["<|im_end|>", "Hello", "<|im_end|>", "<|im_end|>", "Later", "<|im_end|>"]
    # the first message is the assistant's, and its content also appears in the default block's words
    opener = [{"role": "assistant", "content": "You"}, {"role": "user", "content": "Hi"},
              {"role": "assistant", "content": "Hello"}]
    ids, labels, text = _trained(qwen, "all", opener)
    ends = [i for i, t in enumerate(ids) if t == 151645]
    assert [labels[i] != -100 for i in ends] == [False, True, True, True]
    assert text == ["You", "<|im_end|>", "<|im_end|>", "Hello", "<|im_end|>"]


def _reference(tok, messages, weights, mode):
    """Independent: render once, split at each end-of-turn token; the k-th closes message k (after the
    template's own default system block, which Qwen2.5 writes when there is no system message; "all" does
    not train that block's closer: it closes no message of the row, as in Axolotl)."""
    end = tok.convert_tokens_to_ids(tok.eos_token)
    ids = list(tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    closers = [i for i, t in enumerate(ids) if t == end]
    default = len(closers) - len(messages)
    assert default in ((0,) if messages[0]["role"] == "system" else (0, 1))
    trained_msgs = [k for k, m in enumerate(messages) if m["role"] == "assistant" and weights[k]]
    keep = {"turn": trained_msgs, "last": trained_msgs[-1:], "none": [], "all": list(range(len(messages)))}[mode]
    mask = np.zeros(len(ids), bool)
    for k in trained_msgs:
        header = tok.apply_chat_template(messages[:k], tokenize=True, add_generation_prompt=True, return_dict=True)
        mask[len(header["input_ids"]):closers[k + default]] = True
    mask[[closers[k + default] for k in keep]] = True
    return ids, mask


@pytest.mark.parametrize("mode", ["turn", "last", "none", "all"])
def test_random_conversations_match_the_reference(llama3, qwen, mode):
    rng = random.Random(28)
    words = ["alpha", " beta", "gamma ", "\ndelta", "42", "x y z", "é"]
    for tok in (llama3, qwen):
        for _ in range(15):
            messages = [{"role": "system", "content": rng.choice(words)}] if rng.random() < 0.5 else []
            for _ in range(rng.randint(1, 4)):
                messages += [{"role": "user", "content": rng.choice(words)},
                             {"role": "assistant", "content": rng.choice(words).strip() or "ok"}]
            weights = [1 if m["role"] == "assistant" and rng.random() < 0.7 else 0 for m in messages]
            weights[-1] = 1
            rows = [{**m, "weight": w} if m["role"] == "assistant" else m for m, w in zip(messages, weights)]
            ids, labels, _ = _trained(tok, mode, rows)
            ref_ids, ref_mask = _reference(tok, messages, weights, mode)
            assert ids == ref_ids
            assert [lab != -100 for lab in labels] == ref_mask.tolist(), (mode, messages, weights)


def test_stanford_none_leaves_the_eos_out(smollm):
    pre = SFTPreprocessor(smollm, alpaca_prompt="stanford", train_on_eot="none")
    out = pre({"instruction": ["Add"], "input": [""], "output": ["2"]}, [0])
    assert [smollm.decode([i]) for i, lab in zip(out["input_ids"][0], out["labels"][0]) if lab != -100] == ["2"]


def test_refused_combinations(llama3):
    with pytest.raises(SFTPrepError, match="train_on_eot='none' cannot be combined: train_on_inputs trains every token"):
        SFTPreprocessor(llama3, train_on_eot="none", train_on_inputs=True)
    with pytest.raises(SFTPrepError, match="special_tokens_in_content='allow' lets content hold end-of-turn tokens"):
        SFTPreprocessor(llama3, train_on_eot="all", special_tokens_in_content="allow")
    with pytest.raises(OptionError, match="train_on_eot='first' is not supported; expected one of 'turn', 'last', "
                                          "'none', 'all'"):
        SFTPreprocessor(llama3, train_on_eot="first")


def test_row_without_a_closer_is_refused(llama3):
    pre = SFTPreprocessor(llama3, train_on_eot="none", on_invalid="drop", emit_meta=True)
    batch = pre.render({"messages": [CHAT]}, [3])
    from hf_sftprep.tokens.encode import encode_batch
    from hf_sftprep.tokens.eot import train_on_eot
    from hf_sftprep.tokens.label import label_chat

    encode_batch(batch, llama3, pre.encoder, pre._split)
    label_chat(batch, pre.search, llama3, pre.spec, False, False)
    batch.strict = True
    with pytest.raises(RowError, match="row 3: train_on_eot='none': a trained turn of this row does not end with the "
                                       "end-of-turn"):
        train_on_eot(batch, ((5, 5),), (), "none")


def test_verify_checks_each_mode_with_the_default_block(qwen):
    from datasets import Dataset

    from hf_sftprep import prepare, verify

    chats = [CHAT, CHAT[1:], [{"role": "assistant", "content": "Sure."}, *CHAT[1:]]]
    raw = Dataset.from_list([{"messages": m} for m in chats])
    for mode in ("all", "none", "last"):
        report = verify(prepare(raw, qwen, train_on_eot=mode), qwen, raw=raw, train_on_eot=mode)
        assert (report.checked, report.matching) == (3, 3), (mode, report.differences)
    wrong = verify(prepare(raw, qwen, train_on_eot="all"), qwen, raw=raw)  # checked as "turn": the extra closers differ
    assert wrong.labels_differ == 3
