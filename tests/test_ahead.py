"""Rendering ahead while the fast backend builds: the batches Dataset.map asks for, and the same output."""

from __future__ import annotations

import logging
import threading

import pytest
from datasets import Dataset

import hf_sftprep
from hf_sftprep import SFTPreprocessor
from hf_sftprep.datasets import ahead, prepare as prepare_module
from hf_sftprep.datasets.ahead import interleaved, map_batches
from hf_sftprep.errors import RowError
from hf_sftprep.tokens import fast_backend

pytest.importorskip("fastokens")


def _rows(n: int, bad: tuple[int, ...] = ()) -> list[dict]:
    out = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"question {i} " * (1 + i % 3)}]
        if i not in bad:
            msgs.append({"role": "assistant", "content": f" answer {i}\n" * (1 + i % 2)})
        out.append({"messages": msgs})
    return out


class _Batches:
    def __init__(self):
        self.seen = []

    def __call__(self, batch, indices):
        self.seen.append((indices[0], indices[-1] + 1))
        return {"i": indices}


@pytest.mark.parametrize("n,num_proc,batch_size", [(10, None, 3), (10, 2, 3), (11, 2, 4), (7, 2, None), (5, 3, 1000)])
def test_map_batches_are_the_batches_dataset_map_cuts(n, num_proc, batch_size, tmp_path):
    ds = Dataset.from_list([{"x": i} for i in range(n)])
    if num_proc:  # the workers' batches: each output row records its batch's first and stopping rows
        out = ds.map(lambda b, idx: {"a": [idx[0]] * len(idx), "b": [idx[-1] + 1] * len(idx)}, batched=True,
                     with_indices=True, batch_size=batch_size, num_proc=num_proc, cache_file_name=str(tmp_path / "c.arrow"))
        seen = sorted(set(zip(out["a"], out["b"])))
    else:
        spy = _Batches()
        ds.map(spy, batched=True, with_indices=True, batch_size=batch_size, load_from_cache_file=False)
        seen = spy.seen
    assert sorted(b for shard in map_batches(n, num_proc, batch_size) for b in shard) == seen


def test_interleaved_starts_every_shard():
    assert interleaved([[(0, 3), (3, 5)], [(5, 8), (8, 10)], [(10, 11)]]) == [(0, 3), (5, 8), (10, 11), (3, 5), (8, 10)]


@pytest.fixture
def gated(monkeypatch):
    """A build held back until rendering ahead has finished (so that it renders every batch it may), on a
    dataset below the size threshold; records how many rows it rendered and how many batches the map rendered."""
    fast_backend._BUILT.clear()
    monkeypatch.setattr(fast_backend, "FAST_MIN_ROWS", 0)
    gate = threading.Event()
    real_build, real_ahead, real_render = fast_backend._build, ahead.render_ahead, SFTPreprocessor.render
    seen = {"ahead": [], "renders": 0}
    monkeypatch.setattr(fast_backend, "_build", lambda tok, text: (gate.wait(30), real_build(tok, text))[1])

    def spy_ahead(*args, **kwargs):
        seen["ahead"].append(real_ahead(*args, **kwargs))
        seen["renders"] = 0
        gate.set()
        return seen["ahead"][-1]

    def spy_render(self, records, rows):
        seen["renders"] += 1
        return real_render(self, records, rows)

    monkeypatch.setattr(prepare_module, "render_ahead", spy_ahead)
    monkeypatch.setattr(SFTPreprocessor, "render", spy_render)
    yield seen
    gate.set()
    fast_backend._BUILT.clear()


@pytest.mark.parametrize("num_proc", [None, 2])
def test_rows_rendered_ahead_are_labelled_as_the_hf_path_labels_them(llama3, gated, num_proc, caplog):
    rows = _rows(30, bad=(5, 17))
    raw = Dataset.from_list(rows)
    want, want_report = hf_sftprep.prepare(raw, llama3, backend="hf", on_invalid="drop", batch_size=4, return_report=True)
    with caplog.at_level(logging.INFO, logger="hf_sftprep"):
        got, report = hf_sftprep.prepare(raw, llama3, on_invalid="drop", batch_size=4, num_proc=num_proc,
                                         return_report=True, load_from_cache_file=False)
    assert "rendered 30 of 30 rows while the fast tokenizer backend was built" in caplog.text
    assert gated["ahead"] == [0, 30]  # the HF run: no build, nothing ahead; then every row before the map
    if num_proc is None:
        assert gated["renders"] == 0  # the map rendered nothing again
    assert report.tokenizer_backend == "fastokens"
    assert got["input_ids"] == want["input_ids"] and got["labels"] == want["labels"]
    assert report.dropped == want_report.dropped == {"no_assistant": 2}


def test_a_bad_row_ahead_is_reported_by_the_map_with_its_row_number(llama3, gated):
    raw = Dataset.from_list(_rows(30, bad=(9,)))
    with pytest.raises(RowError) as hf_err:
        hf_sftprep.prepare(raw, llama3, backend="hf", batch_size=4)
    with pytest.raises(RowError) as err:
        hf_sftprep.prepare(raw, llama3, batch_size=4, load_from_cache_file=False)
    assert gated["ahead"] == [0, 8]  # the two batches before row 9's
    assert str(err.value) == str(hf_err.value) and "row 9" in str(err.value)


def test_rendering_ahead_stops_at_its_row_budget(llama3, gated, monkeypatch):
    monkeypatch.setattr(ahead, "AHEAD_ROWS", 5)
    raw = Dataset.from_list(_rows(30))
    want = hf_sftprep.prepare(raw, llama3, backend="hf", batch_size=4)
    got = hf_sftprep.prepare(raw, llama3, batch_size=4, load_from_cache_file=False)
    assert gated["ahead"] == [0, 8] and gated["renders"] == 6  # 2 batches ahead, the map rendered the other 6
    assert got["input_ids"] == want["input_ids"] and got["labels"] == want["labels"]


def test_nothing_is_rendered_ahead_without_a_build(llama3, monkeypatch):
    monkeypatch.setattr(SFTPreprocessor, "render", lambda *a: pytest.fail("rendered outside the map"))
    pre = SFTPreprocessor(llama3, backend="hf")
    assert ahead.render_ahead(Dataset.from_list(_rows(4)), pre, None, 2) == 0 and not pre.ahead
