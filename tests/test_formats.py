"""The record-format registry: one table that detection, dispatch, the CLI, the recipe and the mixture read."""

from __future__ import annotations

import re

import pytest
from datasets import Features, List, Value

from hf_sftprep import RowError, SFTPrepError
from hf_sftprep.cli.main import _parser
from hf_sftprep.datasets.schema import user_columns
from hf_sftprep.options import Format, choices
from hf_sftprep.records.detect import detect_format
from hf_sftprep.records.dispatch import to_conversation
from hf_sftprep.records.formats import FORMAT_CHOICES, FORMATS, expected_columns, record_columns


def test_registry_order_is_the_format_option():
    assert list(FORMATS) == ["openai", "alpaca", "sharegpt"]
    assert choices(Format) == ("auto", *FORMATS)
    assert FORMAT_CHOICES == ("auto", "openai", "alpaca", "sharegpt")


def test_record_columns_equal_what_prepare_drops():
    assert record_columns("openai") == {"messages", "tools", "functions", "parallel_tool_calls"}
    assert record_columns("alpaca") == {"instruction", "input", "output", "system", "history"}
    assert record_columns("sharegpt") == {"conversations", "tools", "system"}
    assert record_columns("mapped", {"user": "q", "assistant": "a"}) == {"q", "a"}
    assert record_columns("mapped", None) == set()
    assert record_columns("unknown") == set()


def test_record_columns_agree_with_user_columns():
    columns = ["id", "messages", "tools", "functions", "parallel_tool_calls", "conversations", "instruction",
               "input", "output", "q", "a"]
    for fmt, column_map in [*((f, None) for f in FORMATS), ("mapped", {"user": "q", "assistant": "a"})]:
        consumed = record_columns(fmt, column_map)
        assert user_columns(columns, fmt, column_map) == [c for c in columns if c not in consumed]


def test_expected_columns_texts():
    assert expected_columns("auto") == (
        "a 'messages' column (OpenAI chat), 'instruction' + 'output' (+ optional 'input') columns (Alpaca) "
        "or a 'conversations' column of {from, value} items (ShareGPT)"
    )
    assert expected_columns("openai") == "a 'messages' column"
    assert expected_columns("alpaca") == "'instruction' and 'output' columns (and optionally 'input')"
    assert expected_columns("sharegpt") == "a 'conversations' column of {from, value} items"


@pytest.mark.parametrize("fmt", FORMAT_CHOICES)
def test_detect_error_is_built_from_the_registry(fmt):
    message = (
        f"cannot find the record format: columns found are ['prompt', 'response']; expected {expected_columns(fmt)}. "
        "Rename the columns, or pass column_map={'system': ..., 'user': ..., 'assistant': ...}."
    )
    with pytest.raises(SFTPrepError, match=f"^{re.escape(message)}$"):
        detect_format(["response", "prompt"], fmt)


def test_detect_tries_formats_in_registry_order():
    assert detect_format(["messages", "instruction", "output", "conversations"]) == "openai"
    assert detect_format(["instruction", "output", "conversations"]) == "alpaca"
    assert detect_format(["instruction", "output", "conversations"], "sharegpt") == "sharegpt"
    assert detect_format(["messages", "conversations"], "sharegpt") == "sharegpt"


def test_sharegpt_features_must_have_from_value_items():
    sharegpt = Features({"conversations": List({"from": Value("string"), "value": Value("string")})})
    chat = Features({"conversations": List({"role": Value("string"), "content": Value("string")})})
    assert FORMATS["sharegpt"].matches({"conversations"}, sharegpt) is True
    assert FORMATS["sharegpt"].matches({"conversations"}, chat) is False
    assert FORMATS["sharegpt"].matches({"conversations"}, None) is True
    assert FORMATS["openai"].matches({"conversations"}, chat) is False


def test_dispatch_reads_the_registry():
    record = {"instruction": "Add", "input": "1+1", "output": "2"}
    conv = to_conversation("alpaca", 0, record)
    assert conv.messages == [{"role": "user", "content": "Add\n\n1+1"}, {"role": "assistant", "content": "2"}]
    assert (conv.tools, conv.trained, conv.reasoning) == (None, [False, True], [None, None])
    conv = to_conversation("sharegpt", 0, {"conversations": [{"from": "human", "value": "hi"},
                                                             {"from": "gpt", "value": "yo"}]})
    assert conv.messages == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    conv = to_conversation("mapped", 0, {"q": "hi", "a": "yo"}, column_map={"user": "q", "assistant": "a"})
    assert conv.messages == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    expected = r"^row 3: unknown record format 'csv'; expected openai, alpaca, sharegpt or mapped\.$"
    with pytest.raises(RowError, match=expected):
        to_conversation("csv", 3, {})


def test_chat_layouts():
    assert FORMATS["alpaca"].chat is None
    openai, sharegpt = FORMATS["openai"].chat, FORMATS["sharegpt"].chat
    assert (openai.column, openai.role_key, openai.content_key) == ("messages", "role", "content")
    assert (sharegpt.column, sharegpt.role_key, sharegpt.content_key) == ("conversations", "from", "value")
    assert openai.roles({"bot": "assistant"}) == {"system": "system", "bot": "assistant", "developer": "system"}
    assert sharegpt.roles({"bot": "assistant"})["bot"] == "assistant"
    assert sharegpt.roles({})["human"] == "user"


def test_cli_format_choices():
    build = next(a for a in _parser()._subparsers._group_actions[0].choices["build"]._actions if a.dest == "format")
    assert tuple(build.choices) == FORMAT_CHOICES
    assert build.default == "auto"
