"""tokens/label.py: the turn search labels the rows it can vouch for; the rest take the character path."""

from __future__ import annotations

import numpy as np

from hf_sftprep import SFTPreprocessor
from hf_sftprep.tokens.encode import encode_batch
from hf_sftprep.tokens.label import label_chat

from test_rows import RECORDS


def _labelled(tok, last=False, mangle=None):
    pre = SFTPreprocessor(tok, on_invalid="drop")
    batch = pre.render(RECORDS, [5, 6, 7])
    if mangle:
        mangle(batch)
    encode_batch(batch, tok, pre.encoder, pre._split)
    return label_chat(batch, pre.search, tok, pre.spec, last, False)


def _trained_text(tok, batch, k):
    a, b = batch.offsets[k], batch.offsets[k + 1]
    return tok.decode(batch.flat[a:b][batch.trained[a:b]])


def test_every_trained_answer_and_its_end_of_turn(smollm):
    batch = _labelled(smollm)
    assert batch.offsets.tolist() == [0, 35, 67]
    assert np.flatnonzero(batch.trained).tolist() == [31, 32, 33, 51, 52, 64, 65]
    assert batch.flat[[31, 32, 33]].tolist() == [19556, 17, 2]  # "Hello" "!" <|im_end|>
    assert [_trained_text(smollm, batch, k) for k in (0, 1)] == ["Hello!<|im_end|>", "b<|im_end|>d<|im_end|>"]


def test_train_on_last(smollm):
    batch = _labelled(smollm, last=True)
    assert [_trained_text(smollm, batch, k) for k in (0, 1)] == ["Hello!<|im_end|>", "d<|im_end|>"]


def test_a_row_whose_turn_count_differs_is_refused_not_guessed(smollm):
    def extra_turn(batch):
        batch.targets[1] = [True, True, True]  # the record claims 3 answers; the text has 2

    batch = _labelled(smollm, mangle=extra_turn)
    assert batch.dropped == {1: "no_assistant", 2: "header_mismatch"}
    assert not batch.trained[35:].any() and _trained_text(smollm, batch, 0) == "Hello!<|im_end|>"
