"""SFTDataCollator (padded and padding-free) and length grouping, on literal batches."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from hf_sftprep import SFTDataCollator, SFTPrepError, length_grouped_batches, padding_waste

BATCH = [
    {"input_ids": [11, 12, 13, 2], "labels": [-100, -100, 13, 2], "length": 4},
    {"input_ids": [21, 2], "labels": [-100, 2], "length": 2},
]


def test_padded_exact(smollm):
    out = SFTDataCollator(smollm, return_tensors="np")(BATCH)
    pad = smollm.pad_token_id  # 2: SmolLM2 pads with its EOS
    assert out["input_ids"].tolist() == [[11, 12, 13, 2], [21, 2, pad, pad]]
    assert out["labels"].tolist() == [[-100, -100, 13, 2], [-100, 2, -100, -100]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_pad_equal_eos_keeps_eos_label(smollm):
    """pad == EOS == 2: the EOS labels survive; only padding positions are -100."""
    out = SFTDataCollator(smollm, return_tensors="np")(BATCH)
    assert (out["labels"] == 2).sum() == 2


def test_pad_to_multiple_of(smollm):
    out = SFTDataCollator(smollm, pad_to_multiple_of=8, return_tensors="np")(BATCH)
    assert out["input_ids"].shape == (2, 8)
    exact = SFTDataCollator(smollm, pad_to_multiple_of=4, return_tensors="np")(BATCH)
    assert exact["input_ids"].shape == (2, 4)  # already a multiple: no extra padding


def test_no_pad_token_falls_back_to_eos(llama3):
    assert llama3.pad_token_id is None
    out = SFTDataCollator(llama3, return_tensors="np")(BATCH)
    assert out["input_ids"][1].tolist() == [21, 2, 128009, 128009]


def test_padding_free(smollm):
    out = SFTDataCollator(smollm, padding_free=True, return_tensors="np")(BATCH)
    assert out["input_ids"].tolist() == [[11, 12, 13, 2, 21, 2]]
    assert out["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1]]
    assert out["labels"].tolist() == [[-100, -100, 13, 2, -100, 2]]
    assert out["cu_seq_lens_q"].tolist() == [0, 4, 6] and out["max_length_q"] == 4
    boundary = [{"input_ids": [1, 2], "labels": [1, 2]}, {"input_ids": [3, 4], "labels": [3, 4]}]
    assert SFTDataCollator(smollm, padding_free=True, return_tensors="np")(boundary)["labels"].tolist() == [[-100, 2, -100, 4]]


def test_padding_free_multiple_adds_masked_filler(smollm):
    out = SFTDataCollator(smollm, padding_free=True, pad_to_multiple_of=8, return_tensors="np")(BATCH)
    assert out["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 0, 1]]
    assert out["labels"].tolist()[0][6:] == [-100, -100]
    assert out["cu_seq_lens_q"].tolist() == [0, 4, 6, 8]


def test_torch_tensors(smollm):
    torch = pytest.importorskip("torch")
    out = SFTDataCollator(smollm)(BATCH)
    assert out["input_ids"].dtype == torch.int64 and out["labels"].shape == (2, 4)


def test_refuses_unprepared_rows(smollm):
    with pytest.raises(SFTPrepError, match=r"batch item 0 has keys \['text'\]; expected 'input_ids' and 'labels'"):
        SFTDataCollator(smollm)([{"text": "hi"}])
    tok = copy.deepcopy(smollm)
    tok.pad_token = None
    tok.eos_token = None
    with pytest.raises(SFTPrepError, match="neither a pad token nor an EOS token"):
        SFTDataCollator(tok)


@pytest.mark.parametrize("padding_free", [False, True])
def test_empty_batch_and_length_mismatch(smollm, padding_free):
    """Issue 15 item 10: clear errors naming the item, in both modes (were raw numpy errors or silent)."""
    collate = SFTDataCollator(smollm, padding_free=padding_free, return_tensors="np")
    with pytest.raises(SFTPrepError, match=r"the batch is empty \(0 items\)"):
        collate([])
    short = [BATCH[0], {"input_ids": [1, 2, 3], "labels": [-100, 2]}]
    with pytest.raises(SFTPrepError, match=r"batch item 1: labels has 2 tokens but input_ids has 3"):
        collate(short)
    with pytest.raises(SFTPrepError, match=r"batch item 0 has no tokens"):
        collate([{"input_ids": [], "labels": []}])
    bad_pack = [{"input_ids": [1, 2, 3], "labels": [1, 2, 3], "seq_lengths": [2, 2]}]
    with pytest.raises(SFTPrepError, match=r"batch item 0: seq_lengths \[2, 2\] sum to 4 but input_ids has 3 tokens"):
        collate(bad_pack)


def test_padding_waste_seed_batch():
    assert round(padding_waste([2887, 977], [[0, 1]]), 4) == 0.3308


def test_length_grouping_reduces_waste():
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 3000, 2000)
    grouped = length_grouped_batches(lengths, 8, seed=1)
    assert sorted(i for b in grouped for i in b) == list(range(2000))
    plain = [list(range(i, i + 8)) for i in range(0, 2000, 8)]
    assert padding_waste(lengths, grouped) < 0.05 < 0.3 < padding_waste(lengths, plain)
