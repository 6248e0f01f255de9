"""encode_ids: the backend's fast batch encode gives exactly the wrapper's ids, and never its truncation."""

from __future__ import annotations

import copy
import random

from helpers import random_text

from hf_sftprep.tokens.encode import encode_ids


def test_equals_wrapper_ids(any_tok):
    rng = random.Random(3)
    texts = [random_text(rng, long=rng.random() < 0.2) for _ in range(300)] + ["", "<|im_start|>x<|eot_id|>"]
    assert encode_ids(any_tok, texts).to_pylist() == any_tok(texts, add_special_tokens=False)["input_ids"]


def test_backend_truncation_is_not_applied(llama3):
    tok = copy.deepcopy(llama3)
    tok.backend_tokenizer.enable_truncation(max_length=3)
    text = "one two three four five six"
    assert encode_ids(tok, [text]).to_pylist() == [[606, 1403, 2380, 3116, 4330, 4848]]
