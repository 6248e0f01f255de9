"""Renderer: the direct render is byte-identical to apply_chat_template on every template, and its guard falls back."""

from __future__ import annotations

import copy
import logging
import random

import pytest
from conversations import KINDS, none_content_as_empty, random_chat

from hf_sftprep.errors import RowError
from hf_sftprep.offline_zoo import ZOO_FAMILIES
from hf_sftprep.templates import render as render_module
from hf_sftprep.templates.render import CHECKED_RENDERS, Renderer, _is_plain
from hf_sftprep.testing_families import FAMILIES


def conversations(seed: int, n: int = 4):
    """(messages, tools, add_generation_prompt) for each kind of conversation, with and without a system prompt."""
    rng = random.Random(seed)
    out = []
    for kind in KINDS:
        for i in range(n):
            messages, tools = random_chat(rng, kind, system=bool(i % 2))
            out.append((messages, tools, False))
            if messages[-1]["role"] == "assistant":  # the prompt a generation would start from
                out.append((messages[:-1], tools, True))
    extra = [{"role": "user", "content": "hi", "name": None}, {"role": "assistant", "content": "yo", "reasoning": "r"}]
    out.append((extra, None, False))  # a None-valued key to drop and the older reasoning name to alias
    return out


def assert_identical(tok, seed: int) -> int:
    """Every conversation renders to the same text both ways, or both refuse it; returns how many rendered."""
    renderer, rendered = Renderer(tok), 0
    for messages, tools, prompt in conversations(seed):
        try:
            want = tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=prompt)
        except Exception:  # noqa: BLE001 - templates refuse with any exception type
            with pytest.raises(RowError, match="the chat template refused"):
                renderer(messages, prompt, row=3, tools=tools)
            continue
        assert renderer._direct(messages, prompt, tools) == want
        rendered += 1
    assert renderer.fallback_reason is None
    return rendered


def test_real_tokenizers_identical(any_tok):
    assert assert_identical(any_tok, 0) > 0


@pytest.mark.parametrize("name", list(ZOO_FAMILIES))
def test_zoo_identical(zoo, name):
    assert_identical(zoo(name)[0], 1)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_families_identical(families, name):
    assert_identical(families(name), 2)


def test_named_tool_use_template_is_picked(families):
    """A dict template: with tools, apply_chat_template renders the 'tool_use' one, and so does the Renderer."""
    tok = families("hermes_2_pro")
    messages, tools = random_chat(random.Random(5), "tools")
    messages = none_content_as_empty(messages)  # its default template reads every message's content
    want = tok.apply_chat_template(messages, tools=tools, tokenize=False)
    assert Renderer(tok)._direct(messages, False, tools) == want
    assert want != tok.apply_chat_template(messages, tokenize=False)


def test_is_plain():
    assert _is_plain([{"a": [1, 2.5, True, None, "x"]}])
    assert not _is_plain([{"a": (1,)}]) and not _is_plain({1: "x"}) and not _is_plain([b"x"])


def test_a_difference_falls_back_and_says_so(llama3, monkeypatch, caplog):
    renderer = Renderer(llama3)
    monkeypatch.setattr(renderer, "_direct", lambda *a: "not what apply_chat_template gives")
    messages = [{"role": "user", "content": "hi"}]
    want = llama3.apply_chat_template(messages, tokenize=False)
    with caplog.at_level(logging.WARNING, logger="hf_sftprep"):
        assert renderer(messages, row=4) == want
    assert renderer.fallback_reason == "the direct render differs from apply_chat_template on row 4"
    assert "rendering through apply_chat_template" in caplog.text
    assert renderer(messages) == want  # for good, not only while checking


def test_checked_only_on_the_first_renders(llama3, monkeypatch):
    calls = []
    real = render_module.render
    monkeypatch.setattr(render_module, "render", lambda *a, **k: calls.append(1) or real(*a, **k))
    renderer = Renderer(llama3)
    for i in range(CHECKED_RENDERS + 10):
        renderer([{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}])
    assert len(calls) == CHECKED_RENDERS and renderer.fallback_reason is None


def test_template_error_is_a_row_error(llama3):
    tok = copy.copy(llama3)  # shares the backend; only the template differs
    tok.chat_template = "{{ raise_exception('this template takes no user turns') }}"
    with pytest.raises(RowError, match=r"row 2: .*the chat template refused field 'messages' with roles \['user'\]"):
        Renderer(tok)([{"role": "user", "content": "hi"}], row=2)
