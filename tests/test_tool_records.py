"""Real-world OpenAI records (tool calls, tools, weights, content parts, reasoning, developer) on the three
real offline tokenizers: randomized records loaded through ``load_dataset("json")`` against an independent
prefix-rendering reference, plus literal ids and labels for each kind of record."""

from __future__ import annotations

import copy
import json
import logging
import random

import pytest
from datasets import Dataset, load_dataset
from helpers import END_OF_TURN
from helpers import reference_labels as helper_reference

from hf_sftprep import RowError, SFTPreprocessor, prepare
from hf_sftprep.testing.offline import trl_template

IGNORE = -100
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Web search",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                    "required": ["query"]}}},
]
TEXTS = ["Hello there.", "안녕하세요!", "  leading spaces", "trailing   ", "\n\nnewlines first", "code:\n    x = 1",
         "Paris", "🙂 ok", "Line one\nLine two"]


def _tool_template_tokenizers(llama3, qwen, smollm):
    """Qwen2.5 renders tool calls itself; Llama 3 gets TRL's llama3_1 and SmolLM2 TRL's ChatML qwen2_5 template."""
    llama = copy.deepcopy(llama3)
    llama.chat_template = trl_template("llama3_1")
    smol = copy.deepcopy(smollm)
    smol.chat_template = trl_template("qwen2_5")
    return {"llama3": llama, "qwen": qwen, "smollm": smol}


def _call(rng: random.Random, k: int) -> dict:
    if rng.random() < 0.5:
        name, args = "get_weather", {"city": rng.choice(["Paris", "Seoul", "Lima"])}
    else:
        name, args = "search", {"query": rng.choice(TEXTS).strip() or "q", "limit": rng.randint(1, 9)}
    arguments = json.dumps(args, ensure_ascii=False) if rng.random() < 0.5 else args
    return {"id": f"call_{k}", "type": "function", "function": {"name": name, "arguments": arguments}}


def random_record(rng: random.Random, single_call: bool) -> dict:
    """System or developer, users with text or text parts, assistants with answers or tool calls (then tool
    results), weights 0/1, reasoning_content; tools as a list or a JSON string."""
    messages = []
    if rng.random() < 0.4:
        messages.append({"role": rng.choice(["system", "developer"]), "content": rng.choice(TEXTS)})
    k = 0
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(TEXTS)
        content = [{"type": "text", "text": text}, {"type": "text", "text": " more"}] if rng.random() < 0.3 else text
        messages.append({"role": "user", "content": content})
        if rng.random() < 0.5:
            calls = [_call(rng, k + j) for j in range(1 if single_call else rng.randint(1, 2))]
            content = None if rng.random() < 0.7 else "Let me check."
            messages.append({"role": "assistant", "content": content, "tool_calls": calls,
                             "weight": rng.choice([0, 1, 1])})
            for c in calls:
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": rng.choice(TEXTS)})
            k += len(calls)
        text = rng.choice(TEXTS)
        answer = {"role": "assistant", "content": text if text.strip() else "ok"}
        if rng.random() < 0.3:
            answer["reasoning_content"] = "thinking about " + rng.choice(TEXTS)
        if rng.random() < 0.3:
            answer["weight"] = 0
        messages.append(answer)
    if not any(m.get("weight", 1) for m in messages if m["role"] == "assistant"):
        messages[-1]["weight"] = 1
    record = {"messages": messages}
    record["tools"] = json.dumps(TOOLS) if rng.random() < 0.5 else TOOLS
    return record


def _reference_messages(record: dict) -> tuple[list[dict], list[dict], list[bool]]:
    """Independent normalization: parts joined, developer -> system, arguments parsed, weight read."""
    out, trained = [], []
    for m in record["messages"]:
        m = dict(m)
        if isinstance(m.get("content"), list):
            m["content"] = "".join(p["text"] for p in m["content"])
        if m["role"] == "developer":
            m["role"] = "system"
        if m.get("tool_calls"):
            m["tool_calls"] = [
                {**c, "function": {**c["function"], "arguments": json.loads(c["function"]["arguments"])
                                   if isinstance(c["function"]["arguments"], str) else c["function"]["arguments"]}}
                for c in m["tool_calls"]
            ]
            if m["content"] is None:
                m["content"] = ""
        trained.append(m["role"] == "assistant" and m.pop("weight", 1) == 1)
        m.pop("weight", None)
        out.append(m)
    tools = json.loads(record["tools"]) if isinstance(record["tools"], str) else record["tools"]
    return out, tools, trained


def reference_labels(tok, end_text: str, record: dict, last_only: bool = False) -> tuple[list[int], list[int]]:
    """The prefix-rendering reference of tests/helpers.py on the independently normalized record."""
    messages, tools, trained = _reference_messages(record)
    return helper_reference(tok, messages, end_text, last_only, tools=tools, trained=trained)




@pytest.mark.parametrize("name", ["llama3", "qwen", "smollm"])
@pytest.mark.parametrize("train_on", ["all", "last"])
def test_randomized_tool_records_match_reference(name, train_on, llama3, qwen, smollm, tmp_path, caplog):
    tok = _tool_template_tokenizers(llama3, qwen, smollm)[name]
    rng = random.Random(11)
    records = [random_record(rng, single_call=name == "llama3") for _ in range(150)]
    path = tmp_path / "records.jsonl"
    # tools as a string in some rows and a list in others cannot share one Arrow column: two files
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps({**r, "tools": json.dumps(r["tools"]) if not isinstance(r["tools"], str) else r["tools"]},
                               ensure_ascii=False) + "\n")
    raw = load_dataset("json", data_files=str(path), split="train")
    with caplog.at_level(logging.DEBUG, logger="hf_sftprep"):
        ds = prepare(raw, tok, train_on=train_on, load_from_cache_file=False)
    assert ds.num_rows == len(records)
    for i, record in enumerate(records):
        ids, labels = reference_labels(tok, END_OF_TURN[name], record, last_only=train_on == "last")
        assert ds[i]["input_ids"] == ids, f"row {i}"
        assert ds[i]["labels"] == labels, f"row {i}"
    exact = sum(int(m.split()[3]) for m in caplog.messages if m.startswith("exact path for"))
    print(f"{name} train_on={train_on}: {len(records)} rows compared, {exact} took the exact path")


def _labels_text(tok, labels):
    return tok.decode([t for t in labels if t != IGNORE])


def _one(tok, record, **options):
    return prepare(Dataset.from_list([record]), tok, **options)[0]


WEATHER_CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def test_null_content_tool_call_is_rendered_and_trained(qwen):
    record = {"messages": [{"role": "user", "content": "Weather in Paris?"},
                           {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
                           {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                           {"role": "assistant", "content": "Sunny."}], "tools": TOOLS}
    row = _one(qwen, record)
    expected = qwen.apply_chat_template(_reference_messages(record)[0], tools=TOOLS, tokenize=True, return_dict=False)
    assert row["input_ids"] == expected
    assert row["input_ids"].count(151644) == 5  # system (tools), user, assistant, user (tool result), assistant
    trained = [t for t in row["labels"] if t != IGNORE]
    assert trained == qwen.encode('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
                                  add_special_tokens=False) + [151645] + qwen.encode("Sunny.", add_special_tokens=False) + [151645]


def test_content_and_tool_calls_both_rendered(qwen):
    record = {"messages": [{"role": "user", "content": "Weather?"},
                           {"role": "assistant", "content": "Let me check.", "tool_calls": [WEATHER_CALL]}],
              "tools": json.dumps(TOOLS)}
    row = _one(qwen, record)
    assert _labels_text(qwen, row["labels"]) == (
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>')
    text = qwen.decode(row["input_ids"])
    assert '"name": "get_weather", "description": "Weather in a city"' in text  # the tools column reached the template


def test_weight_zero_is_not_trained(llama3):
    record = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Bad answer.", "weight": 0},
                           {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Good answer.", "weight": 1}]}
    row = _one(llama3, record)
    assert [t for t in row["labels"] if t != IGNORE] == [15571, 4320, 13, 128009]  # "Good answer." + <|eot_id|>
    assert row["input_ids"].count(128009) == 4


def test_bad_weight_and_all_weight_zero(llama3):
    bad = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "A", "weight": 0.5}]}
    with pytest.raises(RowError, match=r"row 0: .*weight.*0.5"):
        _one(llama3, bad)
    none = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "A", "weight": 0}]}
    ds, report = prepare(Dataset.from_list([none, bad]), llama3, on_invalid="drop", return_report=True)
    assert ds.num_rows == 0 and report.dropped == {"bad_weight": 1, "no_trained_turn": 1}


def test_content_parts_and_developer(smollm):
    record = {"messages": [{"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                           {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
                           {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]}]}
    row = _one(smollm, record)
    assert smollm.decode(row["input_ids"]) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n")
    assert [t for t in row["labels"] if t != IGNORE] == smollm.encode("Hello!", add_special_tokens=False) + [2]
    image = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                          {"role": "assistant", "content": "A"}]}
    with pytest.raises(RowError, match=r"row 0: .*image_url"):
        SFTPreprocessor(smollm)({"messages": [image["messages"]]}, [0])


def test_template_without_tool_support_refuses_tool_calls(smollm):
    record = {"messages": [{"role": "user", "content": "Weather?"},
                           {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]}]}
    with pytest.raises(RowError, match="row 0: message 1 \\(assistant\\) has tool_calls, but the chat template does not render"):
        _one(smollm, record)


def test_reasoning_the_template_drops_is_counted(qwen):
    record = {"messages": [{"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello.", "reasoning_content": "The user greets me."}]}
    ds, report = prepare(Dataset.from_list([record]), qwen, return_report=True)
    assert report.reasoning_dropped_turns == 1
    assert _labels_text(qwen, ds[0]["labels"]) == "Hello.<|im_end|>"


def test_user_columns_are_kept(qwen):
    rows = [{"id": 7, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]},
            {"id": 8, "messages": [{"role": "user", "content": "Hi"}]}]
    ds = prepare(Dataset.from_list(rows), qwen, on_invalid="drop")
    assert ds.column_names == ["id", "input_ids", "labels", "length"] and ds["id"] == [7]
    mapped = Dataset.from_list(rows[:1]).map(SFTPreprocessor(qwen), batched=True, with_indices=True)
    assert mapped.column_names == ["id", "messages", "input_ids", "labels", "length"]
    assert mapped[0]["id"] == 7 and mapped[0]["messages"] == rows[0]["messages"]
