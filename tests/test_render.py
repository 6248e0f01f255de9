"""Rendering with the chat template (templates/render.py): special strings, render, quiet_renderer, Renderer."""

from __future__ import annotations

import copy
import json
import logging
import random

import pytest
from datasets import load_dataset
from conversations import KINDS, none_content_as_empty, random_chat
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

from hf_sftprep.errors import RowError, SFTPrepError
from hf_sftprep.templates import render as render_module
from hf_sftprep.templates.render import (CHECKED_RENDERS, Renderer, _is_plain, quiet_renderer, render, special_pattern,
                                         special_strings)
from hf_sftprep.testing.families import FAMILIES
from hf_sftprep.testing.zoo import ZOO_FAMILIES
from helpers import random_conversation

CONV = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
SMOLLM_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
REFUSED = (r"^row 4: the chat template refused field 'messages' with roles \['user', 'assistant'\]: TemplateError: "
           r"roles must alternate\. Reorder the turns as the template requires \(often system\?, then user/assistant "
           r"alternating\), or drop such rows with on_invalid='drop'\.$")


@pytest.fixture(scope="module")
def refusing(smollm):
    tok = copy.copy(smollm)
    tok.chat_template = "{{ raise_exception('roles must alternate') }}"
    return tok


def test_special_strings_smollm_longest_first(smollm):
    assert special_strings(smollm) == [
        "<jupyter_output>", "<jupyter_script>", "<issue_comment>", "<jupyter_start>", "<empty_output>",
        "<issue_closed>", "<jupyter_code>", "<jupyter_text>", "<issue_start>", "<|endoftext|>", "<|im_start|>",
        "<repo_name>", "<file_sep>", "<filename>", "<gh_stars>", "<reponame>", "<|im_end|>",
    ]


def test_special_strings_llama3(llama3):
    strings = special_strings(llama3)
    assert len(strings) == 256  # ids 128000..128255
    assert {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"} <= set(strings)


def test_special_pattern_prefers_the_longest_token(llama3, smollm):
    assert special_pattern(smollm).findall("a<|im_start|>b<|im_end|><|im_start") == ["<|im_start|>", "<|im_end|>"]
    # longest first: the 100th reserved token is not read as the 10th followed by "0|>"
    assert special_pattern(llama3).findall("x<|reserved_special_token_100|>") == ["<|reserved_special_token_100|>"]


def test_special_pattern_none_without_special_tokens():
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")))
    assert special_strings(tok) == [] and special_pattern(tok) is None


def test_render_llama3(llama3):
    assert render(llama3, CONV) == ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                                    "<|start_header_id|>assistant<|end_header_id|>\n\nyo<|eot_id|>")
    assert render(llama3, CONV[:1], add_generation_prompt=True) == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_render_smollm_injects_its_system_prompt(smollm):
    assert render(smollm, CONV) == SMOLLM_SYSTEM + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n"


def test_render_with_tools_qwen(qwen):
    text = render(qwen, CONV, tools=TOOLS)
    assert text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                           "\n\n# Tools\n\n")
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather", "description": "Weather", ' in text
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n")


def test_render_error_names_the_row(refusing):
    with pytest.raises(SFTPrepError, match=REFUSED) as err:
        render(refusing, CONV, row=4)
    assert err.value.reason == "template_error" and err.value.row == 4


def test_renderer_error_is_the_same_row_error(refusing):
    with pytest.raises(SFTPrepError, match=REFUSED):
        Renderer(refusing)(CONV, row=4)


def test_quiet_renderer_gives_none_on_refusal(refusing, smollm):
    assert quiet_renderer(Renderer(refusing))(CONV) is None
    assert quiet_renderer(Renderer(smollm))(CONV[:1], True) == SMOLLM_SYSTEM + (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_quiet_renderer_passes_tools(qwen):
    assert quiet_renderer(Renderer(qwen), TOOLS)(CONV) == render(qwen, CONV, tools=TOOLS)


@pytest.mark.parametrize("seed", range(3))
def test_renderer_equals_apply_chat_template(any_tok, seed):
    rng = random.Random(seed)
    renderer = Renderer(any_tok)
    for _ in range(20):
        conv = random_conversation(rng)
        for prompt in (False, True):
            assert renderer(conv, prompt) == any_tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=prompt)


def test_renderer_with_tools_equals_apply_chat_template(qwen):
    assert Renderer(qwen)(CONV, tools=TOOLS) == qwen.apply_chat_template(CONV, tools=TOOLS, tokenize=False)


# -- the direct render: byte-identical to apply_chat_template on every template, guarded -------------
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


def loaded(tmp_path, seed: int) -> list:
    """The same conversations as users load them: through a JSONL file and ``load_dataset``, so Arrow fills
    absent keys with None and unifies the tool schemas (every tool gains every other tool's keys)."""
    convs = conversations(seed)
    path = tmp_path / f"chats-{seed}.jsonl"
    path.write_text("".join(json.dumps({"messages": m, "tools": t, "prompt": p}) + "\n" for m, t, p in convs))
    rows = load_dataset("json", data_files=str(path), split="train")
    out = [(r["messages"], r["tools"], r["prompt"]) for r in rows]
    assert any(v is None for m, _, _ in out for msg in m for v in msg.values())  # Arrow's filled keys are there
    return out


def assert_identical(tok, seed: int, tmp_path=None) -> int:
    """Every conversation renders to the same text both ways, or both refuse it; returns how many rendered.
    With ``tmp_path``, the conversations are loaded through JSONL + ``load_dataset`` first."""
    renderer, rendered = Renderer(tok), 0
    for messages, tools, prompt in (conversations(seed) if tmp_path is None else loaded(tmp_path, seed)):
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


def test_real_tokenizers_identical(any_tok, tmp_path):
    assert assert_identical(any_tok, 0) > 0
    assert assert_identical(any_tok, 0, tmp_path) > 0


@pytest.mark.parametrize("name", list(ZOO_FAMILIES))
def test_zoo_identical(zoo, name, tmp_path):
    assert_identical(zoo(name)[0], 1)
    assert_identical(zoo(name)[0], 1, tmp_path)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_families_identical(families, name, tmp_path):
    assert_identical(families(name), 2)
    assert_identical(families(name), 2, tmp_path)


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
    for i in range(10):  # probe and shape-check renders (no row) leave the budget to the dataset's rows
        renderer([{"role": "user", "content": f"p{i}"}, {"role": "assistant", "content": "a"}])
    assert calls == [] and renderer.checked == 0
    for i in range(CHECKED_RENDERS + 10):
        renderer([{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}], row=i)
    assert len(calls) == CHECKED_RENDERS and renderer.fallback_reason is None


def test_template_error_is_a_row_error(llama3):
    tok = copy.copy(llama3)  # shares the backend; only the template differs
    tok.chat_template = "{{ raise_exception('this template takes no user turns') }}"
    with pytest.raises(RowError, match=r"row 2: .*the chat template refused field 'messages' with roles \['user'\]"):
        Renderer(tok)([{"role": "user", "content": "hi"}], row=2)
