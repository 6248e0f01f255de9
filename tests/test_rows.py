"""datasets/rows.py: the row stage that training rows and generation prompts share."""

from __future__ import annotations

import pytest

from hf_sftprep import RowError, SFTPreprocessor, SFTPrepError

RECORDS = {"messages": [
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}],
    [{"role": "user", "content": "q"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
     {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}],
]}
SMOL_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
TEXT_2 = ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"
          "<|im_start|>user\nc<|im_end|>\n")


def test_render_keeps_texts_and_turn_flags_and_refuses_bad_rows(smollm):
    batch = SFTPreprocessor(smollm, on_invalid="drop").render(RECORDS, [5, 6, 7])
    assert batch.texts == [
        SMOL_SYSTEM + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n",
        TEXT_2 + "<|im_start|>assistant\nd<|im_end|>\n",
    ]
    assert (batch.targets, batch.kept, batch.dropped, batch.lost) == ([[True], [True, True]], [0, 2], {1: "no_assistant"}, [0, 0])
    assert batch.rows == [5, 6, 7] and not batch.stanford


def test_render_raises_the_row_error_by_default(smollm):
    with pytest.raises(RowError, match=r"^row 6: ") as err:
        SFTPreprocessor(smollm).render(RECORDS, [5, 6, 7])
    assert err.value.reason == "no_assistant"


def test_a_prompt_is_rendered_up_to_the_last_trained_answer(smollm):
    rows = SFTPreprocessor(smollm).rows
    prompt = rows.prompt("openai", 7, {"messages": RECORDS["messages"][2]})
    assert prompt == (TEXT_2 + "<|im_start|>assistant\n", "d", None)


def test_stanford_rows_carry_character_spans(smollm):
    pre = SFTPreprocessor(smollm, alpaca_prompt="stanford")
    batch = pre.render({"instruction": ["Add."], "input": [""], "output": ["4"]}, [0])
    (start, stop), = batch.targets[0]
    # Stanford Alpaca's PROMPT_DICT ends with "### Response:" and the output follows it directly
    assert batch.stanford and batch.texts[0][:start].endswith("### Instruction:\nAdd.\n\n### Response:")
    assert batch.texts[0][start:stop] == "4<|im_end|>" and stop == len(batch.texts[0])


def test_one_record_passed_as_a_batch_is_refused(smollm):
    pre = SFTPreprocessor(smollm)
    with pytest.raises(SFTPrepError, match=r"got one record, not a batch \(column 'messages' holding one value\)|"
                                           r"got one record, not a batch \(a chat column"):
        pre({"messages": RECORDS["messages"][0]}, [0])
