"""Rendering with the chat template (templates/render.py): special strings, render, quiet_renderer, Renderer."""

from __future__ import annotations

import copy
import random

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

from hf_sftprep.errors import SFTPrepError
from hf_sftprep.templates.render import Renderer, quiet_renderer, render, special_pattern, special_strings
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
