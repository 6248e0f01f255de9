"""Trust on real data: one literal case per class of issue 26, on published templates and real tokenizers.

Each case checks what the row trains (literal text), that its ids equal ``apply_chat_template`` on the
record exactly as the dataset holds it, and that its labels equal the prefix-render reference on the row's
own text (``tests/family_reference.py``).
"""

from __future__ import annotations

import copy
import json
import time

import pytest
from datasets import Dataset, load_dataset
from family_reference import family_labels
from tokenizers import AddedToken

from hf_sftprep import SFTPreprocessor, prepare
from hf_sftprep.datasets.prepare import tokenizer_identity
from hf_sftprep.templates.branching import text_reads
from hf_sftprep.templates.render import special_strings
from hf_sftprep.testing.families import family_tokenizer

IGNORE = -100


def trained_text(tok, row) -> str:
    return tok.decode([i for i, lab in zip(row["input_ids"], row["labels"]) if lab != IGNORE])


def one(tok, messages, tools=None, **options):
    pre = SFTPreprocessor(tok, emit_meta=True, **options)
    record = {"messages": [messages]} if tools is None else {"messages": [messages], "tools": [tools]}
    return pre(record, [0]).to_pylist()[0]


def assert_reference(tok, messages, tools, row):
    ids = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False)
    assert row["input_ids"] == ids
    ref = family_labels(tok, messages, tools, [m["role"] == "assistant" and m.get("weight", 1) for m in messages])
    assert ref is not None and ref == (row["input_ids"], row["labels"])


def write_jsonl(tmp_path, rows) -> str:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


SPLIT_CHAT = [  # a later part of a split chat: it opens with the assistant (ShareGPT dumps hold many)
    {"role": "assistant", "content": "Sure, continuing the list: 4. Pears."},
    {"role": "user", "content": "And one more?"},
    {"role": "assistant", "content": "5. Plums."},
]


@pytest.mark.parametrize("name, trained", [
    ("llama3", "Sure, continuing the list: 4. Pears.<|eot_id|>5. Plums.<|eot_id|>"),
    ("qwen", "Sure, continuing the list: 4. Pears.<|im_end|>5. Plums.<|im_end|>"),
])
def test_a_chat_that_opens_with_the_assistant_is_kept(request, name, trained):
    tok = request.getfixturevalue(name)
    row = one(tok, SPLIT_CHAT)
    assert row["drop_reason"] == "" and trained_text(tok, row) == trained
    assert_reference(tok, SPLIT_CHAT, None, row)


def test_smollm3_no_think_trains_only_the_answer(tok_dir):
    # SmolLM3's published template reads the system text: with /no_think the generation prompt (and every
    # history answer) carries an empty think block, which the model is given, not taught
    tok = family_tokenizer("smollm3", tok_dir)
    assert any("system_message" in r for r in text_reads(tok.chat_template))
    chat = [{"role": "system", "content": "Be brief. /no_think"}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Bye!"}]
    row = one(tok, chat)
    assert trained_text(tok, row) == "Hello!<|im_end|>Bye!<|im_end|>"
    assert "<think>\n\n</think>\n" in tok.decode(row["input_ids"])
    assert_reference(tok, chat, None, row)
    think = [dict(chat[0], content="Be brief.")] + chat[1:]  # the same shape in think mode
    row = one(tok, think)
    assert trained_text(tok, row) == "Hello!<|im_end|>Bye!<|im_end|>"
    assert_reference(tok, think, None, row)


def test_text_reads_finds_content_tests_and_passes_plain_templates(llama3, qwen):
    assert text_reads(llama3.chat_template) == [] and text_reads(qwen.chat_template) == []
    assert text_reads("{% if '</think>' in message.content %}{% set c = message.content.split('</think>')[-1] %}"
                      "{{ c }}{% endif %}") == ["line 1: Compare on 'content'", "line 1: method 'split' on 'content'",
                                                "line 1: subscript on 'Call'"]
    assert text_reads("{% set c = m.content if m.content is string else '' %}{% if c %}{{ c | trim }}{% endif %}") == []
    assert text_reads("{% for m in messages %}{% if m.content|length > 3 %}x{% endif %}{% endfor %}") == [
        "line 1: Compare on 'length'", "line 1: filter 'length' on 'content'"]


BOOK = {"type": "function", "function": {"name": "book", "description": "Book a room.", "parameters": {
    "type": "object", "properties": {"start_date": {"type": "string", "default": None}}}}}
NULL_CALL = [
    {"role": "user", "content": "Book it."},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "book", "arguments": {"start_date": None}}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "booked"},
    {"role": "assistant", "content": "Booked."},
]


def test_nulls_the_user_wrote_are_rendered(qwen, tmp_path):
    raw = load_dataset("json", data_files=write_jsonl(tmp_path, [
        {"messages": NULL_CALL, "tools": [BOOK]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey."}], "tools": []},
    ]), split="train")
    ds = prepare(raw, qwen)
    for record, row in zip(raw, ds):
        want = qwen.apply_chat_template(record["messages"], tools=record["tools"], tokenize=True, return_dict=False)
        assert row["input_ids"] == want
    text = qwen.decode(ds[0]["input_ids"])
    assert '"default": null' in text
    assert trained_text(qwen, ds[0]) == (
        '<tool_call>\n{"name": "book", "arguments": {"start_date": null}}\n</tool_call><|im_end|>Booked.<|im_end|>')


def test_struct_columns_drop_only_what_arrow_added(qwen):
    # Dataset.from_list unifies the messages into one struct: every message gets tool_calls=None, and the
    # arguments of both calls get both keys; those Nones are Arrow's, so they are not rendered
    call = lambda name, args: {"role": "assistant", "content": None, "tool_calls": [  # noqa: E731
        {"id": "c1", "type": "function", "function": {"name": name, "arguments": args}}]}
    rows = [{"messages": [{"role": "user", "content": "a"}, call("f", {"x": 1})]},
            {"messages": [{"role": "user", "content": "b"}, call("g", {"y": 2})]}]
    ds = prepare(Dataset.from_list(rows), qwen)
    for record, row in zip(rows, ds):
        assert row["input_ids"] == qwen.apply_chat_template(record["messages"], tokenize=True, return_dict=False)


def test_empty_tools_pick_the_tool_use_template(tok_dir):
    # transformers renders with the named tool_use template whenever tools is not None, [] included
    tok = family_tokenizer("hermes_2_pro", tok_dir)
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    for tools in ([], None):
        row = one(tok, chat, tools=tools)
        assert row["input_ids"] == tok.apply_chat_template(chat, tools=tools, tokenize=True, return_dict=False)
        assert trained_text(tok, row) == "Hello.<|im_end|>"
    assert len(one(tok, chat, tools=[])["input_ids"]) > len(one(tok, chat, tools=None)["input_ids"]) + 100


def test_rstrip_special_outside_the_longest_six_turns_the_piece_dedupe_off(qwen):
    tok = copy.deepcopy(qwen)
    tok.add_special_tokens({"additional_special_tokens": [AddedToken("<|im_end|>", rstrip=True, special=True,
                                                                     normalized=False)]})
    assert tok.added_tokens_decoder[151645].rstrip and "<|im_end|>" not in special_strings(tok)[:6]
    system = {"role": "system", "content": "You answer in one line.\n\n"}
    rows = [[system, {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"\na{i}\n"}]
            for i in range(40)]
    out = SFTPreprocessor(tok, emit_meta=True)({"messages": rows}, list(range(40))).to_pylist()
    for chat, row in zip(rows, out):
        assert_reference(tok, chat, None, row)
    assert trained_text(tok, out[0]) == "a0\n<|im_end|>"  # the header's "\n" merged with the answer's


def test_pad_token_is_in_the_cache_key(qwen):
    tok = copy.deepcopy(qwen)
    before = tokenizer_identity(tok)
    tok.pad_token = "<|extra_0|>"
    assert tokenizer_identity(tok) != before


def test_the_renderer_guard_compares_dataset_rows(qwen):
    pre = SFTPreprocessor(qwen)
    assert pre.rows.render.checked == 0  # the probe's and the shape check's renders do not count
    pre({"messages": [SPLIT_CHAT, SPLIT_CHAT[1:]]}, [0, 1])
    assert pre.rows.render.checked == 2


@pytest.mark.parametrize("name", ["llama3", "qwen"])
def test_a_400_turn_conversation_costs_a_few_renders(request, name):
    tok = request.getfixturevalue(name)
    chat = [m for i in range(400) for m in ({"role": "user", "content": f"question {i}?"},
                                             {"role": "assistant", "content": f"answer {i}."})]
    pre = SFTPreprocessor(tok)
    pre({"messages": [chat[:2]]}, [0])  # the process's first encode
    best_prep = best_apply = float("inf")
    for k in range(3):  # alternating, best of three: the machine is shared
        variant = [dict(m, content=m["content"] + " x" * k) for m in chat]
        t = time.perf_counter()
        want = tok.apply_chat_template(variant, tokenize=True, return_dict=False)
        best_apply = min(best_apply, time.perf_counter() - t)
        fresh = SFTPreprocessor(tok) if k else pre  # a new shape each time: its verification is timed
        fresh({"messages": [chat[:2]]}, [0])
        t = time.perf_counter()
        got = fresh({"messages": [variant]}, [0])
        best_prep = min(best_prep, time.perf_counter() - t)
        assert list(got["input_ids"][0]) == want
    assert best_prep <= 3 * best_apply, (best_prep, best_apply)


def test_reasoning_dropped_counts_each_turn_in_its_own_place(zoo):
    """Qwen3 drops history reasoning; the same words in a later turn's reasoning, or as an answer, do
    not make the dropped one count as rendered (0.3 counted 0 of 2 here)."""
    tok, _ = zoo("qwen3")
    think = "Let me think."
    rows = [
        {"messages": [{"role": "user", "content": "q1"},
                      {"role": "assistant", "content": "A1", "reasoning_content": think},
                      {"role": "user", "content": "q2"},
                      {"role": "assistant", "content": "A2", "reasoning_content": think}]},
        {"messages": [{"role": "user", "content": "q1"},
                      {"role": "assistant", "content": "Sure.", "reasoning_content": "Sure."},
                      {"role": "user", "content": "q2"},
                      {"role": "assistant", "content": "A2"}]},
    ]
    text = tok.apply_chat_template(rows[0]["messages"], tokenize=False)
    assert text.count(think) == 1  # only the last turn's reasoning is rendered
    _, report = prepare(Dataset.from_list(rows), tok, return_report=True)
    assert report.reasoning_dropped_turns == 2
