"""Control strings in record text and tool-call shapes (templates/controls.py), with real tokenizers' patterns."""

from __future__ import annotations

import pytest

from hf_sftprep.templates.controls import adapt_tool_calls, find_control_string, find_tool_control_string
from hf_sftprep.templates.render import special_pattern
from hf_sftprep.templates.spec import TemplateSpec

CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": "é"}}}


@pytest.fixture(scope="module")
def chatml(smollm):
    return special_pattern(smollm)


def test_clean_messages_have_no_control_string(chatml):
    messages = [{"role": "user", "content": "hi <im_start> |im_end|"}, {"role": "assistant", "content": "yo"}]
    assert find_control_string(messages, chatml) is None


def test_first_hit_in_content(chatml):
    messages = [{"role": "user", "content": "fine"}, {"role": "user", "content": "a <|im_end|> b <|im_start|>"}]
    assert find_control_string(messages, chatml) == (1, "content", "<|im_end|>")


def test_role_field_is_not_searched(chatml):
    assert find_control_string([{"role": "<|im_start|>", "content": "x"}], chatml) is None


@pytest.mark.parametrize("message, field", [
    ({"role": "assistant", "content": "", "reasoning_content": "think <|im_start|>"}, "reasoning_content"),
    ({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"x": "<|im_start|>"}}}]},
     "tool_calls"),
    ({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "<|im_start|>", "arguments": {}}}]},
     "tool_calls"),
    ({"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"<|im_start|>": 1}}}]},
     "tool_calls"),  # mapping keys too
    ({"role": "tool", "name": "x<|im_start|>", "content": "r"}, "name"),
    ({"role": "user", "content": [{"type": "text", "text": "<|im_start|>"}]}, "content"),
])
def test_nested_fields_and_keys_are_searched(chatml, message, field):
    assert find_control_string([message], chatml) == (0, field, "<|im_start|>")


def test_numbers_and_none_are_skipped(chatml):
    assert find_control_string([{"role": "assistant", "content": None, "weight": 1, "x": [1.5, True]}], chatml) is None


def test_llama3_headers_are_found(llama3):
    text = "fake <|start_header_id|>assistant<|end_header_id|>"
    assert find_control_string([{"role": "user", "content": text}], special_pattern(llama3)) == (
        0, "content", "<|start_header_id|>")


def test_no_pattern_finds_nothing():
    assert find_control_string([{"role": "user", "content": "<|im_start|>"}], None) is None
    assert find_tool_control_string([{"function": {"name": "<|im_start|>"}}], None) is None


def test_tool_schemas(chatml):
    tools = [
        {"type": "function", "function": {"name": "ok", "description": "fine"}},
        {"type": "function", "function": {"name": "weather", "parameters": {"properties": {"city": {"description": "<|im_end|>"}}}}},
    ]
    assert find_tool_control_string(tools, chatml) == (1, "weather", "<|im_end|>")
    assert find_tool_control_string(tools[:1], chatml) is None
    assert find_tool_control_string(None, chatml) is None and find_tool_control_string([], chatml) is None


def test_tool_schema_without_function_wrapper_or_name(chatml):
    assert find_tool_control_string([{"name": "flat", "description": "<|im_end|>"}], chatml) == (0, "flat", "<|im_end|>")
    assert find_tool_control_string([{"description": "<|im_end|>"}], chatml) == (0, "", "<|im_end|>")
    assert find_tool_control_string(["<|im_end|>"], chatml) == (0, "", "<|im_end|>")


def spec(**kw) -> TemplateSpec:
    return TemplateSpec("<｜Assistant｜>", "<｜Assistant｜>", ("<｜end▁of▁sentence｜>",), **kw)


def assistant(content, calls):
    return {"role": "assistant", "content": content, "tool_calls": calls}


def test_adapt_tool_calls_deepseek():
    messages = [{"role": "user", "content": ""}, assistant("", [CALL]), assistant("", [])]
    adapt_tool_calls(messages, spec(null_tool_content=True, text_arguments=True))
    assert messages == [
        {"role": "user", "content": ""},
        assistant(None, [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1, "b": "é"}'}}]),
        assistant("", []),  # no calls: left alone
    ]


def test_adapt_tool_calls_one_habit_at_a_time():
    m = [assistant("", [CALL])]
    adapt_tool_calls(m, spec(null_tool_content=True))
    assert m == [assistant(None, [CALL])]
    m = [assistant("text", [CALL])]
    adapt_tool_calls(m, spec(null_tool_content=True, text_arguments=True))
    assert m[0]["content"] == "text"  # only empty content becomes None
    assert m[0]["tool_calls"][0]["function"]["arguments"] == '{"a": 1, "b": "é"}'


def test_adapt_tool_calls_leaves_text_arguments_and_plain_specs_alone():
    text_call = {"function": {"name": "f", "arguments": '{"a": 1}'}}
    m = [assistant("", [text_call, CALL])]
    adapt_tool_calls(m, spec(text_arguments=True))
    assert m == [assistant("", [text_call, {**CALL, "function": {"name": "f", "arguments": '{"a": 1, "b": "é"}'}}])]
    m = [assistant("", [CALL])]
    adapt_tool_calls(m, spec())
    assert m == [assistant("", [CALL])]
