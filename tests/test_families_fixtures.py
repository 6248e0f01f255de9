"""The fixtures for template families outside TRL's folder build, render and keep their published settings."""

from __future__ import annotations

import pytest

from hf_sftprep.errors import SFTPrepError
from hf_sftprep.testing.families import FAMILIES, MISTRAL_KINDS, control_strings

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
# Command R's tool_use template reads Cohere-shaped tools (top-level name / description).
COHERE_TOOLS = [
    {"name": "get_weather", "description": "Get the weather", "parameter_definitions": {"city": {"type": "str", "description": "City", "required": True}}}
]
PLAIN = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Bye!"},
]
# Mistral's templates raise unless tool-call ids are 9 alphanumerics.
CALL = {"id": "abcDEF123", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
TOOL_CONV = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "abcDEF123", "name": "get_weather", "content": "sunny"},
    {"role": "assistant", "content": "It is sunny."},
]
# Templates that raise on a system message (mistral_v1) or drop it (phi3_mini / phi3_medium).
NO_SYSTEM = {"mistral_v1"}


def _render(tok, conv, **kw):
    return tok.apply_chat_template(conv, tokenize=False, **kw)


def _check_controls(tok, name, text):
    """Every control string in the rendering is one special-token id."""
    special_ids = set(tok.all_special_ids) | {
        i for i, t in tok.backend_tokenizer.get_added_tokens_decoder().items() if t.special
    }
    for s in control_strings(name):
        if s in text:
            ids = tok.encode(s, add_special_tokens=False)
            assert len(ids) == 1 and ids[0] in special_ids, (name, s, ids)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_renders_plain(families, name):
    tok = families(name)
    fam = FAMILIES[name]
    conv = PLAIN[1:] if name in NO_SYSTEM else PLAIN
    kw = {"tools": COHERE_TOOLS} if name == "command_r" else {}
    text = _render(tok, conv, **kw)
    assert "Hello!" in text and "Bye!" in text
    assert tok.eos_token == fam.eos and tok.bos_token == fam.bos
    _check_controls(tok, name, text)


@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if f.tools])
def test_family_renders_tool_calls(families, name):
    tok = families(name)
    text = _render(tok, TOOL_CONV, tools=COHERE_TOOLS if name == "command_r" else TOOLS)
    assert "get_weather" in text and "Paris" in text and "It is sunny." in text
    _check_controls(tok, name, text)


def test_named_templates_are_a_dict(families):
    tok = families("command_r")
    assert sorted(tok.chat_template) == ["default", "rag", "tool_use"]
    plain = _render(tok, PLAIN)
    with_tools = _render(tok, PLAIN, tools=COHERE_TOOLS)
    # transformers picks tool_use when tools are given: the schemas are rendered
    assert "get_weather" in with_tools and "get_weather" not in plain
    assert sorted(families("hermes_2_pro").chat_template) == ["default", "tool_use"]


def test_mistral_templates_raise_on_other_tool_call_ids(families):
    bad = [TOOL_CONV[0], {**TOOL_CONV[1], "tool_calls": [{**CALL, "id": "call_1"}]}]
    with pytest.raises(Exception, match="alphanumeric strings with length 9"):
        _render(families("mistral_v3"), bad, tools=TOOLS)


def test_command_r7b_appends_next_opener_always(families):
    text = _render(families("command_r7b"), PLAIN, add_generation_prompt=False)
    assert text.endswith("<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_THINKING|><|END_THINKING|>")


def test_hyperclovax_closes_answers_and_calls_differently(families):
    text = _render(families("hyperclovax_seed_think"), TOOL_CONV, tools=TOOLS)
    assert "]<|im_end|><|stop|>\n" in text and text.endswith("It is sunny.<|im_end|><|endofturn|>\n")


def test_phi3_publishes_rstrip(families):
    tok = families("phi3_mini")
    added = tok.backend_tokenizer.get_added_tokens_decoder()
    for s in ("<|end|>", "<|assistant|>", "<|user|>", "<|endoftext|>"):
        t = added[tok.convert_tokens_to_ids(s)]
        assert t.rstrip and not t.lstrip and t.special, s
    assert tok.convert_tokens_to_ids("<|endoftext|>") == 151643  # Qwen's id, flags restyled in place
    # rstrip swallows the template's "\n" after <|end|>
    assert tok.encode("Hi<|end|>\n<|assistant|>", add_special_tokens=False)[-2:] == [
        tok.convert_tokens_to_ids("<|end|>"),
        tok.convert_tokens_to_ids("<|assistant|>"),
    ]


def test_unknown_family_lists_names():
    from hf_sftprep.testing.families import family_tokenizer

    with pytest.raises(SFTPrepError, match="template family 'nope' is unknown; pick one of: mistral_v1, "):
        family_tokenizer("nope", "/nonexistent")


def test_template_files_are_packaged():
    for fam in FAMILIES.values():
        for path in fam.template_files().values():
            assert path.is_file(), path


@pytest.mark.parametrize("kind", ["v1", "v3"])
def test_real_mistral_sentencepiece(mistral, kind):
    tok = mistral(kind)
    if kind == "v3":
        assert len(tok) == 32768
        assert tok.convert_tokens_to_ids(["[INST]", "[/INST]", "[TOOL_CALLS]"]) == [3, 4, 5]
        text = _render(tok, TOOL_CONV, tools=TOOLS)
        assert tok.encode("[INST] Hi[/INST] Hello</s>", add_special_tokens=False) == [3, 16127, 4, 23325, 2]
    else:
        assert len(tok) == 32000
        text = _render(tok, PLAIN[1:])
    assert (tok.bos_token, tok.eos_token) == ("<s>", "</s>")
    assert text.startswith("<s>[INST]" if kind == "v1" else "<s>[AVAILABLE_TOOLS] [")


@pytest.mark.parametrize("kind", ["v3-tekken", "v7-tekken"])
def test_real_mistral_tekken(mistral, kind):
    tok = mistral(kind)
    assert len(tok) == 131072
    assert tok.convert_tokens_to_ids(["<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]"]) == [1, 2, 3, 4, 9]
    assert tok.encode("[INST]Hi[/INST]Hello</s>", add_special_tokens=False) == [3, 37133, 4, 22177, 2]
    text = _render(tok, TOOL_CONV, tools=TOOLS)
    assert text.endswith("It is sunny.</s>")


def test_unknown_mistral_kind():
    from hf_sftprep.testing.families import mistral_tokenizer

    with pytest.raises(SFTPrepError, match="kind 'v2' is unknown; pick one of: " + ", ".join(MISTRAL_KINDS)):
        mistral_tokenizer("v2", "/nonexistent")
