"""ShareGPT records: detection, role mapping, tool calls, errors, and literal ids through prepare()."""

from __future__ import annotations

import json
import random

import pytest
from datasets import Dataset, load_dataset
from helpers import random_conversation, reference_labels

from hf_sftprep import RowError, SFTPrepError, prepare
from hf_sftprep.records.detect import detect_format
from hf_sftprep.records.sharegpt import sharegpt_messages, sharegpt_record

QWEN_SYSTEM = [151644, 8948, 198, 2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525, 264, 10950, 17847, 13, 151645, 198]


def to_sharegpt(messages: list[dict]) -> list[dict]:
    names = {"user": "human", "assistant": "gpt", "system": "system"}
    return [{"from": names[m["role"]], "value": m["content"]} for m in messages]


def test_detect_from_columns_and_features(tmp_path):
    assert detect_format(["conversations", "id"]) == "sharegpt"
    assert detect_format(["conversations"], "sharegpt") == "sharegpt"
    path = tmp_path / "sg.jsonl"
    path.write_text(json.dumps({"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]}) + "\n")
    ds = load_dataset("json", data_files=str(path), split="train")
    assert detect_format(ds.column_names, features=ds.features) == "sharegpt"
    # a 'conversations' column of {role, content} items is not ShareGPT: the error says what was expected
    path.write_text(json.dumps({"conversations": [{"role": "user", "content": "a"}]}) + "\n")
    ds = load_dataset("json", data_files=str(path), split="train")
    with pytest.raises(SFTPrepError, match=r"columns found are \['conversations'\]; expected .*a 'conversations' column of \{from, value\} items \(ShareGPT\)"):
        detect_format(ds.column_names, features=ds.features)


def test_roles_mapped():
    conv = [
        {"from": "system", "value": "S"}, {"from": "human", "value": "U"}, {"from": "gpt", "value": "A"},
        {"from": "observation", "value": "O"}, {"from": "tool", "value": "T"},
    ]
    assert sharegpt_messages(0, conv) == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"},
        {"role": "tool", "content": "O"}, {"role": "tool", "content": "T"},
    ]
    mapped = sharegpt_messages(0, [{"from": "bot", "value": "x"}, {"from": "human", "value": "y"}], {"bot": "assistant", "human": "system"})
    assert mapped == [{"role": "assistant", "content": "x"}, {"role": "system", "content": "y"}]


def test_function_call_becomes_tool_calls():
    one = json.dumps({"name": "get_weather", "arguments": json.dumps({"city": "Paris"})})
    many = json.dumps([{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": "{}"}])
    out = sharegpt_messages(0, [{"from": "function_call", "value": one}, {"from": "function_call", "value": many}])
    assert out[0] == {"role": "assistant", "content": None,
                      "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
    assert [c["function"] for c in out[1]["tool_calls"]] == [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}]


def test_tools_column_passes_through():
    tools = json.dumps([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
    rec = sharegpt_record(0, {"conversations": [{"from": "human", "value": "a"}], "tools": tools})
    assert rec["tools"] == tools
    assert "tools" not in sharegpt_record(0, {"conversations": [], "tools": None})


@pytest.mark.parametrize(
    "conv, reason, pattern",
    [
        ("text", "bad_messages", r"row 7: field 'conversations' is a str; expected a list of \{from, value\} dicts"),
        ([{"role": "user", "content": "a"}], "bad_message",
         r"row 7: field 'conversations'\[0\] has keys \['content', 'role'\]; expected a dict with 'from' and 'value'. For \{role, content\} dicts, name the column 'messages'"),
        ([{"from": "bot", "value": "a"}], "unknown_role",
         r"row 7: field 'conversations'\[0\] has from='bot'; expected one of human, user, gpt, assistant, system, function_call, observation, tool. Map custom names with role_map=\{'bot': 'assistant'\}"),
        ([{"from": "function_call", "value": "{not json"}], "bad_tool_call",
         r"row 7: field 'conversations'\[0\] \(function_call\) has value '\{not json' that is not valid JSON; expected a JSON object or list. Write the value as JSON like"),
        ([{"from": "function_call", "value": '{"arguments": {}}'}], "bad_tool_call",
         r"row 7: field 'conversations'\[0\] \(function_call\) has keys \['arguments'\]; expected an object with a string 'name' and 'arguments'"),
        ([{"from": "function_call", "value": '{"name": "f", "arguments": "{x"}'}], "bad_tool_call",
         r"\(function_call\) has arguments '\{x' that are not valid JSON; expected a JSON object"),
        ([{"from": "function_call", "value": "[]"}], "bad_tool_call", r"\(function_call\) has an empty list; expected at least one call"),
    ],
)
def test_errors(conv, reason, pattern):
    with pytest.raises(RowError, match=pattern) as info:
        sharegpt_messages(7, conv)
    assert info.value.reason == reason and info.value.row == 7


def test_literal_ids_and_labels_qwen(qwen):
    conv = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]
    row = prepare(Dataset.from_list([{"conversations": conv}]), qwen)[0]
    # Qwen2.5's template injects its default system prompt; 9707 0 = "Hello!", 19 = "4", 151645 = <|im_end|>
    tail = [151644, 872, 198, 13048, 151645, 198, 151644, 77091, 198, 9707, 0, 151645, 198,
            151644, 872, 198, 17, 10, 17, 30, 151645, 198, 151644, 77091, 198, 19, 151645, 198]
    assert row["input_ids"] == QWEN_SYSTEM + tail
    trained = [t if i in (30, 31, 32, 46, 47) else -100 for i, t in enumerate(QWEN_SYSTEM + tail)]
    assert row["labels"] == trained


def test_errors_and_drops_through_prepare(smollm):
    rows = [
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "robot", "value": "a"}]},
        {"conversations": [{"from": "human", "value": "only a question"}]},
    ]
    with pytest.raises(RowError, match=r"row 1: field 'conversations'\[1\] has from='robot'"):
        prepare(Dataset.from_list(rows), smollm)
    ds, report = prepare(Dataset.from_list(rows), smollm, on_invalid="drop", return_report=True)
    assert report.dropped == {"no_assistant": 1, "unknown_role": 1} and ds.num_rows == 1
    fixed = prepare(Dataset.from_list(rows[:2]), smollm, role_map={"robot": "assistant"})
    assert fixed.num_rows == 2 and fixed[1]["input_ids"] == fixed[0]["input_ids"]


@pytest.mark.parametrize("name, end", [("llama3", "<|eot_id|>"), ("qwen", "<|im_end|>"), ("smollm", "<|im_end|>")])
def test_matches_openai_records_and_reference(tmp_path, request, name, end):
    """ShareGPT rows loaded from JSONL give the ids and labels of the same conversations as OpenAI rows,
    and those of the slow prefix-rendering reference."""
    tok = request.getfixturevalue(name)
    rng = random.Random(11)
    convs = [random_conversation(rng) for _ in range(100)]
    sg_path, oa_path = tmp_path / "sg.jsonl", tmp_path / "oa.jsonl"
    sg_path.write_text("".join(json.dumps({"conversations": to_sharegpt(c)}) + "\n" for c in convs))
    oa_path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in convs))
    sg = prepare(load_dataset("json", data_files=str(sg_path), split="train"), tok)
    oa = prepare(load_dataset("json", data_files=str(oa_path), split="train"), tok)
    assert sg["input_ids"] == oa["input_ids"] and sg["labels"] == oa["labels"]
    for i, conv in enumerate(convs):
        assert (sg["input_ids"][i], sg["labels"][i]) == reference_labels(tok, conv, end), i


def test_function_call_and_tools_literal_qwen(qwen):
    """function_call -> an assistant tool call the template renders and trains; observation -> a tool turn."""
    call = json.dumps({"name": "w", "arguments": {"city": "Paris"}})
    conv = [{"from": "human", "value": "Paris?"}, {"from": "function_call", "value": call},
            {"from": "observation", "value": "sunny"}, {"from": "gpt", "value": "Sunny."}]
    row = prepare(Dataset.from_list([{"conversations": conv}]), qwen)[0]
    call_ids = [27, 14172, 13429, 397, 4913, 606, 788, 330, 86, 497, 330, 16370, 788, 5212, 8926, 788, 330, 59604, 95642,
                522, 14172, 13429, 29, 151645]  # '<tool_call>\n{"name": "w", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>'
    assert row["input_ids"] == QWEN_SYSTEM + [151644, 872, 198, 59604, 30, 151645, 198, 151644, 77091, 198] + call_ids + [
        198, 151644, 872, 198, 27, 14172, 9655, 397, 82, 27297, 198, 522, 14172, 9655, 29, 151645, 198,
        151644, 77091, 198, 50, 27297, 13, 151645, 198]
    assert [t for t in row["labels"] if t != -100] == call_ids + [50, 27297, 13, 151645]
    assert [i for i, t in enumerate(row["labels"]) if t != -100] == [*range(31, 55), *range(75, 79)]
    tools = [{"type": "function", "function": {"name": "w", "description": "Weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    with_tools = prepare(Dataset.from_list([{"conversations": conv, "tools": json.dumps(tools)}]), qwen)[0]
    messages = [{"role": "user", "content": "Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "w", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "content": "sunny"}, {"role": "assistant", "content": "Sunny."}]
    assert with_tools["input_ids"] == qwen.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False)
    assert [t for t in with_tools["labels"] if t != -100] == call_ids + [50, 27297, 13, 151645]
