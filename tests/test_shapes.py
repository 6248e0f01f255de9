"""templates/shapes.py: the inline fast path of shape_key groups conversations exactly as the general path.

The general path (a splitter without the first-character test, so every text is split on added tokens and
every message walked field by field) is the slow reference; random conversations built from added tokens,
edge whitespace and plain words must fall into the same groups under both.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hf_sftprep.templates.shapes import _Splitter, shape_key

TOKENS = {"<think>", "</think>", "<|eot_id|>", "<|im_start|>", "[INST]"}
SPLITTER = _Splitter("(" + "|".join(re.escape(t) for t in sorted(TOKENS, key=lambda s: (-len(s), s))) + ")", TOKENS)
GENERAL = re.compile(SPLITTER._re.pattern)  # a plain pattern: shape_key takes the general path for every message

PIECES = st.sampled_from(["a", "word", " ", "\n", "\t", "<", "<x>", "[", "think", *sorted(TOKENS)])
TEXT = st.lists(PIECES, max_size=6).map("".join)
MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": TEXT}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": TEXT, "reasoning_content": TEXT}),
)
CONVERSATION = st.lists(st.tuples(MESSAGE, st.booleans()), min_size=1, max_size=4)


def _keys(conversation, split):
    messages = [m for m, _ in conversation]
    return shape_key(messages, [t for _, t in conversation], None, split)


@settings(max_examples=300, deadline=None)
@given(st.lists(CONVERSATION, min_size=2, max_size=6))
def test_fast_and_general_paths_group_conversations_alike(conversations):
    fast = [_keys(c, SPLITTER) for c in conversations]
    general = [_keys(c, GENERAL) for c in conversations]
    for i, j in itertools.combinations(range(len(conversations)), 2):
        assert (fast[i] == fast[j]) == (general[i] == general[j]), (conversations[i], conversations[j])


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_no_first_character_means_no_token(text):
    if SPLITTER._first.search(text) is None:
        assert SPLITTER.split(text) == [text]
    assert (len(SPLITTER.split(text)) > 1) <= (SPLITTER._first.search(text) is not None)


def test_a_token_or_its_edges_change_the_shape():
    plain = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    think = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<think>a</think>yo"}]
    spaced = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " yo"}]
    other = [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "ok"}]
    empty = [{"role": "user", "content": ""}, {"role": "assistant", "content": "yo"}]  # no sentinel: its own shape
    keys = [shape_key(m, [False, True], None, SPLITTER) for m in (plain, think, spaced, other, empty)]
    assert keys[0] == keys[3] and len({keys[0], keys[1], keys[2], keys[4]}) == 4
