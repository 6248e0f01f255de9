"""datasets/inherit.py: forked Dataset.map workers take the preprocessor from memory; other processes unpickle it."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys

import pytest
from datasets import Dataset

import hf_sftprep
from hf_sftprep import SFTPreprocessor
from hf_sftprep.datasets import inherit
from hf_sftprep.datasets.inherit import Inherited, inherited
from helpers import random_conversation


def _rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"messages": random_conversation(rng)} for _ in range(n)]


def test_this_process_gets_the_same_object_back(smollm):
    pre = SFTPreprocessor(smollm)
    with inherited(pre) as fn:
        back = pickle.loads(pickle.dumps(fn))
        assert isinstance(back, Inherited) and back.fn is pre
    assert not inherit._LIVE  # unregistered when the map is over


def test_a_process_without_the_key_unpickles_the_payload(smollm):
    pre = SFTPreprocessor(smollm, emit_meta=True)  # an Arrow table out, compared with equals()
    rows = _rows(6)
    batch = {"messages": [r["messages"] for r in rows]}
    with inherited(pre) as fn:
        data = pickle.dumps(fn)
    back = pickle.loads(data)  # the key is gone, as in a spawned worker
    assert back.fn is not pre and isinstance(back.fn, SFTPreprocessor)
    assert back(batch, list(range(6))).equals(pre(batch, list(range(6))))


def test_the_function_is_pickled_once_per_map(smollm, monkeypatch):
    calls = []
    original = SFTPreprocessor.__getstate__
    monkeypatch.setattr(SFTPreprocessor, "__getstate__", lambda self: calls.append(1) or original(self))
    with inherited(SFTPreprocessor(smollm)) as fn:
        first, second = pickle.dumps(fn), pickle.dumps(fn)  # one job per worker
    assert len(calls) == 1 and first == second


def test_a_fresh_interpreter_unpickles_it(smollm, tmp_path):
    """A spawned worker (macOS' default) or another machine has no inherited object: the ordinary pickle."""
    pre = SFTPreprocessor(smollm)
    batch = {"messages": [r["messages"] for r in _rows(3)]}
    with inherited(pre) as fn:
        (tmp_path / "fn.pkl").write_bytes(pickle.dumps(fn))
    code = (f"import pickle; fn = pickle.loads(open({str(tmp_path / 'fn.pkl')!r}, 'rb').read()); "
            f"print([list(map(int, x)) for x in fn({batch!r}, [0, 1, 2])['input_ids']])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str([list(map(int, x)) for x in pre(batch, [0, 1, 2])["input_ids"]])


@pytest.mark.parametrize("name", ["smollm", "llama3"])
def test_num_proc_2_matches_one_process_and_workers_do_not_unpickle(name, request, tmp_path, monkeypatch):
    tok = request.getfixturevalue(name)
    raw = Dataset.from_list(_rows(40, seed=1))
    one, report_one = hf_sftprep.prepare(raw, tok, return_report=True, load_from_cache_file=False)
    marker = tmp_path / "unpickled"
    original = SFTPreprocessor.__setstate__

    def counting(self, state):  # forked workers inherit this patch; a worker that unpickles leaves a file
        marker.write_text("yes")
        original(self, state)

    monkeypatch.setattr(SFTPreprocessor, "__setstate__", counting)
    two, report_two = hf_sftprep.prepare(raw, tok, return_report=True, load_from_cache_file=False, num_proc=2)
    assert two["input_ids"] == one["input_ids"] and two["labels"] == one["labels"]
    assert report_two.to_dict() == report_one.to_dict()
    assert not marker.exists(), "a worker unpickled the preprocessor instead of taking the forked one"
    assert not inherit._LIVE


def test_what_plain_pickle_refuses_goes_through_dill():
    """Dataset.map pickles functions with dill; the hand-over must not refuse what it accepted before."""
    with inherited(lambda x: x + 1) as fn:
        data = pickle.dumps(fn)
    assert pickle.loads(data).fn(1) == 2  # the key is gone: restored from dill's bytes
