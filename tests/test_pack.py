"""pack(): best-fit decreasing against a slow reference, exactness, overflow, cache, seeds, and no contamination."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, DatasetDict, IterableDataset, concatenate_datasets, load_from_disk

from hf_sftprep import OptionError, SFTDataCollator, SFTPrepError, pack, prepare
from hf_sftprep.datasets import pack as pack_module
from hf_sftprep.datasets.pack import best_fit_decreasing
from helpers import DEMO_CHAT, tiny_llama



def slow_bfd_loads(lengths: list[int], seq_length: int) -> list[int]:
    """Textbook best-fit decreasing, one row at a time: sorted bin loads."""
    free: list[int] = []
    for n in sorted(lengths, reverse=True):
        fits = [k for k, f in enumerate(free) if f >= n]
        if fits:
            best = min(fits, key=lambda k: free[k])
            free[best] -= n
        else:
            free.append(seq_length - n)
    return sorted(seq_length - f for f in free)


def random_rows(rng: np.random.Generator, n: int, seq_length: int) -> Dataset:
    """Random token rows with random -100 masks; lengths include exactly 1 and exactly seq_length."""
    lengths = np.concatenate([[1, seq_length, 1, seq_length], rng.integers(1, seq_length + 1, n - 4)])
    ids = [rng.integers(0, 1000, k).tolist() for k in lengths]
    labels = [[t if rng.random() < 0.6 else -100 for t in row] for row in ids]
    return Dataset.from_dict({"input_ids": ids, "labels": labels, "length": lengths.tolist()})


def unpack(packed: Dataset) -> Counter:
    """Multiset of (input_ids, labels) sequences cut out of the packs by seq_lengths."""
    out = Counter()
    for row in packed:
        assert sum(row["seq_lengths"]) == len(row["input_ids"]) == len(row["labels"]) == row["length"]
        start = 0
        for n in row["seq_lengths"]:
            out[(tuple(row["input_ids"][start : start + n]), tuple(row["labels"][start : start + n]))] += 1
            start += n
    return out


def rows_multiset(ds: Dataset) -> Counter:
    return Counter((tuple(r["input_ids"]), tuple(r["labels"])) for r in ds)


def test_docstring_example():
    ds = Dataset.from_dict({"input_ids": [[1, 2, 3], [4], [5, 6]], "labels": [[-100, 2, 3], [4], [-100, 6]]})
    assert pack(ds, 4)[:] == {
        "input_ids": [[1, 2, 3, 4], [5, 6]],
        "labels": [[-100, 2, 3, 4], [-100, 6]],
        "seq_lengths": [[3, 1], [2]],
        "length": [4, 2],
    }
    order, starts = best_fit_decreasing(np.array([3, 1, 2, 4]), 4)
    assert order.tolist() == [3, 0, 1, 2] and starts.tolist() == [0, 1, 3, 4]


def test_bfd_equals_slow_reference():
    """Bins with equal free room are interchangeable, so any BFD gives the same multiset of bin loads."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        seq_length = int(rng.integers(1, 50))
        lengths = rng.integers(1, seq_length + 1, int(rng.integers(0, 80)))
        order, starts = best_fit_decreasing(lengths, seq_length, seed=trial if trial % 2 else None)
        assert sorted(order.tolist()) == list(range(len(lengths)))
        loads = sorted(int(lengths[order[a:b]].sum()) for a, b in zip(starts[:-1], starts[1:]))
        assert loads == slow_bfd_loads(lengths.tolist(), seq_length)
        inside = [lengths[order[a:b]].tolist() for a, b in zip(starts[:-1], starts[1:])]
        assert all(x == sorted(x, reverse=True) for x in inside)  # placement order: longest first


@pytest.mark.parametrize("layout", ["memory", "disk", "selected"])
def test_unpacking_gives_back_the_rows(tmp_path, layout):
    rng = np.random.default_rng(1)
    ds = random_rows(rng, 400, 64)
    if layout == "disk":  # memory-mapped, several record batches
        ds.save_to_disk(str(tmp_path / "d"), max_shard_size="20KB")
        ds = load_from_disk(str(tmp_path / "d"))
    elif layout == "selected":  # an indices mapping, as prepare() leaves after dropping rows
        ds = ds.map(lambda b: b, batched=True, batch_size=37).shuffle(seed=3).select(range(300))
        assert ds._indices is not None
    packed, report = pack(ds, 64, return_report=True)
    assert unpack(packed) == rows_multiset(ds)
    assert max(packed["length"]) <= 64
    assert (report.rows_in, report.rows_packed, report.dropped_overflow) == (ds.num_rows, ds.num_rows, 0)
    assert report.tokens == sum(ds["length"]) and report.packs == packed.num_rows
    assert packed.features["input_ids"].feature.dtype == ds.features["input_ids"].feature.dtype
    assert packed.features["seq_lengths"].feature.dtype == "int32"


def slow_pack(ds: Dataset, seq_length: int) -> dict:
    """Packs built one row at a time with Python lists, in best_fit_decreasing's bin and placement order."""
    rows = ds[:]
    order, starts = best_fit_decreasing([len(x) for x in rows["input_ids"]], seq_length)
    extras = [c for c in ds.column_names if c not in ("input_ids", "labels", "length")]
    out = {"input_ids": [], "labels": [], "seq_lengths": [], "length": [], **{c: [] for c in extras}}
    for a, b in zip(starts[:-1].tolist(), starts[1:].tolist()):
        members = order[a:b].tolist()
        for c in ("input_ids", "labels"):
            out[c].append([t for r in members for t in rows[c][r]])
        out["seq_lengths"].append([len(rows["input_ids"][r]) for r in members])
        out["length"].append(sum(out["seq_lengths"][-1]))
        for c in extras:
            out[c].append([rows[c][r] for r in members])
    return out


@pytest.mark.parametrize("layout", ["memory", "shards", "two_files", "selected"])
def test_packs_equal_slow_reference(tmp_path, layout):
    """Row for row against slow_pack, over the layouts the in-place gather addresses differently."""
    rng = np.random.default_rng(7)
    for trial in range(4):
        seq_length = int(rng.integers(8, 200))
        ds = random_rows(rng, int(rng.integers(5, 300)), seq_length)
        ds = ds.add_column("source", [f"s{i % 3}" for i in range(ds.num_rows)])
        if layout == "memory":  # in RAM, several record batches
            ds = ds.map(lambda b: b, batched=True, batch_size=int(rng.integers(1, 50)))
        elif layout == "shards":  # memory-mapped, several files of several record batches
            ds.save_to_disk(str(tmp_path / f"s{trial}"), max_shard_size="8KB")
            ds = load_from_disk(str(tmp_path / f"s{trial}"))
        elif layout == "two_files":  # a memory-mapped file concatenated with itself and with an in-RAM table
            ds.save_to_disk(str(tmp_path / f"f{trial}"))
            disk = load_from_disk(str(tmp_path / f"f{trial}"))
            ds = concatenate_datasets([disk, ds, disk.select(range(disk.num_rows // 2))])
        else:  # an indices mapping over a memory-mapped file
            ds.save_to_disk(str(tmp_path / f"i{trial}"), max_shard_size="8KB")
            ds = load_from_disk(str(tmp_path / f"i{trial}")).shuffle(seed=trial).select(range(ds.num_rows // 2 + 1))
        assert pack(ds, seq_length)[:] == slow_pack(ds, seq_length)


def test_prepared_rows_round_trip(smollm):
    raw = Dataset.from_list([json.loads(x) for x in DEMO_CHAT.read_text().splitlines()[:40]])
    ds = prepare(raw, smollm)
    packed = pack(ds, 512)
    assert unpack(packed) == rows_multiset(ds)
    assert packed.num_rows < ds.num_rows


def test_overflow_error_and_drop():
    ds = Dataset.from_dict({"input_ids": [[1, 2], [3, 4, 5, 6, 7], [8]], "labels": [[1, 2], [3, 4, 5, 6, 7], [8]]})
    with pytest.raises(SFTPrepError, match=r"row 1 has 5 tokens, more than seq_length=4 \(1 rows are longer\)\. "
                                           r"Re-run prepare\(\.\.\., max_length=4\).*overflow='drop'"):
        pack(ds, 4)
    packed, report = pack(ds, 4, overflow="drop", return_report=True)
    assert packed["input_ids"] == [[1, 2, 8]] and packed["seq_lengths"] == [[2, 1]]
    assert (report.rows_in, report.rows_packed, report.dropped_overflow, report.packs) == (3, 2, 1, 1)
    assert report.fill_rate == 0.75


def test_refusals():
    ds = Dataset.from_dict({"input_ids": [[1, 2]], "labels": [[1, 2]]})
    with pytest.raises(OptionError, match=r"strategy='wrapped' is not supported; expected one of 'bfd'"):
        pack(ds, 4, strategy="wrapped")
    with pytest.raises(OptionError, match=r"overflow='truncate' is not supported; expected one of 'error', 'drop'"):
        pack(ds, 4, overflow="truncate")
    with pytest.raises(OptionError, match=r"seq_length=0; expected a positive int"):
        pack(ds, 0)
    with pytest.raises(SFTPrepError, match=r"pack\(\) needs columns \['labels'\] \(found \['input_ids'\]\)"):
        pack(Dataset.from_dict({"input_ids": [[1]]}), 4)
    with pytest.raises(SFTPrepError, match=r"row 1: labels has 1 tokens but input_ids has 2"):
        pack(Dataset.from_dict({"input_ids": [[1], [2, 3]], "labels": [[1], [2]]}), 4)
    with pytest.raises(SFTPrepError, match=r"row 0 has no tokens \(1 rows are empty\)"):
        pack(Dataset.from_dict({"input_ids": [[], [2, 3]], "labels": [[], [2, 3]]}), 4)
    stream = IterableDataset.from_generator(lambda: iter([{"input_ids": [1], "labels": [1]}]))
    with pytest.raises(SFTPrepError, match=r"got a IterableDataset.*A streamed dataset cannot be packed"):
        pack(stream, 4)


def test_seed_is_deterministic_and_keeps_rows():
    ds = random_rows(np.random.default_rng(2), 300, 32)
    a, b = pack(ds, 32, seed=7), pack(ds, 32, seed=7)
    assert a[:] == b[:]
    c = pack(ds, 32, seed=8)
    assert c["input_ids"] != a["input_ids"]
    assert unpack(a) == unpack(c) == rows_multiset(ds)
    assert pack(ds, 32)[:] == pack(ds, 32)[:]
    assert a._fingerprint != c._fingerprint != pack(ds, 32)._fingerprint


def test_cached_like_prepare(tmp_path, monkeypatch):
    ds = random_rows(np.random.default_rng(3), 200, 32)
    ds.save_to_disk(str(tmp_path / "d"))
    ds = load_from_disk(str(tmp_path / "d"))
    first = pack(ds, 32)
    assert Path(first.cache_files[0]["filename"]).name == f"hf_sftprep-pack-{first._fingerprint}.arrow"

    def boom(*a, **k):
        raise AssertionError("the cached packs should have been loaded")

    monkeypatch.setattr(pack_module, "best_fit_decreasing", boom)
    again, report = pack(ds, 32, return_report=True)
    assert again[:] == first[:] and again._fingerprint == first._fingerprint
    assert report.rows_packed == 200
    with pytest.raises(AssertionError, match="cached packs"):
        pack(ds, 32, load_from_cache_file=False)
    with pytest.raises(AssertionError, match="cached packs"):
        pack(ds, 32, seed=0)  # another option is another fingerprint


def test_dataset_dict_and_extra_columns():
    train = Dataset.from_dict({"input_ids": [[1, 2, 3], [4], [5, 6]], "labels": [[1, 2, 3], [4], [5, 6]],
                               "source": ["a", "b", "c"]})
    dd = DatasetDict({"train": train, "test": train.select([2])})
    packed, reports = pack(dd, 4, return_report=True)
    assert packed["train"]["source"] == [["a", "b"], ["c"]]  # one entry per sequence, as seq_lengths
    assert packed["test"][:] == {"input_ids": [[5, 6]], "labels": [[5, 6]], "seq_lengths": [[2]], "length": [2],
                                 "source": [["c"]]}
    assert reports["train"].packs == 2 and reports["test"].packs == 1


def test_fill_beats_trl_per_batch_packing():
    """Global BFD over all rows never needs more packs than TRL's BFD inside each 1,000-row map batch."""
    trl_data_utils = pytest.importorskip("trl.data_utils")
    rng = np.random.default_rng(4)
    lengths = np.clip(rng.lognormal(5.5, 0.7, 3000).astype(int), 1, 1024)
    ds = Dataset.from_dict({"input_ids": [[1] * n for n in lengths], "labels": [[1] * n for n in lengths]})
    ours = pack(ds, 1024)
    theirs = trl_data_utils.pack_dataset(ds, 1024, strategy="bfd")
    assert ours.num_rows < theirs.num_rows
    assert ours.num_rows - int(np.ceil(lengths.sum() / 1024)) <= 1  # within one pack of the lower bound


def test_collator_on_packs_literal(smollm):
    rows = [
        {"input_ids": [11, 12, 13, 21, 22], "labels": [11, 12, 13, 21, 22], "seq_lengths": [3, 2]},
        {"input_ids": [31, 32], "labels": [-100, 32], "seq_lengths": [2]},
    ]
    padded = SFTDataCollator(smollm, return_tensors="np")(rows)
    assert padded["input_ids"].tolist() == [[11, 12, 13, 21, 22], [31, 32, 2, 2, 2]]
    assert padded["labels"].tolist() == [[-100, 12, 13, -100, 22], [-100, 32, -100, -100, -100]]
    assert padded["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 0, 1, 2]]
    assert "attention_mask" not in padded and padded["use_cache"] is False
    flat = SFTDataCollator(smollm, padding_free=True, return_tensors="np")(rows)
    assert flat["input_ids"].tolist() == [[11, 12, 13, 21, 22, 31, 32]]
    assert flat["labels"].tolist() == [[-100, 12, 13, -100, 22, -100, 32]]
    assert flat["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1]]
    assert flat["cu_seq_lens_q"].tolist() == flat["cu_seq_lens_k"].tolist() == [0, 3, 5, 7]
    assert flat["max_length_q"] == flat["max_length_k"] == 3


# --- no contamination: logits on a pack equal logits on each sequence alone ----------------------

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def packs_of_demo(tok, n_rows: int, seq_length: int) -> tuple[Dataset, list[dict]]:
    raw = Dataset.from_list([json.loads(x) for x in DEMO_CHAT.read_text().splitlines()[:n_rows]])
    packed = pack(prepare(raw, tok, max_length=seq_length), seq_length)
    return packed, [row for row in packed if len(row["seq_lengths"]) > 1][:3]


def sequences(packs: list[dict]):
    """(pack index, offset inside the pack, ids) of every sequence."""
    for k, row in enumerate(packs):
        offset = 0
        for n in row["seq_lengths"]:
            yield k, offset, row["input_ids"][offset : offset + n]
            offset += n


def assert_no_contamination(model, tok, packs: list[dict]):
    """Both collator layouts, eval and train mode (no dropout in Llama at attention_dropout=0)."""
    padded_batch = SFTDataCollator(tok)(packs)
    flat_batch = SFTDataCollator(tok, padding_free=True)(packs)
    pack_starts = np.cumsum([0] + [len(p["input_ids"]) for p in packs])
    for train in (False, True):
        model.train(train)
        with torch.no_grad():
            padded = model(**{k: v for k, v in padded_batch.items() if k != "labels"}).logits
            flat = model(**{k: v for k, v in flat_batch.items() if k != "labels"}).logits[0]
            for k, offset, ids in sequences(packs):
                alone = model(input_ids=torch.tensor([ids])).logits[0]
                where = f"pack {k}, offset {offset}, train={train}"
                torch.testing.assert_close(padded[k, offset : offset + len(ids)], alone, atol=2e-4, rtol=1e-4,
                                           msg=lambda m: f"padded packs, {where}: {m}")
                start = pack_starts[k] + offset
                torch.testing.assert_close(flat[start : start + len(ids)], alone, atol=2e-4, rtol=1e-4,
                                           msg=lambda m: f"padding-free, {where}: {m}")


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_no_contamination_tiny_llama(smollm, attn):
    _, packs = packs_of_demo(smollm, 24, 512)
    assert len(packs) == 3 and all(len(p["seq_lengths"]) > 1 for p in packs)
    # ids folded into a 1,024-token vocabulary: the logits stay small (49k-wide ones made this 10x slower)
    packs = [{**p, "input_ids": [t % 1024 for t in p["input_ids"]]} for p in packs]
    assert_no_contamination(tiny_llama(1024, attn), smollm, packs)


@pytest.mark.real_model
def test_no_contamination_real_smollm2(smollm_checkpoint):
    tok = transformers.AutoTokenizer.from_pretrained(smollm_checkpoint)
    model = transformers.AutoModelForCausalLM.from_pretrained(smollm_checkpoint, attn_implementation="sdpa")
    _, packs = packs_of_demo(tok, 12, 384)
    packs = packs[:1]
    assert len(packs[0]["seq_lengths"]) > 1
    assert_no_contamination(model, tok, packs)


def test_cli_build_pack_inspect_report(smollm, tmp_path, capsys):
    from hf_sftprep.cli.main import main

    tok_dir = tmp_path / "tok"
    smollm.save_pretrained(str(tok_dir))
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(DEMO_CHAT.read_text().splitlines(keepends=True)[:30]))
    out = tmp_path / "packed"
    assert main(["build", str(data), "--tokenizer", str(tok_dir), "--out", str(out), "--max-length", "512",
                 "--pack", "512"]) == 0
    printed = capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())["packing"]
    packed = load_from_disk(str(out))
    assert stats["packs"] == packed.num_rows and stats["rows_packed"] == 30
    assert stats["fill_rate"] == round(sum(packed["length"]) / (512 * packed.num_rows), 6)
    assert f"packed 30 of 30 rows into {packed.num_rows} packs of 512 tokens; fill rate {stats['fill_rate']:.2%}" in printed
    row = next(i for i in range(packed.num_rows) if len(packed[i]["seq_lengths"]) > 1)
    first = packed[row]["seq_lengths"][0]
    assert main(["inspect", str(out), "--row", str(row), "--color", "never"]) == 0
    shown = capsys.readouterr().out
    assert f"a pack of {len(packed[row]['seq_lengths'])} sequences" in shown
    assert f"=== sequence 2 of {len(packed[row]['seq_lengths'])}: tokens {first}..{first + packed[row]['seq_lengths'][1] - 1}" in shown
    assert main(["report", str(out), "--out", str(tmp_path / "r.html")]) == 0
    assert f"fill rate <b>{stats['fill_rate']:.2%}</b>" in (tmp_path / "r.html").read_text()
    assert main(["build", str(data), "--tokenizer", str(tok_dir), "--out", str(tmp_path / "x"), "--pack", "64"]) == 2
    assert "more than seq_length=64" in capsys.readouterr().err
