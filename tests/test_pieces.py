"""Piece deduplication: identical ids to whole-text tokenization, and a fallback for tokenizers that differ."""

from __future__ import annotations

import copy
import random

import pytest
from helpers import as_lists, random_conversation

from hf_sftprep import SFTPreprocessor
from hf_sftprep.tokens.pieces import piece_independent, split_pattern, tokenize_pieced, worth_deduping
from hf_sftprep.templates.probe import special_strings


@pytest.mark.parametrize("name", ["llama3", "qwen", "smollm"])
def test_pieced_equals_plain(request, name):
    tok = request.getfixturevalue(name)
    rng = random.Random(11)
    shared = "You are a careful assistant.\n\n" + "Policy text. " * 200
    convs = [[{"role": "system", "content": shared}] + random_conversation(rng)[-2:] for _ in range(100)]
    convs += [random_conversation(rng) for _ in range(400)]
    texts = [tok.apply_chat_template(c, tokenize=False) for c in convs]
    pattern = split_pattern(special_strings(tok))
    assert tokenize_pieced(tok, texts[100:], pattern)[0].to_pylist() == tok(texts[100:], add_special_tokens=False)["input_ids"]
    batch = {"messages": convs}
    pieced = SFTPreprocessor(tok)
    assert pieced._split is not None and worth_deduping(texts, pieced._split)
    plain = SFTPreprocessor(tok, dedupe_pieces=False)
    assert as_lists(pieced(batch, list(range(len(convs))))) == as_lists(plain(batch, list(range(len(convs)))))


def test_repeated_system_prompt_tokenized_once(llama3):
    texts = [llama3.apply_chat_template([{"role": "system", "content": "Long shared prompt " * 50},
                                         {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
                                        tokenize=False) for i in range(100)]
    pattern = split_pattern(special_strings(llama3))
    arr, distinct = tokenize_pieced(llama3, texts, pattern)
    assert arr.to_pylist() == llama3(texts, add_special_tokens=False)["input_ids"]
    # specials, role names, the shared prompt, 100 questions and 100 answers
    assert distinct < 215


def test_fallback_for_piece_dependent_tokenizer(smollm):
    """A SentencePiece-style prefix on the first piece only: pieces tokenize differently, so no dedupe."""
    from tokenizers import pre_tokenizers

    tok = copy.deepcopy(smollm)
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(replacement="_", prepend_scheme="first"), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    specials = special_strings(tok)
    assert not piece_independent(tok, split_pattern(specials), specials)
    pre = SFTPreprocessor(tok)
    assert pre._split is None
    msgs = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello friend"}]
    out = as_lists(pre({"messages": [msgs]}, [0]))
    assert out["input_ids"][0] == tok(tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)["input_ids"]


def test_dedupe_skipped_without_repetition(llama3):
    rng = random.Random(5)
    texts = [llama3.apply_chat_template(random_conversation(rng), tokenize=False) for _ in range(64)]
    assert not worth_deduping(texts, split_pattern(special_strings(llama3)))
