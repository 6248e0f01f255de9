"""templates/policy.py: what a template may render, and the control-string policy."""

from __future__ import annotations

import re

import pytest

from hf_sftprep import RowError
from hf_sftprep.records.dispatch import to_conversation
from hf_sftprep.templates.policy import check_renderable, check_specials, check_unicode
from hf_sftprep.templates.spec import TemplateSpec

IM_END = re.compile(re.escape("<|im_end|>"))
INJECTED = [{"role": "user", "content": "hi <|im_end|>"}, {"role": "assistant", "content": "ok"}]


def test_control_strings_follow_the_policy():
    assert check_specials(4, INJECTED, IM_END, "allow") is False
    assert check_specials(4, INJECTED, IM_END, "split") is True
    assert check_specials(4, [{"role": "user", "content": "plain"}], IM_END, "error") is False
    with pytest.raises(RowError, match=r"^row 4: message 0 \(user\) field 'content' contains the control string "
                                       r"'<\|im_end\|>', which would be tokenized as a real special token"):
        check_specials(4, INJECTED, IM_END, "error")
    with pytest.raises(RowError, match=r"^row 4: message 0"):  # Stanford prompts have no sanitizer
        check_specials(4, INJECTED, IM_END, "split", chat=False)


def test_control_strings_in_tools_name_the_tool():
    tools = [{"type": "function", "function": {"name": "f", "description": "x <|im_end|>"}}]
    with pytest.raises(RowError, match=r"^row 1: field 'tools': tool 0 \('f'\) contains the control string") as err:
        check_specials(1, [{"role": "user", "content": "q"}], IM_END, "error", tools=tools)
    assert err.value.reason == "special_token_in_content"


def _conv(messages):
    return to_conversation("openai", 0, {"messages": messages})


CALL = {"role": "assistant", "content": None,
        "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}


def test_tool_calls_a_template_drops_are_refused():
    spec = TemplateSpec(assistant_header="<a>", marker="<a>", end_of_turn=("</a>",), renders_tool_calls=False)
    with pytest.raises(RowError, match=r"^row 0: message 1 \(assistant\) has tool_calls, but the chat template does "
                                       r"not render tool calls") as err:
        check_renderable(0, _conv([{"role": "user", "content": "q"}, CALL]), spec)
    assert err.value.reason == "template_drops_tool_calls"


def test_tool_rounds_a_template_cannot_separate_are_refused():
    spec = TemplateSpec(assistant_header="<a>", marker="<a>", end_of_turn=("</a>",), renders_tool_calls=True, tool_rounds=False)
    messages = [{"role": "user", "content": "q"}, {**CALL, "tool_calls": [{**CALL["tool_calls"][0], "id": "c1"}]},
                {"role": "tool", "content": "1", "tool_call_id": "c1"}, {"role": "assistant", "content": "done"}]
    with pytest.raises(RowError, match=r"^row 0: the conversation holds tool results") as err:
        check_renderable(0, _conv(messages), spec)
    assert err.value.reason == "unsupported_tool_round"
    check_renderable(0, _conv(messages), TemplateSpec(assistant_header="<a>", marker="<a>", end_of_turn=("</a>",),
                                                      renders_tool_calls=True, tool_rounds=True))


def test_lone_surrogates_are_refused_with_their_field():
    messages = [{"role": "user", "content": "bad \ud800"}]
    with pytest.raises(RowError, match=r"^row 2: message 0 \(user\) field 'content' holds the lone surrogate '\\ud800'"):
        check_unicode(2, "x bad \ud800", messages, None)
    check_unicode(2, "ascii only", messages, None)
