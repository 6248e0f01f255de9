"""Rendering by substitution: on every fixture template, rows that share a layout get the text the template
renders (byte for byte), with the same targets and refusals as the plain path; templates that escape or
read text are rendered for real."""

from __future__ import annotations

import copy
import logging
import random

import pytest
from conversations import random_chat

from hf_sftprep import SFTPreprocessor
from hf_sftprep.errors import SFTPrepError
from hf_sftprep.templates import substitute
from hf_sftprep.templates.branching import text_reads
from hf_sftprep.templates.shapes import _edges
from hf_sftprep.templates.substitute import layout
from hf_sftprep.testing.families import FAMILIES
from hf_sftprep.testing.zoo import ZOO_FAMILIES

# cores (no edge whitespace) a template could treat differently from a sentinel: quotes, backslashes, markup
# and entities, newlines and tabs, non-ASCII and U+2028, the sentinel pattern itself, jinja syntax, a period
POOL = ['say "hi" \\ now', "<b>&amp;</b> 'q'", "line1\n\nline2\ttab", "\u00e9\u4e2d\U0001f642 \u2028x", "zq1x zq2x",
        "{{ raw }} {% if %}", "a", "Hello.", "x\\u0041y", "-- end --"]


def _variant(messages: list[dict], rng: random.Random, split) -> list[dict]:
    """The conversation with each text piece's core replaced from :data:`POOL` (edges, tokens, calls kept)."""
    out = copy.deepcopy(messages)
    for m in out:
        for k in ("content", "reasoning_content"):
            v = m.get(k)
            if not isinstance(v, str):
                continue
            parts = split.split(v) if split is not None else [v]
            for n, part in enumerate(parts):
                lead, core, trail = _edges(part)
                if n % 2 == 0 and core:
                    parts[n] = lead + rng.choice(POOL) + trail
            m[k] = "".join(parts)
    return out


def _records(split, seed: int = 0, per_layout: int = 3) -> dict[str, list]:
    rng = random.Random(seed)
    rows, tools = [], []
    for kind in ("plain", "plain", "reasoning", "tools"):
        base, base_tools = random_chat(rng, kind)
        for _ in range(per_layout):
            rows.append(_variant(base, rng, split))
            tools.append(base_tools)
    return {"messages": rows, "tools": tools}


def _render_both(tok, records, fast=None):
    fast = fast or SFTPreprocessor(tok, on_invalid="drop", backend="hf")
    plain = SFTPreprocessor(tok, on_invalid="drop", backend="hf")
    plain.rows.substitute = None
    rows = list(range(len(records["messages"])))
    return fast, fast.render(records, rows), plain.render(records, rows)


def _tokenizer(request, name):
    if name in FAMILIES:
        return request.getfixturevalue("families")(name)
    return request.getfixturevalue("zoo")(name)[0]


@pytest.mark.parametrize("name", list(ZOO_FAMILIES) + list(FAMILIES))
def test_substituted_rows_equal_the_templates_rendering(request, name):
    tok = _tokenizer(request, name)
    pre = SFTPreprocessor(tok, on_invalid="drop", backend="hf")
    records = _records(pre.rows.verifier.split if pre.rows.verifier else None)
    fast, got, want = _render_both(tok, records, pre)
    assert got.texts == want.texts
    assert got.targets == want.targets and got.kept == want.kept and got.dropped == want.dropped
    assert got.regions == want.regions and got.lost == want.lost
    sub, reads = fast.rows.substitute, fast.rows.verifier.reads
    if not reads:  # a template that only writes text: its repeated layouts are substituted
        assert sub is not None and sub.substituted > 0, f"{name}: no row was substituted"
    else:
        assert sub is None


def _chatml(qwen, template: str):
    tok = copy.copy(qwen)
    tok.chat_template = template
    return tok


CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{WRITE}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _chats(texts):
    return {"messages": [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in texts]}


@pytest.mark.parametrize("write", ["{{ m.content | tojson }}", "{{ m.content | e }}", "{{ m | tojson }}"])
def test_a_template_that_escapes_text_is_rendered_for_real(qwen, write):
    tok = _chatml(qwen, CHATML.replace("{WRITE}", write))
    records = _chats([("q1", "a1"), ("q2", "a2"), ('say "x" <b>', "a\\b\n"), ("q3", "a3")])
    fast, got, want = _render_both(tok, records)
    assert got.texts == want.texts == [tok.apply_chat_template(m, tokenize=False) for m in records["messages"]]
    assert fast.rows.substitute.substituted == 0  # the torture texts told the layout apart


def test_a_plain_writing_template_substitutes_from_a_layouts_third_row(qwen):
    tok = _chatml(qwen, CHATML.replace("{WRITE}", "{{ m.content | trim }}"))
    records = _chats([("q1", " a1"), ("q2", " a2"), ('say "x" <b>', " a\\b"), ("q3", " a3"), ("q4", "a4")])
    fast, got, want = _render_both(tok, records)
    assert got.texts == want.texts == [tok.apply_chat_template(m, tokenize=False) for m in records["messages"]]
    assert fast.rows.substitute.substituted == 2  # rows 2 and 3; row 4's answer has other edge whitespace


def test_strip_with_characters_reads_the_text():
    assert text_reads("{{ messages[0].content.strip('.') }}") == ["line 1: method 'strip' with characters on 'content'"]
    assert text_reads("{{ messages[0].content | trim('x') }}") == ["line 1: filter 'trim' with characters on 'content'"]
    assert text_reads("{{ messages[0].content.strip('\\n ') }}{{ messages[0].content | trim }}") == []


SHOUT = "{% if 'SHOUT' in (m | string) %}!!{% endif %}{{ m.content }}"  # a read the analysis does not see


def test_a_read_the_analysis_misses_raises_when_every_row_is_checked(qwen):
    tok = _chatml(qwen, CHATML.replace("{WRITE}", SHOUT))
    assert text_reads(tok.chat_template) == []
    records = _chats([("q1", "a1"), ("q2", "a2"), ("q3", "a3"), ("SHOUT", "a4")])
    with pytest.raises(SFTPrepError, match=r"HF_SFTPREP_CHECK_RENDERS=all: a substituted row differs"):
        _render_both(tok, records)


def test_a_sampled_check_that_differs_turns_substitution_off(qwen, monkeypatch, caplog):
    monkeypatch.setenv(substitute.ENV, "sample")
    monkeypatch.setattr(substitute, "CHECK_EVERY", 2)
    tok = _chatml(qwen, CHATML.replace("{WRITE}", SHOUT))
    records = _chats([("q1", "a1"), ("q2", "a2"), ("q3", "a3"), ("SHOUT", "a4"), ("q5", "a5")])
    with caplog.at_level(logging.WARNING, logger="hf_sftprep"):
        fast, got, want = _render_both(tok, records)
    assert got.texts == want.texts and "!!SHOUT" in got.texts[3]
    assert fast.rows.substitute.off.startswith("a substituted row differed from the template's rendering at character")
    assert "rendering every row with the template" in caplog.text


def test_layout_keys_keep_edges_and_values_but_not_texts(qwen):
    def key(messages, tools=None):
        found = layout(messages, [m["role"] == "assistant" for m in messages], tools, None)
        return found and found[0]

    chat = lambda a: [{"role": "user", "content": "q"}, {"role": "assistant", "content": a}]  # noqa: E731
    assert key(chat("a")) == key(chat("a longer answer")) != key(chat("a ")) != key(chat("a\n"))
    assert key(chat("")) != key(chat(" ")) != key(chat("a"))
    assert key(chat("a"), []) != key(chat("a")) != key(chat("a"), [{"type": "function"}])
    call = [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]
    other = [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "g", "arguments": "{}"}}]}]
    assert key(call) != key(other)
    sentinel_like = [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "zq1x", "arguments": "{}"}}]}]
    assert key(sentinel_like) is None and key(chat("a"), [{"name": "zq3x"}]) is None


def test_layouts_are_learned_again_after_the_renderer_falls_back(qwen):
    """The Renderer switches to apply_chat_template when its direct render differs on a row: splices made
    from direct renders are dropped and learned again from the fallback's renders."""
    tok = _chatml(qwen, CHATML.replace("{WRITE}", "{{ m.content }}"))
    pre = SFTPreprocessor(tok, on_invalid="drop", backend="hf")
    records = _chats([("q1", "a1"), ("q2", "a2"), ("q3", "a3")])
    pre.render(records, [0, 1, 2])
    sub = pre.rows.substitute
    assert sub.substituted == 1 and sub.layouts
    pre.rows.render.fallback_reason = "the direct render differs from apply_chat_template on row 7"
    got = pre.render(_chats([("q4", "a4"), ("q5", "a5")]), [3, 4])
    assert sub.substituted == 1  # both rows rendered for real: the layout is being learned again
    assert got.texts == [tok.apply_chat_template(m, tokenize=False) for m in _chats([("q4", "a4"), ("q5", "a5")])["messages"]]


# -- randomized: arbitrary texts on real tokenizers, one preprocessor across examples so layouts repeat -------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_EDGE = st.sampled_from(["", " ", "\n", "  \n", "\t"])
_CORE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40).map(str.strip).filter(bool)
_TEXT = st.builds(lambda a, core, b: a + core + b, _EDGE, _CORE, _EDGE)
_ROLES = [["user", "assistant"], ["system", "user", "assistant"], ["user", "assistant", "user", "assistant"]]


@pytest.mark.parametrize("tok_name", ["llama3", "qwen"])
def test_random_texts_substitute_to_the_templates_rendering(request, tok_name):
    tok = request.getfixturevalue(tok_name)
    pre = SFTPreprocessor(tok, on_invalid="drop", backend="hf", special_tokens_in_content="split")
    seen = {"rows": 0}

    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(roles=st.sampled_from(_ROLES), texts=st.lists(_TEXT, min_size=4, max_size=4))
    def check(roles, texts):
        messages = [{"role": r, "content": t} for r, t in zip(roles, texts)]
        got = pre.render({"messages": [messages] * 3}, [seen["rows"], seen["rows"] + 1, seen["rows"] + 2])
        seen["rows"] += 3
        assert not got.dropped, got.dropped
        assert got.texts == [tok.apply_chat_template(messages, tokenize=False)] * 3

    check()
    assert pre.rows.substitute.substituted >= 40  # each example's third row at least


def test_json_loaded_real_shapes_equal_the_plain_path(qwen, tmp_path, monkeypatch):
    """Records through load_dataset('json'): struct columns fill absent keys with None (a `name` on some
    messages), `tools` as "[]" and as null, chats that open with the assistant, two users in a row; each
    layout repeated. prepare() with substitution gives the plain path's ids, labels and report."""
    import json

    import datasets

    import hf_sftprep
    from hf_sftprep.datasets import rows as rows_module

    shapes = [
        [{"role": "assistant", "content": "I can help."}, {"role": "user", "content": "q"},
         {"role": "assistant", "content": "a"}],
        [{"role": "user", "content": "first"}, {"role": "user", "content": "second", "name": "bob"},
         {"role": "assistant", "content": " answer\n"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    ]
    rng = random.Random(3)
    records = []
    for k in range(36):
        messages = _variant(shapes[k % 3], rng, None)
        records.append({"messages": messages, "tools": "[]" if k % 2 else None})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    raw = datasets.load_dataset("json", data_files=str(path), split="train")
    substituted = []
    real_text = substitute.Substituter.text
    monkeypatch.setattr(substitute.Substituter, "text", lambda self, *a: substituted.append(1) or real_text(self, *a))
    got, report = hf_sftprep.prepare(raw, qwen, return_report=True, backend="hf", load_from_cache_file=False)
    assert len(substituted) == 24  # 6 layouts (3 shapes x tools or not) of 6 rows: from each one's third row on
    monkeypatch.setattr(rows_module, "Substituter", lambda *a: None)
    want, want_report = hf_sftprep.prepare(raw, qwen, return_report=True, backend="hf", load_from_cache_file=False)
    assert got["input_ids"] == want["input_ids"] and got["labels"] == want["labels"]
    assert report.dropped == want_report.dropped and report.rows_out == want_report.rows_out == 36
