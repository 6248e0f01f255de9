"""prepare_on_ray on a local 2-CPU Ray instance equals prepare() as a multiset of (input_ids, labels)."""

from __future__ import annotations

import json
import random

import pytest
from datasets import load_dataset
from helpers import random_conversation

from hf_sftprep import prepare

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory):
    rng = random.Random(0)
    rows = [{"messages": random_conversation(rng)} for _ in range(2000)]
    rows[10] = {"messages": [{"role": "user", "content": "no answer"}]}
    path = tmp_path_factory.mktemp("ray") / "chats.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_ray_equals_prepare_with_drops(jsonl, smollm, tok_dir, tmp_path):
    from hf_sftprep.datasets.distributed import prepare_on_ray

    out, report = prepare_on_ray(str(jsonl), str(tok_dir / "smollm2_tokenizer"), str(tmp_path / "out"), num_cpus=2,
                                 on_invalid="drop", return_report=True)
    assert report.dropped == {"no_assistant": 1} and (report.rows_in, report.rows_out) == (2000, 1999)
    got = load_dataset("parquet", data_dir=out, split="train")
    assert str(got.data.schema.field("input_ids").type) == "list<item: int32>"
    expected = prepare(load_dataset("json", data_files=str(jsonl), split="train"), smollm, on_invalid="drop")
    pairs = lambda ds: sorted((tuple(a), tuple(b)) for a, b in zip(ds["input_ids"], ds["labels"]))  # noqa: E731
    assert pairs(got) == pairs(expected)
    assert not ray.is_initialized()


def test_ray_error_mode_raises_like_prepare(jsonl, smollm, tok_dir, tmp_path):
    from hf_sftprep.datasets.distributed import prepare_on_ray

    with pytest.raises(Exception, match="no assistant message"):
        prepare_on_ray(str(jsonl), str(tok_dir / "smollm2_tokenizer"), str(tmp_path / "out"), num_cpus=2)
    assert not ray.is_initialized()
