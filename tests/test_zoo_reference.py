"""The twin-based reference (tests/zoo_reference.py) checked before anyone trusts it.

On the real offline Llama 3 and Qwen2.5 tokenizers it must equal the independent prefix-rendering
reference of tests/helpers.py exactly; on five zoo families it must give the pinned ids and labels.
"""

from __future__ import annotations

import copy
import random

import pytest
from conversations import random_chat
from helpers import random_conversation
from helpers import reference_labels as prefix_reference
from zoo_reference import IGNORE, reference_labels, renders_same

from hf_sftprep.testing.offline import trl_template

pytestmark = pytest.mark.zoo

HI = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def _twin(tok, name):
    twin = copy.copy(tok)
    twin.chat_template = trl_template(name)
    return twin


@pytest.mark.parametrize(("fixture", "twin_name", "end"), [("llama3", "llama3_training", "<|eot_id|>"), ("qwen", "qwen2_5_training", "<|im_end|>")])
def test_twin_reference_equals_prefix_reference(request, fixture, twin_name, end):
    tok = request.getfixturevalue(fixture)
    twin = _twin(tok, twin_name)
    compared = 0
    for seed in range(60):
        rng = random.Random(seed)
        messages = random_conversation(rng) if seed % 2 else random_chat(rng, "plain")[0]
        assert renders_same(tok, twin, messages, None)
        assert reference_labels(twin, messages, None) == prefix_reference(tok, messages, end), seed
        compared += 1
    assert compared == 60


def _trained(tok, labels):
    return tok.decode([t for t in labels if t != IGNORE])


def test_phi3_final_eos_trained(zoo):
    tok, twin = zoo("phi3")
    assert renders_same(tok, twin, HI, None)
    ids, labels = reference_labels(twin, HI, None)
    # <|user|> \n Hi <|end|> \n <|assistant|> \n Hello ! <|end|> \n <|endoftext|>
    assert ids == [151648, 198, 13048, 151647, 198, 151649, 198, 9707, 0, 151647, 198, 151643]
    assert labels == [IGNORE] * 7 + [9707, 0, 151647, 198, 151643]
    assert _trained(tok, labels) == "Hello!<|end|>\n<|endoftext|>"


def test_cohere2_both_closing_tokens_trained(zoo):
    tok, twin = zoo("cohere2")
    assert renders_same(tok, twin, HI, None)
    ids, labels = reference_labels(twin, HI, None)
    # ... <|START_OF_TURN_TOKEN|> <|USER_TOKEN|> Hi <|END_OF_TURN_TOKEN|> <|START_OF_TURN_TOKEN|> <|CHATBOT_TOKEN|>
    # <|START_RESPONSE|> Hello ! <|END_RESPONSE|> <|END_OF_TURN_TOKEN|>; <|START_RESPONSE|> ends the generation prompt
    assert ids[-11:] == [151646, 151649, 13048, 151648, 151646, 151650, 151651, 9707, 0, 151652, 151648]
    assert labels == [IGNORE] * (len(ids) - 4) + [9707, 0, 151652, 151648]
    assert tok.eos_token_id == 151648


def test_gptoss_analysis_and_final_blocks(zoo):
    tok, twin = zoo("gptoss")
    messages = [HI[0], {**HI[1], "thinking": "Greet back."}]
    assert renders_same(tok, twin, messages, None)
    ids, labels = reference_labels(twin, messages, None)
    # the system block carries today's date (strftime_now), so only the tail is pinned:
    # <|start|> user <|message|> Hi <|end|> <|start|> assistant | <|channel|> analysis <|message|> G reet back . <|end|>
    # <|start|> assistant <|channel|> final <|message|> Hello ! <|return|>
    tail = [151646, 872, 151647, 13048, 151648, 151646, 77091,
            151649, 34484, 151647, 38, 3744, 1182, 13, 151648, 151646, 77091, 151649, 11822, 151647, 9707, 0, 151652]
    assert ids[-len(tail):] == tail
    assert labels == [IGNORE] * (len(ids) - 16) + tail[7:]
    assert _trained(tok, labels) == "<|channel|>analysis<|message|>Greet back.<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|return|>"
    assert tok.eos_token == "<|return|>"


def test_glm4moe_turn_closed_by_next_role_marker(zoo):
    tok, twin = zoo("glm4moe")
    # the twin always renders the closing <|user|>; ending on a user message, both agree
    assert not renders_same(tok, twin, HI, None)
    messages = [*HI, {"role": "user", "content": "Bye"}]
    assert renders_same(tok, twin, messages, None)
    ids, labels = reference_labels(twin, messages, None)
    # [gMASK] <sop> <|user|> \n Hi <|assistant|> | \n <think> </think> \n Hello ! <|user|> | \n By e
    assert ids == [151650, 151651, 151647, 198, 13048, 151648, 198, 151652, 151653, 198, 9707, 0, 151647, 198, 1359, 68]
    assert labels == [IGNORE] * 6 + [198, 151652, 151653, 198, 9707, 0, 151647] + [IGNORE] * 3


def test_qwen3_empty_think_block_trained(zoo):
    tok, twin = zoo("qwen3")
    assert renders_same(tok, twin, HI, None)
    ids, labels = reference_labels(twin, HI, None)
    # <|im_start|> user \n Hi <|im_end|> \n <|im_start|> assistant \n | <think> \n\n </think> \n\n Hello ! <|im_end|> | \n
    assert ids == [151644, 872, 198, 13048, 151645, 198, 151644, 77091, 198, 151646, 271, 151647, 271, 9707, 0, 151645, 198]
    assert labels == [IGNORE] * 9 + [151646, 271, 151647, 271, 9707, 0, 151645, IGNORE]


def test_generation_prompt_part_opens_history_turn(zoo):
    """qwen3_5_think prompts with ``<think>\\n``; the turn renders ``<think>\\n\\n</think>``: training starts after
    ``<think>\\n``, and the ``\\n\\n`` token straddling that point stays masked."""
    tok, twin = zoo("qwen3_5_think")
    assert renders_same(tok, twin, HI, None)
    _, labels = reference_labels(twin, HI, None)
    assert _trained(tok, labels) == "</think>\n\nHello!<|im_end|>"
