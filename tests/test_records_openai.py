"""OpenAI chat records -> template-ready messages: tool calls, tools, weights, content parts, reasoning."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_sftprep import RowError
from hf_sftprep.records.clean import drop_none
from hf_sftprep.records.openai import Conversation, openai_conversation, openai_messages

USER = {"role": "user", "content": "Weather in Paris?"}
ANSWER = {"role": "assistant", "content": "Sunny."}
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
CALL_OUT = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


def conv(messages, **record):
    return openai_conversation(7, {"messages": messages, **record})


def one(message, **kw):
    """The normalized form of one assistant message placed after USER."""
    return openai_conversation(7, {"messages": [USER, message]}, **kw).messages[1]


# ---------------------------------------------------------------- plain chats and None keys


def test_plain_chat_unchanged():
    out = conv([{"role": "system", "content": "Be brief."}, USER, ANSWER])
    assert out == Conversation(
        messages=[{"role": "system", "content": "Be brief."}, USER, ANSWER],
        tools=None,
        trained=[False, False, True],
        reasoning=[None, None, None],
    )
    assert openai_messages(7, [USER, ANSWER]) == [USER, ANSWER]


def test_none_keys_dropped_recursively():
    assert drop_none({"a": None, "b": [{"c": None, "d": 1}, None], "e": {"f": {"g": None}}}) == {
        "b": [{"d": 1}, None], "e": {"f": {}}}
    arrow_row = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?", "tool_calls": None, "tool_call_id": None, "weight": None},
            {"role": "assistant", "content": None, "weight": None, "tool_call_id": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_weather", "arguments": {"city": "Paris", "query": None}}}]},
            {"role": "tool", "content": "sunny", "tool_calls": None, "tool_call_id": "c1", "weight": None},
            {"role": "assistant", "content": "Sunny.", "tool_calls": None, "tool_call_id": None, "weight": None},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}, "query": None}}}}],
        "parallel_tool_calls": None,
    }
    out = openai_conversation(0, arrow_row)
    assert out.messages == [
        USER,
        {"role": "assistant", "content": "", "tool_calls": [CALL_OUT]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
        ANSWER,
    ]
    assert out.tools == [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    assert out.trained == [False, True, False, True]


# ---------------------------------------------------------------- roles


def test_roles():
    out = conv([{"role": "developer", "content": "Rules."}, USER,
                {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "42"}, ANSWER])
    assert [m["role"] for m in out.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert out.messages[3] == {"role": "tool", "content": "42", "name": "f"}
    kept = openai_conversation(0, {"messages": [{"role": "developer", "content": "Rules."}, USER, ANSWER]},
                               keep_developer=True)
    assert kept.messages[0] == {"role": "developer", "content": "Rules."}
    mapped = openai_conversation(0, {"messages": [{"role": "dev", "content": "R"}, {"role": "human", "content": "q"},
                                                  {"role": "gpt", "content": "a"}]},
                                 role_map={"dev": "developer", "human": "user", "gpt": "assistant"})
    assert mapped.messages == [{"role": "system", "content": "R"}, {"role": "user", "content": "q"},
                               {"role": "assistant", "content": "a"}]


@pytest.mark.parametrize("message", [{"content": "x"}, {"role": None, "content": "x"}, {"from": "human", "value": "x"}])
def test_missing_role(message):
    keys = sorted(k for k, v in message.items() if v is not None)
    with pytest.raises(RowError, match=(
        rf"^row 7: message 1 has no 'role' key \(or its value is null\); keys found: {keys}. "
        r"Expected a role, one of system, user, assistant, tool, developer, function. "
        r"Add the role to every message, or drop such rows with on_invalid='drop'.$").replace("[", r"\[")) as info:
        conv([USER, message])
    assert info.value.reason == "missing_role" and "None" not in str(info.value)


def test_unknown_role():
    with pytest.raises(RowError, match=r"^row 7: message 0 has role 'robot'; expected one of system, user, assistant, "
                       r"tool, developer, function. Map custom roles with role_map=\{'robot': 'assistant'\}.$") as info:
        conv([{"role": "robot", "content": "x"}])
    assert info.value.reason == "unknown_role"
    with pytest.raises(RowError, match=r"message 0 has role 'gpt' \(role_map gives 'bot'\); expected one of"):
        openai_conversation(7, {"messages": [{"role": "gpt", "content": "x"}]}, role_map={"gpt": "bot"})
    with pytest.raises(RowError, match=r"message 0 has role 3; expected one of"):
        conv([{"role": 3, "content": "x"}])


# ---------------------------------------------------------------- content


def test_content_parts_concatenated():
    parts = [{"type": "text", "text": "a"}, {"type": "input_text", "text": "b"},
             {"type": "output_text", "text": "c"}, {"type": "refusal", "refusal": "d"}]
    out = conv([{"role": "user", "content": parts}, {"role": "assistant", "content": parts[:1]}])
    assert out.messages == [{"role": "user", "content": "abcd"}, {"role": "assistant", "content": "a"}]
    # Arrow unifies parts' keys: {"type": "text", "text": "a", "image_url": None}
    arrow_parts = [{"type": "text", "text": "a", "image_url": None}, {"type": "text", "text": "b", "image_url": None}]
    assert conv([{"role": "user", "content": arrow_parts}, ANSWER]).messages[0] == {"role": "user", "content": "ab"}


@pytest.mark.parametrize(
    "message, pattern",
    [
        ({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]},
         (r"^row 7: message 0 \(user\) has content a list whose part 1 is type 'image_url'; expected text parts "
         r"\{'type': 'text', 'text': \.\.\.\} \(or 'input_text', 'output_text', 'refusal'\). Only text is trained: "
         r"remove the non-text part \(or turn it into text\), or drop such rows with on_invalid='drop'.$")),
        ({"role": "user", "content": ["a"]}, r"message 0 \(user\) has content a list whose part 0 is a str \('a'\)"),
        ({"role": "user", "content": [{"text": "a"}]}, r"has content a list whose part 0 is type None"),
        ({"role": "user", "content": [{"type": "text", "text": 5}]},
         r"message 0 \(user\) content part 0 \(type 'text'\) field 'text' is a int \('5'\); expected a string"),
        ({"role": "user", "content": [{"type": "refusal"}]},
         r"content part 0 \(type 'refusal'\) field 'refusal' is missing; expected a string"),
        ({"role": "user", "content": None},
         (r"^row 7: message 0 \(user\) has content None; expected a string or a list of text parts \(None only on an "
         r"assistant message with tool_calls or a refusal\). Convert it to text, or drop such rows with "
         r"on_invalid='drop'.$")),
        ({"role": "user", "content": 42}, r"message 0 \(user\) has content a int \('42'\); expected a string"),
        ({"role": "tool", "content": {"temp": 20}}, r"message 0 \(tool\) has content a dict \(\"\{'temp': 20\}\"\)"),
    ],
)
def test_bad_content(message, pattern):
    with pytest.raises(RowError, match=pattern) as info:
        conv([message, ANSWER])
    assert info.value.reason == "bad_content"


def test_null_assistant_content():
    assert one({"role": "assistant", "content": None, "tool_calls": [CALL]}) == {
        "role": "assistant", "content": "", "tool_calls": [CALL_OUT]}
    assert one({"role": "assistant", "content": None, "refusal": "I can't help with that."}) == {
        "role": "assistant", "content": "I can't help with that."}
    # with content given, the refusal field passes through to the template
    assert one({"role": "assistant", "content": "No.", "refusal": "No."}) == {
        "role": "assistant", "content": "No.", "refusal": "No."}
    with pytest.raises(RowError, match=r"^row 7: message 1 \(assistant\) has content None; expected a string") as info:
        one({"role": "assistant", "content": None})
    assert info.value.reason == "bad_content"
    with pytest.raises(RowError, match=r"message 1 \(assistant\) has content None"):
        one({"role": "assistant", "content": None, "tool_calls": []})
    with pytest.raises(RowError, match=r"message 1 \(assistant\) field 'refusal' is a int \('1'\); expected a string"):
        one({"role": "assistant", "content": None, "refusal": 1})


# ---------------------------------------------------------------- tool calls and tools


def test_tool_calls():
    dict_args = {**CALL, "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    no_type = {"id": "c1", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    for call in (CALL, dict_args, no_type):
        assert one({"role": "assistant", "content": "Checking.", "tool_calls": [call]}) == {
            "role": "assistant", "content": "Checking.", "tool_calls": [CALL_OUT]}
    # a JSON string of calls, as some hub sets store them; nulls inside it are kept as written
    text = '[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"unit": null}}}]'
    assert one({"role": "assistant", "content": None, "tool_calls": text})["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"unit": None}}}]
    assert one({"role": "assistant", "content": "x", "tool_calls": []}) == {"role": "assistant", "content": "x"}
    function_call = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    legacy = one({"role": "assistant", "content": None, "function_call": function_call})
    assert legacy == {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}


def _call_with(function):
    second = {"id": "c2", "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [CALL, second]}


@pytest.mark.parametrize(
    "message, pattern",
    [
        (_call_with({"name": "f", "arguments": '{"city": '}),
         (r"^row 7: message 1 \(assistant\) field 'tool_calls'\[1\].function.arguments is '\{\"city\": ', which is not "
         r"valid JSON \(Expecting value at char 9\); expected a JSON object string or a dict. Write the arguments as a "
         r"JSON object such as '\{\"city\": \"Paris\"\}' \('\{\}' for none\), "
         r"or drop such rows with on_invalid='drop'.$")),
        (_call_with({"name": "f", "arguments": "[1, 2]"}),
         r"field 'tool_calls'\[1\].function.arguments is '\[1, 2\]', a JSON list rather than an object; expected"),
        (_call_with({"name": "f", "arguments": 3}),
         r"field 'tool_calls'\[1\].function.arguments is a int \('3'\); expected a JSON object string or a dict"),
        (_call_with({"name": "f"}), r"field 'tool_calls'\[1\].function.arguments is missing; expected"),
        (_call_with({"arguments": "{}"}),
         (r"^row 7: message 1 \(assistant\) field 'tool_calls'\[1\].function.name is missing; expected the called "
         r"function's name. Add the name, or drop such rows with on_invalid='drop'.$")),
        (_call_with({"name": "", "arguments": "{}"}), r"field 'tool_calls'\[1\].function.name is ''; expected"),
        ({"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "custom", "custom": {}}]},
         r"field 'tool_calls'\[0\].type is 'custom'; expected 'function'. Only function calls are rendered"),
        ({"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
         r"field 'tool_calls'\[0\].function is missing; expected a dict \{'name': \.\.\., 'arguments': \.\.\.\}"),
        ({"role": "assistant", "content": None, "tool_calls": ["get_weather"]},
         r"field 'tool_calls'\[0\] is a str \('get_weather'\); expected a dict \{'id'"),
        ({"role": "assistant", "content": None, "tool_calls": {"id": "c1"}},
         r"message 1 \(assistant\) field 'tool_calls' is a dict .*; expected a list of \{'id'"),
        ({"role": "assistant", "content": None, "tool_calls": "[{"},
         r"message 1 \(assistant\) field 'tool_calls' is '\[\{', which is not valid JSON"),
        ({"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "x"}},
         r"message 1 \(assistant\) field 'function_call'.arguments is 'x', which is not valid JSON"),
        ({"role": "assistant", "content": None, "tool_calls": [CALL], "function_call": {"name": "f", "arguments": ""}},
         r"message 1 \(assistant\) has both 'tool_calls' and the legacy 'function_call'; expected one of them"),
        ({"role": "user", "content": "x", "tool_calls": [CALL]},
         r"message 1 \(user\) has tool calls; expected them only on assistant messages"),
    ],
)
def test_bad_tool_call(message, pattern):
    with pytest.raises(RowError, match=pattern) as info:
        conv([USER, message, ANSWER])
    assert info.value.reason == "bad_tool_call"


def test_tools():
    assert conv([USER, ANSWER], tools=[WEATHER, SEARCH]).tools == [WEATHER, SEARCH]
    assert conv([USER, ANSWER], tools=json.dumps([WEATHER])).tools == [WEATHER]
    # tools=[] is passed on as []: apply_chat_template does, and a template may test `tools is not none`
    assert conv([USER, ANSWER], tools=[]).tools == []
    assert conv([USER, ANSWER], tools="[]").tools == []
    assert conv([USER, ANSWER], tools="").tools is None
    assert conv([USER, ANSWER], tools=None, parallel_tool_calls=True).tools is None
    assert conv([USER, ANSWER], functions=[WEATHER["function"]]).tools == [WEATHER]
    assert conv([USER, ANSWER], functions=json.dumps([SEARCH["function"]])).tools == [SEARCH]
    assert conv([USER, ANSWER], tools=[SEARCH], functions=[WEATHER["function"]]).tools == [SEARCH]


@pytest.mark.parametrize(
    "record, pattern",
    [
        ({"tools": '[{"type": "function",'},
         (r"^row 7: field 'tools' is '\[\{\"type\": \"function\",', which is not valid JSON \(Expecting property name "
         r"enclosed in double quotes at char 21\); expected a JSON list of objects. Fix the JSON, or drop such rows "
         r"with on_invalid='drop'.$")),
        ({"tools": {"type": "function"}},
         (r"^row 7: field 'tools' is a dict .*; expected a list of tool schemas \{'type': 'function', 'function': "
         r"\{'name': \.\.\., 'description': \.\.\., 'parameters': \{\.\.\.\}\}\} or a JSON string of one.")),
        ({"tools": [WEATHER, "search"]},
         r"field 'tools' is a list whose item 1 is a str \('search'\); expected a list"),
        ({"functions": ["f"]},
         r"field 'functions' is a list whose item 0 is a str \('f'\); expected a list of function schemas \{'name'"),
    ],
)
def test_bad_tools(record, pattern):
    with pytest.raises(RowError, match=pattern) as info:
        conv([USER, ANSWER], **record)
    assert info.value.reason == "bad_tools"


def test_name_and_tool_call_id_pass_through():
    out = conv([{"role": "user", "content": "q", "name": "ann"},
                {"role": "assistant", "content": None, "tool_calls": [CALL], "name": "bot"},
                {"role": "tool", "content": "sunny", "tool_call_id": "c1", "name": "get_weather"}, ANSWER])
    assert out.messages[:3] == [
        {"role": "user", "content": "q", "name": "ann"},
        {"role": "assistant", "content": "", "name": "bot", "tool_calls": [CALL_OUT]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1", "name": "get_weather"},
    ]


# ---------------------------------------------------------------- reasoning


def test_reasoning():
    out = conv([USER, {"role": "assistant", "content": "Sunny.", "reasoning_content": "Look it up."},
                USER, {"role": "assistant", "content": "Rainy.", "thinking": "Hmm."},
                USER, {"role": "assistant", "content": "<think>x</think>Dry.", "thinking": "y",
                       "reasoning_content": "y"}])
    assert out.messages[1] == {"role": "assistant", "content": "Sunny.", "reasoning_content": "Look it up.",
                               "thinking": "Look it up."}
    assert out.messages[3] == {"role": "assistant", "content": "Rainy.", "reasoning_content": "Hmm.",
                               "thinking": "Hmm."}
    assert out.messages[5]["content"] == "<think>x</think>Dry."
    assert out.reasoning == [None, "Look it up.", None, "Hmm.", None, "y"]
    assert conv([USER, {"role": "assistant", "content": "", "thinking": "only thought"}]).trained == [False, True]


@pytest.mark.parametrize(
    "message, pattern",
    [
        ({"role": "assistant", "content": "a", "reasoning_content": 5},
         (r"^row 7: message 1 \(assistant\) field 'reasoning_content' is a int \('5'\); expected a string. "
         r"Convert it to text, or drop such rows with on_invalid='drop'.$")),
        ({"role": "assistant", "content": "a", "reasoning_content": "x", "thinking": "y"},
         (r"message 1 \(assistant\) has 'reasoning_content' 'x' and 'thinking' 'y', which differ; expected one "
         r"reasoning text")),
    ],
)
def test_bad_reasoning(message, pattern):
    with pytest.raises(RowError, match=pattern) as info:
        conv([USER, message])
    assert info.value.reason == "bad_content"


# ---------------------------------------------------------------- weight and what is trained


def test_weight():
    weights = [0, 1, True, False, 0.0, 1.0]
    messages = [USER]
    for w in weights:
        messages += [{"role": "assistant", "content": "a", "weight": w}, USER]
    out = conv(messages + [ANSWER])
    assert out.trained == [False, False, False, True, False, True, False, False, False, False, False, True, False, True]
    assert all("weight" not in m for m in out.messages)
    # weight on other roles is dropped, whatever its value
    out = conv([{"role": "user", "content": "q", "weight": 7}, ANSWER])
    assert out.messages == [{"role": "user", "content": "q"}, ANSWER]
    # weight 0 may be empty: it is not trained
    out = conv([USER, {"role": "assistant", "content": "", "weight": 0}, USER, ANSWER])
    assert out.trained == [False, False, False, True]


@pytest.mark.parametrize("weight, shown", [(2, "2"), ("1", "'1'"), (0.5, "0.5"), ([1], r"\[1\]")])
def test_bad_weight(weight, shown):
    with pytest.raises(RowError, match=(
        rf"^row 7: message 1 \(assistant\) field 'weight' is {shown}; expected 0 \(not trained\) or 1 \(trained\). "
        r"Fix the value, or drop such rows with on_invalid='drop'.$")) as info:
        conv([USER, {"role": "assistant", "content": "a", "weight": weight}])
    assert info.value.reason == "bad_weight"


@pytest.mark.parametrize(
    "messages, reason, pattern",
    [
        ([USER, {"role": "tool", "content": "x"}], "no_assistant",
         (r"^row 7: field 'messages' has roles \['user', 'tool'\] and no assistant message; expected at least one "
         r"assistant turn to train on. Drop such rows with on_invalid='drop'.$")),
        ([USER, {**ANSWER, "weight": 0}, USER, {**ANSWER, "weight": 0}], "no_trained_turn",
         (r"^row 7: field 'messages' has 2 assistant message\(s\), all with weight 0; expected at least one with "
         r"weight 1 \(or no weight\) to train on. Set weight 1 on a turn, or drop such rows with on_invalid='drop'.$")),
        ([USER, {"role": "assistant", "content": " \n", "weight": 1}], "empty_answer",
         (r"^row 7: message 1 \(assistant\) has empty content ' \\n' and no tool_calls or reasoning; expected a "
         r"non-empty answer. Remove the empty turn, set its weight to 0, or drop such rows with on_invalid='drop'.$")),
        ([USER, {"role": "assistant", "content": None, "refusal": ""}], "empty_answer",
         r"message 1 \(assistant\) has empty content ''"),
        ([USER, {"role": "assistant", "content": "", "thinking": "  "}], "empty_answer",
         r"message 1 \(assistant\) has empty content ''"),
        ([USER, {"role": "assistant", "content": []}], "empty_answer", r"message 1 \(assistant\) has empty content ''"),
        (None, "bad_messages", r"^row 7: field 'messages' is None; expected a list of \{role, content\} dicts"),
    ],
)
def test_row_errors(messages, reason, pattern):
    with pytest.raises(RowError, match=pattern) as info:
        conv(messages)
    assert info.value.reason == reason and info.value.row == 7


def test_missing_messages():
    with pytest.raises(RowError, match=r"^row 3: field 'messages' is missing; expected a list of \{role, content\}.$"):
        openai_conversation(3, {"tools": None})


# ---------------------------------------------------------------- records read back from files


TOOL_TURN = {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'}
SEARCH_CALL = {"id": "c9", "type": "function", "function": {"name": "search", "arguments": {"query": "news"}}}
RECORDS = [
    {  # arguments as a JSON string
        "messages": [USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}, TOOL_TURN, ANSWER],
        "tools": [WEATHER, SEARCH],
    },
    {  # arguments as a dict, a weight-0 turn, content parts
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "News?"}]},
            {"role": "assistant", "content": "Old answer.", "weight": 0},
            {"role": "user", "content": "Please search."},
            {"role": "assistant", "content": "Searching.", "tool_calls": [SEARCH_CALL]},
            {"role": "tool", "tool_call_id": "c9", "content": "Nothing new."},
            {"role": "assistant", "content": "Nothing new today.", "weight": 1},
        ],
        "tools": [SEARCH],
    },
    {"messages": [{"role": "developer", "content": "Be brief."}, USER, ANSWER], "tools": None},
]
# the same records normalized by hand: arguments as dicts, content "" for null, no weight keys
EXPECTED = [
    Conversation(
        [USER, {"role": "assistant", "content": "", "tool_calls": [CALL_OUT]}, TOOL_TURN, ANSWER],
        [WEATHER, SEARCH], [False, True, False, True], [None] * 4,
    ),
    Conversation(
        [
            {"role": "user", "content": "News?"},
            {"role": "assistant", "content": "Old answer."},
            {"role": "user", "content": "Please search."},
            {"role": "assistant", "content": "Searching.", "tool_calls": [SEARCH_CALL]},
            {"role": "tool", "tool_call_id": "c9", "content": "Nothing new."},
            {"role": "assistant", "content": "Nothing new today."},
        ],
        [SEARCH], [False, False, False, True, False, True], [None] * 6,
    ),
    Conversation([{"role": "system", "content": "Be brief."}, USER, ANSWER], None, [False, False, True], [None] * 3),
]


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def _check_loaded(ds, expected, qwen):
    assert len(ds) == len(expected)
    for i, (row, want) in enumerate(zip(ds, expected, strict=True)):
        got = openai_conversation(i, row)
        assert got == want
        text = qwen.apply_chat_template(got.messages, tools=got.tools, tokenize=False)
        assert text == qwen.apply_chat_template(want.messages, tools=want.tools, tokenize=False)
        if i == 0:
            assert text.count('{"city": "Paris"}') == 1 and '\\"city\\"' not in text
            assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in text


def test_jsonl_records(tmp_path, qwen):
    ds = datasets.load_dataset("json", data_files=_write_jsonl(tmp_path / "a.jsonl", RECORDS), split="train")
    _check_loaded(ds, EXPECTED, qwen)


def test_jsonl_tools_as_json_strings(tmp_path, qwen):
    records = [{**r, "tools": None if r["tools"] is None else json.dumps(r["tools"])} for r in RECORDS]
    ds = datasets.load_dataset("json", data_files=_write_jsonl(tmp_path / "s.jsonl", records), split="train")
    assert ds.features["tools"] == datasets.Value("string")
    _check_loaded(ds, EXPECTED, qwen)


def test_parquet_unified_schema(tmp_path, qwen):
    """Arrow gives every message every key seen in the column, and every tool every property name."""
    args_as_dict = {**CALL, "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    # one Arrow column cannot hold both a string and a list of parts, nor a string and a dict of arguments
    records = [
        {**RECORDS[0], "messages": [USER, {"role": "assistant", "content": None, "tool_calls": [args_as_dict]},
                                    TOOL_TURN, ANSWER]},
        {**RECORDS[1], "messages": [{"role": "user", "content": "News?"}, *RECORDS[1]["messages"][1:]]},
        RECORDS[2],
    ]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "u.parquet")
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "u.parquet"), split="train")
    first = ds[0]
    assert first["messages"][0]["tool_calls"] is None
    assert first["tools"][0]["function"]["parameters"]["properties"]["query"] is None
    assert first["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris", "query": None}
    _check_loaded(ds, EXPECTED, qwen)
