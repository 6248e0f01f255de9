"""The fast tokenizer backend: identical ids and labels to the HF path, and a guard that falls back and says why."""

from __future__ import annotations

import copy
import logging
import pickle
import random

import pytest
from conversations import random_chat
from datasets import Dataset
from datasets.fingerprint import Hasher
from helpers import random_conversation, random_text

import hf_sftprep
from hf_sftprep import SFTPreprocessor
from hf_sftprep.datasets.prepare import fingerprint
from hf_sftprep.errors import SFTPrepError
from hf_sftprep.testing.zoo import ZOO_FAMILIES
from hf_sftprep.tokens import fast_backend
from hf_sftprep.tokens.encode import hf_ids
from hf_sftprep.tokens.fast_backend import Encoder, probe_texts

fastokens = pytest.importorskip("fastokens")


@pytest.fixture(autouse=True)
def _fresh_builds():
    """Each test decides afresh: the per-process build cache is emptied before and after."""
    fast_backend._BUILT.clear()
    yield
    fast_backend._BUILT.clear()


def _prepared(tok, rows, **options):
    """prepare() with the fast backend's build finished first (else a small dataset encodes while it builds)."""
    Encoder(tok).decide([])
    ds, report = hf_sftprep.prepare(Dataset.from_list(rows), tok, return_report=True, **options)
    return ds["input_ids"], ds["labels"], report


def test_probe_set_and_random_texts_identical(any_tok):
    enc = Encoder(any_tok)
    enc.decide([])
    rng = random.Random(5)
    texts = probe_texts(any_tok) + [random_text(rng, long=rng.random() < 0.3) for _ in range(300)] + [""]
    assert enc(texts).to_pylist() == hf_ids(any_tok, texts).to_pylist()
    assert enc.choice == fast_backend.Choice("fastokens")


def test_probe_set_covers_every_added_token(llama3):
    texts = probe_texts(llama3)
    for token in ("<|eot_id|>", "<|reserved_special_token_250|>", "<|begin_of_text|>"):
        assert f"a{token}b" in texts and f"  {token}  x" in texts


def test_prepare_identical_on_both_backends(any_tok):
    rng = random.Random(11)
    rows = [{"messages": random_conversation(rng)} for _ in range(150)]
    ids_hf, labels_hf, report_hf = _prepared(any_tok, rows, backend="hf")
    ids, labels, report = _prepared(any_tok, rows, backend="auto")
    assert (ids, labels) == (ids_hf, labels_hf)
    assert (report.tokenizer_backend, report_hf.tokenizer_backend) == ("fastokens", "hf")
    assert report_hf.tokenizer_backend_reason == "backend='hf' was requested"


def test_seed_shaped_rows_identical(llama3):
    """One long system prompt on every row: the piece dedupe path, encoding its distinct pieces."""
    system = random_text(random.Random(1), long=True) * 4
    rng = random.Random(2)
    rows = [{"messages": [{"role": "system", "content": system}] + random_conversation(rng)[-2:]} for _ in range(80)]
    assert _prepared(llama3, rows, backend="auto")[:2] == _prepared(llama3, rows, backend="hf")[:2]


def test_split_policy_identical(qwen):
    rows = [{"messages": [{"role": "user", "content": "say <|im_start|> please"}, {"role": "assistant", "content": "ok"}]},
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello <|im_end|>"}]}]
    opts = dict(special_tokens_in_content="split", on_invalid="drop")
    assert _prepared(qwen, rows, backend="auto", **opts)[:2] == _prepared(qwen, rows, backend="hf", **opts)[:2]


@pytest.mark.parametrize("name", list(ZOO_FAMILIES))
def test_zoo_identical_on_both_backends(zoo, name):
    tok, _ = zoo(name)
    kinds = ["plain", "reasoning"] + (["tools"] if ZOO_FAMILIES[name].supports_tools() else [])
    rows = []
    for seed in range(6):
        messages, tools = random_chat(random.Random(seed), kinds[seed % len(kinds)])
        rows.append({"messages": messages, "tools": tools})
    got = _prepared(tok, rows, backend="auto", on_invalid="drop")
    want = _prepared(tok, rows, backend="hf", on_invalid="drop")
    assert got[:2] == want[:2]
    assert got[2].dropped == want[2].dropped


def test_cache_key_does_not_depend_on_the_backend(llama3):
    raw = Dataset.from_list([{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}])
    auto, hf = SFTPreprocessor(llama3, emit_meta=True), SFTPreprocessor(llama3, emit_meta=True, backend="hf")
    before = Hasher.hash(auto)
    auto.encoder.decide(["hi"])
    assert auto.encoder.choice.backend == "fastokens"
    assert Hasher.hash(auto) == before  # what ran is not hashed
    assert fingerprint(raw, auto) == fingerprint(raw, hf)


def test_pickles_without_the_built_backend(llama3):
    pre = SFTPreprocessor(llama3, backend="hf")
    assert pickle.loads(pickle.dumps(pre)).options.backend == "hf"
    enc = Encoder(llama3)
    enc.decide(["warm up"])
    clone = pickle.loads(pickle.dumps(enc))
    assert clone.choice is None and clone(["hello there"]).to_pylist() == [[15339, 1070]]


def test_unknown_backend_lists_the_allowed_values(llama3):
    with pytest.raises(SFTPrepError, match=r"backend='rust' is not supported; expected one of 'auto', 'hf'\."):
        SFTPreprocessor(llama3, backend="rust")


# -- the guard's fallbacks: each uses the HF ids and says why, once -------------------------------------------
def _bert_like():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "a": 1, "b": 2, "##b": 3, "ab": 4, "<|im_start|>": 5, "<|im_end|>": 6}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer()  # fastokens 0.3.5: "unsupported normalizer type"
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def test_refused_tokenizer_falls_back_and_says_why(caplog):
    tok = _bert_like()
    enc = Encoder(tok)
    with caplog.at_level(logging.WARNING, logger="hf_sftprep"):
        enc.decide(["ab b"])
        assert enc(["ab b", "a"]).to_pylist() == [[4, 2], [1]]
        enc(["ab"])
    assert enc.choice.backend == "hf"
    assert "unsupported normalizer type: BertNormalizer" in enc.choice.reason
    assert [r.getMessage() for r in caplog.records] == [f"hf_sftprep: tokenizing with the HF backend: {enc.choice.reason}"]


def test_different_ids_fall_back_in_prepare(llama3, monkeypatch, caplog):
    real = fast_backend._fast_encode

    def off_by_one(fast, texts):
        arr = real(fast, texts)
        return type(arr).from_arrays(arr.offsets, _plus_one(arr.values))

    monkeypatch.setattr(fast_backend, "_fast_encode", off_by_one)
    rows = [{"messages": random_conversation(random.Random(s))} for s in range(20)]
    with caplog.at_level(logging.WARNING, logger="hf_sftprep"):
        ids, labels, report = _prepared(llama3, rows)
    assert report.tokenizer_backend == "hf"
    assert report.tokenizer_backend_reason.startswith("fastokens gives different ids than the HF tokenizer on ")
    assert report.tokenizer_backend_reason in report.summary()
    assert sum("tokenizing with the HF backend" in r.getMessage() for r in caplog.records) == 1
    assert (ids, labels) == _prepared(llama3, rows, backend="hf")[:2]


def _plus_one(values):
    import pyarrow.compute as pc

    return pc.add(values, 1)


def test_a_later_batch_that_differs_falls_back(llama3, monkeypatch):
    enc = Encoder(llama3)
    enc.decide(["first batch"])
    assert enc(["first batch"]).to_pylist() == hf_ids(llama3, ["first batch"]).to_pylist()
    monkeypatch.setattr(fast_backend, "_fast_encode", lambda fast, texts: hf_ids(llama3, ["x"] * len(texts)))
    assert enc(["second batch", "more"]).to_pylist() == hf_ids(llama3, ["second batch", "more"]).to_pylist()
    assert enc.choice.backend == "hf" and "second batch" in enc.choice.reason


def test_a_row_fastokens_cannot_encode_falls_back(smollm):
    """SmolLM2's BPE has no token for the bytes of U+40000: HF encodes the row, fastokens raises ("byte 0xf1 has
    no token in vocabulary"); the batch goes through HF and the encoder says why (found by the fuzz test)."""
    enc = Encoder(smollm)
    enc.decide(["plain first row"])
    assert enc.choice.backend == "fastokens"
    texts = ["plain", "odd \U00040000 char"]
    assert enc(texts).to_pylist() == hf_ids(smollm, texts).to_pylist()
    assert enc.choice.backend == "hf" and "cannot encode" in enc.choice.reason


def test_first_rows_that_differ_fall_back(llama3, monkeypatch):
    real = fast_backend._fast_encode
    probes = set(probe_texts(llama3))
    monkeypatch.setattr(fast_backend, "_fast_encode", lambda fast, texts: real(fast, texts) if set(texts) <= probes
                        else hf_ids(llama3, ["x"] * len(texts)))
    enc = Encoder(llama3)
    enc.decide(["a row of the batch"])
    assert enc(["a row of the batch"]).to_pylist() == hf_ids(llama3, ["a row of the batch"]).to_pylist()
    assert enc.choice.backend == "hf" and "a row of the batch" in enc.choice.reason


def test_not_installed_falls_back(llama3, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "fastokens", None)
    enc = Encoder(llama3)
    enc.decide(["hi"])
    assert enc.choice == fast_backend.Choice("hf", "fastokens is not installed (pip install 'hf-sftprep[fast]')")


def test_backend_truncation_falls_back(llama3):
    tok = copy.deepcopy(llama3)
    tok.backend_tokenizer.enable_truncation(max_length=3)
    enc = Encoder(tok)
    enc.decide([])
    assert enc(["one two three four five six"]).to_pylist() == [[606, 1403, 2380, 3116, 4330, 4848]]
    assert enc.choice.backend == "hf" and "truncation" in enc.choice.reason


def test_environment_forces_the_hf_backend(llama3, monkeypatch):
    monkeypatch.setenv("HF_SFTPREP_BACKEND", "hf")
    enc = Encoder(llama3)
    assert enc(["hello there"]).to_pylist() == [[15339, 1070]]
    assert enc.choice == fast_backend.Choice("hf", "HF_SFTPREP_BACKEND=hf is set")
    monkeypatch.setenv("HF_SFTPREP_BACKEND", "rust")
    with pytest.raises(SFTPrepError, match=r"HF_SFTPREP_BACKEND='rust' is not supported; expected one of 'auto', 'hf', or unset\."):
        Encoder(llama3)


def test_batches_encode_through_hf_while_the_build_runs(llama3, monkeypatch):
    import threading

    gate = threading.Event()
    real = fast_backend._build
    monkeypatch.setattr(fast_backend, "_build", lambda tok, text: (gate.wait(), real(tok, text))[1])
    enc = Encoder(llama3)
    assert enc(["hello there"]).to_pylist() == [[15339, 1070]]
    assert enc.choice.backend == "hf" and "still being built" in enc.choice.reason
    gate.set()
    enc._slot["thread"].join()
    assert enc(["hello there"]).to_pylist() == [[15339, 1070]] and enc.choice == fast_backend.Choice("fastokens")


def test_small_dataset_skips_the_build(llama3, monkeypatch, caplog):
    monkeypatch.setattr(fast_backend, "_build", lambda tok, text: pytest.fail("a small dataset must not build fastokens"))
    enc = Encoder(llama3)
    with caplog.at_level(logging.INFO, logger="hf_sftprep"):
        choice = enc.decide(["hello there"], wait=False, rows=fast_backend.FAST_MIN_ROWS - 1)
    assert choice == fast_backend.Choice(
        "hf", f"the dataset is small ({fast_backend.FAST_MIN_ROWS - 1} rows < {fast_backend.FAST_MIN_ROWS}): "
        "building fastokens would cost more than it saves")
    assert enc(["hello there"]).to_pylist() == [[15339, 1070]] and enc.choice == choice
    assert not fast_backend._BUILT and "tokenizing with the HF backend: the dataset is small" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # a size choice, not a refusal


def test_threshold_rows_and_unknown_size_build(llama3):
    assert Encoder(llama3).decide(["hi"], rows=fast_backend.FAST_MIN_ROWS) == fast_backend.Choice("fastokens")
    fast_backend._BUILT.clear()
    assert Encoder(llama3).decide(["hi"], rows=None) == fast_backend.Choice("fastokens")


def test_a_finished_build_serves_small_datasets(llama3):
    Encoder(llama3).decide([])  # a large dataset earlier in this process built it
    enc = Encoder(llama3)
    assert enc.decide(["hello there"], rows=10) == fast_backend.Choice("fastokens")
    assert enc(["hello there"]).to_pylist() == [[15339, 1070]]


def test_prepare_on_a_small_dataset_never_starts_the_build(llama3, monkeypatch):
    """The shape check of the first rows encodes before the map: the size decision must come first, or
    that encode starts the build (which holds the GIL beside a 1k-row job)."""
    monkeypatch.setattr(fast_backend, "_build", lambda tok, text: pytest.fail("a small dataset must not build fastokens"))
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]} for i in range(20)]
    _, report = hf_sftprep.prepare(Dataset.from_list(rows), llama3, return_report=True)
    assert not fast_backend._BUILT
    assert report.tokenizer_backend == "hf" and report.tokenizer_backend_reason.startswith("the dataset is small (20 rows")


def test_plan_reuses_the_callers_serialization(llama3, monkeypatch):
    serialized = llama3.backend_tokenizer.to_str()
    monkeypatch.setattr(fast_backend, "_serialized", lambda tok: pytest.fail("serialized again"))
    enc = Encoder(llama3)
    enc.plan(fast_backend.FAST_MIN_ROWS, serialized)
    assert enc.decide(["hello there"]) == fast_backend.Choice("fastokens")
    small = Encoder(llama3)
    small.plan(10, serialized)  # a finished build for this tokenizer: even a small dataset uses it
    assert small.decide(["hi"]) == fast_backend.Choice("fastokens")


def test_fastokens_replaces_the_piece_dedupe_with_its_segment_cache(llama3, monkeypatch):
    """Seed-shaped rows: with fastokens the batch is encoded whole (its segment cache serves the repeated
    system prompt, checked by the probe set with the cache on), with ids identical to the HF piece dedupe."""
    from hf_sftprep.tokens import encode as encode_module

    rows = [{"messages": [{"role": "system", "content": "You are careful. " * 300},
                          {"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]}
            for i in range(40)]
    hf_ids_, hf_labels, _ = _prepared(llama3, rows, backend="hf")
    monkeypatch.setattr(encode_module, "tokenize_pieced", lambda *a, **k: pytest.fail("the dedupe ran beside fastokens"))
    fast_ids, fast_labels, report = _prepared(llama3, rows)
    assert report.tokenizer_backend == "fastokens"
    assert fast_ids == hf_ids_ and fast_labels == hf_labels
    fast, _ = next(iter(fast_backend._BUILT.values()))["result"]
    stats = fast.segment_cache_stats()
    assert stats["max_bytes"] == fast_backend.SEGMENT_CACHE_BYTES and stats["hits"] > 0
