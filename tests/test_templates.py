"""Template probing on real templates, plus the no-header (Mistral-style) case."""

from __future__ import annotations

import pytest

from hf_sftprep import SFTPrepError, SFTPreprocessor, TemplateError, probe_template
from helpers import as_lists

MISTRAL = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}"
)


def test_probe_llama3(llama3):
    spec = probe_template(llama3)
    assert spec.assistant_header == "<|start_header_id|>assistant<|end_header_id|>\n\n"
    assert spec.assistant_header_ids == (128006, 78191, 128007, 271)
    assert spec.end_of_turn == ("<|eot_id|>",) and spec.end_of_turn_ids == ((128009,),)
    assert spec.token_search


def test_probe_qwen(qwen):
    spec = probe_template(qwen)
    assert (spec.assistant_header, spec.assistant_header_ids) == ("<|im_start|>assistant\n", (151644, 77091, 198))
    assert (spec.end_of_turn, spec.end_of_turn_ids) == (("<|im_end|>",), ((151645,),))


def test_probe_smollm(smollm):
    spec = probe_template(smollm)
    assert (spec.assistant_header, spec.assistant_header_ids) == ("<|im_start|>assistant\n", (1, 520, 9531, 198))
    assert (spec.end_of_turn, spec.end_of_turn_ids) == (("<|im_end|>",), ((2,),))


def test_spaced_header_tokenizes_differently(llama3):
    """Why hand-written header ids fail: ' system ' with spaces is not the template's 'system'."""
    assert llama3(" system ", add_special_tokens=False)["input_ids"] == [1887, 220]
    assert llama3("system", add_special_tokens=False)["input_ids"] == [9125]


def test_template_without_header_learns_the_opener(llama3):
    """A template that never reads add_generation_prompt: the opener is learned from renderings with and
    without the answer (here the plain text '[/INST]'), so no assistant_header is needed."""
    spec = probe_template(_with_template(llama3, MISTRAL))
    assert (spec.assistant_header, spec.marker, spec.end_of_turn, spec.token_search) == ("[/INST]", "[/INST]", ("<|eot_id|>",), False)


# answers follow the user's text with nothing between: no text opens exactly the assistant turns
NO_OPENER = "{% for m in messages %}{{ m['content'] }}{% if m['role'] == 'assistant' %}<|eot_id|>{% endif %}{% endfor %}"


def test_template_without_any_opener_fails_clearly(llama3):
    with pytest.raises(TemplateError, match=r"adds no assistant header.*no special token in its renderings opens "
                       r"exactly the assistant turns.*assistant_header='\[/INST\]'"):
        probe_template(_with_template(llama3, NO_OPENER))


def test_template_without_header_works_with_override(llama3):
    tok = _with_template(llama3, MISTRAL)
    pre = SFTPreprocessor(tok, assistant_header=" [/INST]", end_of_turn="<|eot_id|>")
    assert not pre.spec.token_search  # plain-text header: every row takes the exact character path
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "[/INST] in content"}, {"role": "assistant", "content": "Two"}]
    with pytest.raises(SFTPrepError, match=r"row 0: a second assistant header ' \[/INST\]' appears at character \d+ before the turn at character \d+ is closed"):
        pre({"messages": [msgs]}, [0])
    out = as_lists(pre({"messages": [msgs[:2]]}, [0]))
    assert tok.decode([t for t in out["labels"][0] if t != -100]) == "Hello<|eot_id|>"


def test_no_chat_template(llama3):
    tok = _with_template(llama3, None)
    with pytest.raises(TemplateError, match="no chat_template"):
        probe_template(tok)
    with pytest.raises(SFTPrepError, match="chat records need a tokenizer with a chat_template"):
        SFTPreprocessor(tok)({"messages": [[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]]}, [0])


def _with_template(tok, template):
    import copy

    clone = copy.deepcopy(tok)
    clone.chat_template = template
    return clone
