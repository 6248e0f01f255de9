"""One literal row per class of template behaviour that the zoo does not show (issue: templates beyond
the zoo). Ids come from the real Mistral tokenizer or the families' stand-in tokenizers (Qwen2.5's BPE
plus the family's control strings); trained text is decoded from the labels.
"""

from __future__ import annotations

import json

import pytest

from hf_sftprep import SFTPreprocessor, probe_template
from hf_sftprep.errors import RowError

IGNORE = -100
U = {"role": "user", "content": "Hi"}
A = {"role": "assistant", "content": "Hello"}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def run(tok, messages, tools=None, **options):
    pre = SFTPreprocessor(tok, emit_meta=True, **options)
    out = pre({"messages": [messages], "tools": [json.dumps(tools) if tools else None]}, [0])
    return out["input_ids"][0].as_py(), out["labels"][0].as_py(), out["drop_reason"][0].as_py()


def trained(tok, labels) -> str:
    return tok.decode([t for t in labels if t != IGNORE])


def test_mistral_v3_never_reads_add_generation_prompt(mistral):
    """The answer follows the user turn's own [/INST]: learned, no assistant_header needed (real v3 vocabulary)."""
    tok = mistral("v3")
    spec = probe_template(tok)
    assert (spec.assistant_header, spec.end_of_turn, spec.assistant_header_ids, spec.end_of_turn_ids) == ("[/INST]", ("</s>",), (4,), ((2,),))
    ids, labels, _ = run(tok, [U, A])
    assert ids == [1, 3, 16127, 4, 23325, 2]
    assert labels == [IGNORE, IGNORE, IGNORE, IGNORE, 23325, 2]


def test_mistral_tool_call_ids_of_nine_alphanumerics(mistral):
    """The template raises on other call ids; the probe's ids are 9 alphanumerics, so tool calls are rendered."""
    tok = mistral("v3")
    assert probe_template(tok).renders_tool_calls
    call = {"id": "abc123XYZ", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    _, labels, reason = run(tok, [U, {"role": "assistant", "content": "", "tool_calls": [call]}], TOOLS)
    assert reason == ""
    assert trained(tok, labels) == '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123XYZ"}]</s>'


def test_opener_rendered_with_the_user_turn(families):
    """DeepSeek's tool template writes <｜Assistant｜> as part of every user turn: add_generation_prompt adds nothing."""
    tok = families("deepseek_r1_tool")
    _, labels, _ = run(tok, [U, A, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Ciao"}])
    assert trained(tok, labels) == "Hello<｜end▁of▁sentence｜>Ciao<｜end▁of▁sentence｜>"


def test_appended_next_turn_opener_is_never_trained(families):
    """Command R7B appends <|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_THINKING|><|END_THINKING|> after every
    rendering: the last turn ends at its own <|END_OF_TURN_TOKEN|>, and no turn trains the next turn's opener."""
    tok = families("command_r7b")
    assert probe_template(tok).appended == "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_THINKING|><|END_THINKING|>"
    ids, labels, _ = run(tok, [U, A, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Ciao"}])
    assert trained(tok, labels) == (
        "<|START_RESPONSE|>Hello<|END_RESPONSE|><|END_OF_TURN_TOKEN|><|START_RESPONSE|>Ciao<|END_RESPONSE|><|END_OF_TURN_TOKEN|>"
    )
    assert ids[-4:] == list(tok.convert_tokens_to_ids(
        ["<|START_OF_TURN_TOKEN|>", "<|CHATBOT_TOKEN|>", "<|START_THINKING|>", "<|END_THINKING|>"]))
    assert labels[-4:] == [IGNORE] * 4


def test_message_of_several_blocks_trains_the_real_turn_end(families):
    """HyperCLOVA X renders reasoning and answer as two blocks: the answer's <|im_end|><|endofturn|> (and a tool
    call's <|im_end|><|stop|>) close the turn; the reasoning block's <|im_end|> does not."""
    tok = families("hyperclovax_seed_think")
    _, labels, _ = run(tok, [U, {**A, "reasoning_content": "Think"}])
    assert trained(tok, labels) == "/think\nThink<|im_end|>\n<|im_start|>assistant\nHello<|im_end|><|endofturn|>"
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    _, labels, _ = run(tok, [U, {"role": "assistant", "content": "", "tool_calls": [call]}], TOOLS)
    assert trained(tok, labels).endswith("<|im_end|><|stop|>")


def test_named_templates_pick_tool_use_per_row(families):
    """Hermes 2 Pro ships default + tool_use: a row with tools renders with tool_use, as apply_chat_template does,
    so the schemas are in the ids; a row without tools renders with default."""
    tok = families("hermes_2_pro")
    ids, _, reason = run(tok, [U, A], TOOLS)
    assert reason == ""
    assert ids == tok.apply_chat_template([U, A], tools=TOOLS, tokenize=True, return_dict=False)
    plain, _, _ = run(tok, [U, A])
    assert plain == tok.apply_chat_template([U, A], tokenize=True, return_dict=False)
    assert "get_weather" in tok.decode(ids) and "get_weather" not in tok.decode(plain)


def test_template_that_needs_tools(families):
    tok = families("hermes_2_pro")
    assert SFTPreprocessor(tok).named["tool_use"].spec.needs_tools


def test_developer_support_decided_by_rendering(zoo):
    """cohere2's preamble mentions 'developer' but renders no developer message: it becomes system, so the
    instructions stay in input_ids."""
    tok, _ = zoo("cohere2")
    assert not probe_template(tok).keeps_developer
    ids, _, _ = run(tok, [{"role": "developer", "content": "Answer in French."}, U, A])
    assert "Answer in French." in tok.decode(ids)


def test_system_after_an_answer_is_labelled_as_the_reference_labels_it(zoo):
    """GLM closes a turn with the next role's marker. After an answer a system message follows: the learned
    turn structure cannot vouch for that shape, so the row is labelled by the prefix-render reference on its
    own text, which trains exactly what TRL's generation-tagged twin trains (the closing <|system|> too)."""
    tok, twin = zoo("glm4moe")
    msgs = [U, A, {"role": "system", "content": "New rules."}, {"role": "user", "content": "Bye"}, A]
    ids, labels, reason = run(tok, msgs, on_invalid="drop")
    assert reason == "" and ids == tok.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
    assert [tok.decode([i]) for i, t in zip(ids, labels) if t != IGNORE] == [
        "\n", "<think>", "</think>", "\n", "Hello", "<|system|>", "\n", "<think>", "</think>", "\n", "Hello"]
    ref = twin.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    # the twin writes the last turn's closing <|user|>, which the original template does not render
    assert [i for i, m in zip(ref["input_ids"], ref["assistant_masks"]) if m] == [
        i for i, t in zip(ids, labels) if t != IGNORE] + tok.convert_tokens_to_ids(["<|user|>"])


def test_rstrip_special_tokens_found_in_context(families):
    """Phi-3.5's <|end|> swallows the newline after it (rstrip=True): the closing <|endoftext|> of the last turn
    is found as it encodes in the rendering, and trained."""
    tok = families("phi3_5_mini")
    ids, labels, _ = run(tok, [U, A])
    assert ids == [151648, 13048, 151647, 151649, 9707, 151647, 151643]
    assert labels == [IGNORE, IGNORE, IGNORE, IGNORE, 9707, 151647, 151643]


def test_reasoning_under_the_key_reasoning(zoo):
    """vLLM / OpenRouter records name the field 'reasoning': it is rendered and trained, not dropped."""
    tok, _ = zoo("qwen3")
    _, labels, _ = run(tok, [U, {**A, "reasoning": "Think first."}])
    assert trained(tok, labels) == "<think>\nThink first.\n</think>\n\nHello<|im_end|>"
