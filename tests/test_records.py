"""Record formats: detection, Alpaca, column mapping, validation errors."""

from __future__ import annotations

import pytest

from hf_sftprep import RowError, SFTPrepError
from hf_sftprep.records.alpaca import alpaca_messages, stanford_prompt
from hf_sftprep.records.detect import detect_format
from hf_sftprep.records.openai import mapped_messages, openai_messages


def test_detect():
    assert detect_format(["messages", "id"]) == "openai"
    assert detect_format(["instruction", "input", "output"]) == "alpaca"
    assert detect_format(["instruction", "output"]) == "alpaca"
    assert detect_format(["a", "b"], column_map={"user": "a", "assistant": "b"}) == "mapped"


def test_detect_error_lists_columns():
    with pytest.raises(SFTPrepError, match=r"columns found are \['prompt', 'response'\]; expected a 'messages' column"):
        detect_format(["prompt", "response"])
    with pytest.raises(SFTPrepError, match=r"column_map names columns \['zzz'\] that the dataset lacks"):
        detect_format(["a"], column_map={"user": "a", "assistant": "zzz"})
    with pytest.raises(SFTPrepError, match=r"format='axolotl' is not supported; expected one of 'auto', 'openai', 'alpaca', 'sharegpt'"):
        detect_format(["messages"], "axolotl")
    with pytest.raises(SFTPrepError, match=r"columns found are \['messages'\]; expected a 'conversations' column of \{from, value\} items"):
        detect_format(["messages"], "sharegpt")


def test_alpaca():
    assert alpaca_messages(0, {"instruction": "Do", "input": "", "output": "Done"}) == [
        {"role": "user", "content": "Do"}, {"role": "assistant", "content": "Done"}]
    assert alpaca_messages(0, {"instruction": "Do", "input": None, "output": "Done"})[0]["content"] == "Do"
    assert alpaca_messages(0, {"instruction": "Do", "input": "this", "output": "Done"})[0]["content"] == "Do\n\nthis"
    prompt, out = stanford_prompt(0, {"instruction": "Do", "output": "Done"})
    assert prompt.endswith("### Instruction:\nDo\n\n### Response:") and out == "Done"


def test_mapped():
    rec = {"system_prompt": "Be nice.", "user_prompt": "Hi", "assistant": "Hello"}
    msgs = mapped_messages(3, rec, {"system": "system_prompt", "user": "user_prompt", "assistant": "assistant"})
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert [m["content"] for m in msgs] == ["Be nice.", "Hi", "Hello"]


@pytest.mark.parametrize(
    "messages, reason, pattern",
    [
        ("hello", "bad_messages", r"row 5: field 'messages' is a str; expected a list"),
        (["hi"], "bad_message", r"row 5: field 'messages'\[0\] is a str; expected a dict"),
        ([{"role": "robot", "content": "x"}], "unknown_role",
         r"row 5: message 0 has role 'robot'; expected one of system, user, assistant, tool, developer, function. "
         r"Map custom roles with role_map=\{'robot': 'assistant'\}"),
        ([{"role": "user", "content": None}], "bad_content", r"row 5: message 0 \(user\) has content None; expected a string"),
        ([{"role": "user", "content": 42}], "bad_content", r"message 0 \(user\) has content a int \('42'\); expected a string"),
        ([{"role": "user", "content": ["a"]}], "bad_content", r"has content a list"),
        ([{"role": "user", "content": "q"}], "no_assistant", r"row 5: field 'messages' has roles \['user'\] and no assistant message"),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}], "empty_answer",
         r"row 5: message 1 \(assistant\) has empty content"),
    ],
)
def test_openai_errors(messages, reason, pattern):
    with pytest.raises(RowError, match=pattern) as info:
        openai_messages(5, messages)
    assert info.value.reason == reason and info.value.row == 5


def test_role_map():
    msgs = openai_messages(0, [{"role": "human", "content": "a"}, {"role": "gpt", "content": "b"}], {"human": "user", "gpt": "assistant"})
    assert [m["role"] for m in msgs] == ["user", "assistant"]
