"""The exact path (tokens/exact.py): turns located in characters, then mapped to tokens by offsets."""

from __future__ import annotations

import pytest

from hf_sftprep.errors import RowError, SFTPrepError
from hf_sftprep.templates.probe import probe_template
from hf_sftprep.templates.render import render
from hf_sftprep.templates.spec import TemplateSpec
from hf_sftprep.tokens.exact import common_prefix_len, offsets_trained_mask, turn_char_spans


def spec(prompt: str, marker: str, terminals: tuple[str, ...], **kw) -> TemplateSpec:
    """A text-only spec (the exact path reads no ids); by default turns open with the whole prompt."""
    return TemplateSpec(prompt, marker, terminals, **{"openings": (len(prompt),), **kw})


CHATML = spec("<|im_start|>assistant\n", "<|im_start|>assistant", ("<|im_end|>",))
CONV = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "\n\nyo"},  # the boundary trap: the header's "\n" merges with these
    {"role": "user", "content": "more"},
    {"role": "assistant", "content": "ok"},
]


def spans_text(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[a:b] for a, b in spans]


def test_common_prefix_len():
    assert common_prefix_len("abcdef", "abcx") == 3
    assert common_prefix_len("xxabc", "abc", at=2) == 3
    assert common_prefix_len("ab", "abc") == 2
    assert common_prefix_len("", "abc") == 0
    assert common_prefix_len("abc", "") == 0


def test_turn_char_spans_smollm(smollm):
    text = render(smollm, CONV)
    spans = turn_char_spans(0, text, probe_template(smollm), 2)
    assert spans == [(83, 97), (152, 164)]
    assert spans_text(text, spans) == ["\n\nyo<|im_end|>", "ok<|im_end|>"]


def test_offsets_trained_mask_smollm_masks_the_token_straddling_the_header(smollm):
    text = render(smollm, CONV)
    short = "<|im_start|>assistant\nyo<|im_end|>"
    flat, offsets, trained = offsets_trained_mask(smollm, [text, short], [[(83, 97), (152, 164)], [(22, 34)]], False)
    assert offsets.tolist() == [0, 33, 39]
    assert flat.dtype.name == "int32"
    assert flat.tolist() == [
        1, 9690, 198, 67, 2, 198, 1, 4093, 198, 6004, 2, 198, 1, 520, 9531, 1116, 198, 31041, 2, 198,
        1, 4093, 198, 3143, 2, 198, 1, 520, 9531, 198, 2231, 2, 198,
        1, 520, 9531, 198, 31041, 2,
    ]
    # token 15 is "\n\n": the header's "\n" and the answer's first "\n", so it is masked; "\n" (16) is trained
    assert [i for i, t in enumerate(trained) if t] == [16, 17, 18, 30, 31, 37, 38]


def test_offsets_trained_mask_with_bos_and_no_spans(llama3):
    # Llama 3's post-processor adds a zero-width BOS: never trained, even inside a span
    flat, offsets, trained = offsets_trained_mask(llama3, ["hi", "hello there"], [[(0, 2)], []], True)
    assert flat.tolist() == [128000, 6151, 128000, 15339, 1070]
    assert offsets.tolist() == [0, 2, 5]
    assert trained.tolist() == [False, True, False, False, False]


def test_history_turn_opening_with_the_marker_only_keeps_answer_text():
    # DeepSeek-R1: the prompt adds "<think>\n"; history turns open with the marker alone. An answer that begins
    # like the prompt's rest ("<b>" after "<｜Assistant｜>", which "<think>" also begins with "<") keeps it.
    s = spec("<｜Assistant｜><think>\n", "<｜Assistant｜>", ("<｜end▁of▁sentence｜>",), openings=(13, 21))
    text = "<｜User｜>q<｜Assistant｜><b>x</b><｜end▁of▁sentence｜><｜User｜>r<｜Assistant｜><think>\nhm"
    text += "<｜end▁of▁sentence｜>"
    assert spans_text(text, turn_char_spans(0, text, s, 2)) == [
        "<b>x</b><｜end▁of▁sentence｜>", "hm<｜end▁of▁sentence｜>"]


def test_partial_prompt_never_ends_inside_a_special_token():
    # no probed opening to fall back to: the matched part is cut back to the start of the special token it ends in
    s = spec("<|A|><|think|>\n", "<|A|>", ("<|end|>",), openings=(), prompt_specials=((0, 5), (5, 14)))
    text = "<|A|><|thinking|>x<|end|>"
    assert spans_text(text, turn_char_spans(0, text, s, 1)) == ["<|thinking|>x<|end|>"]


def test_several_terminals_and_closing_runs():
    s = spec("<|start|>assistant", "<|start|>assistant", ("<|end|>", "<|return|>", "<|call|>"))
    text = "<|start|>assistantA<|call|><|start|>assistantB<|end|><|return|>"
    assert spans_text(text, turn_char_spans(0, text, s, 2)) == ["A<|call|>", "B<|end|><|return|>"]


def test_trailer_on_the_last_turn_only():
    s = spec("<|assistant|>\n", "<|assistant|>", ("<|end|>",), trailer="<|endoftext|>")
    text = "<|user|>\nq<|end|>\n<|assistant|>\na<|end|><|endoftext|><|user|>\nr<|end|>\n<|assistant|>\nb<|end|><|endoftext|>"
    assert spans_text(text, turn_char_spans(0, text, s, 2)) == ["a<|end|>", "b<|end|><|endoftext|>"]


def test_open_end_last_turn_runs_to_the_end():
    # GLM: a turn closes at the next role's marker (trained); the last may have none
    s = spec("<|assistant|>\n", "<|assistant|>", ("<|user|>",), open_end=True)
    text = "<|user|>\nq<|assistant|>\na<|user|>\nr<|assistant|>\nb"
    assert spans_text(text, turn_char_spans(0, text, s, 2)) == ["a<|user|>", "b"]


def test_multi_block_merges_adjacent_and_gapped_blocks():
    s = spec("<|start|>assistant", "<|start|>assistant", ("<|end|>",), multi_block=True, block_gap="\n")
    text = "<|start|>assistantA<|end|><|start|>assistantB<|end|>\n<|start|>assistantC<|end|>x<|start|>assistantD<|end|>"
    spans = turn_char_spans(0, text, s, 2)
    assert spans_text(text, spans) == ["A<|end|><|start|>assistantB<|end|>\n<|start|>assistantC<|end|>", "D<|end|>"]


def test_result_opener_and_appended():
    # Mistral: an answer after a tool result opens after [/TOOL_RESULTS]; Command A appends an opener: no turn
    s = spec("[/INST]", "[/INST]", ("</s>",), result_opener="[/TOOL_RESULTS]", appended="[/INST]")
    text = "[INST]q[/INST][TOOL_CALLS]f</s>[TOOL_RESULTS]r[/TOOL_RESULTS]answer</s>[/INST]"
    assert spans_text(text, turn_char_spans(0, text, s, 2)) == ["[TOOL_CALLS]f</s>", "answer</s>"]


def test_unclosed_turn_raises():
    with pytest.raises(SFTPrepError, match=r"^row 7: the assistant turn at character 22 is not closed by '<\|im_end\|>'\. "
                                           r"Pass end_of_turn=\.\.\. matching the template"):
        turn_char_spans(7, "<|im_start|>assistant\nyo", CHATML, 1)


@pytest.mark.parametrize("row, text, expected, message", [
    (2, "<|im_start|>assistant\nyo<|im_start|>assistant\nno<|im_end|>", 1,
     r"^row 2: a second assistant header '<\|im_start\|>assistant' appears at character 24 before the turn at "
     r"character 22 is closed by '<\|im_end\|>'"),
    (0, "<|im_start|>assistant\nyo<|im_end|>", 2,
     r"^row 0: the rendered text holds 1 assistant turns \(header '<\|im_start\|>assistant'\) but field 'messages' "
     r"has 2; expected them to match"),
])
def test_header_mismatch_raises(row, text, expected, message):
    with pytest.raises(RowError, match=message) as err:
        turn_char_spans(row, text, CHATML, expected)
    assert err.value.reason == "header_mismatch"
