"""prepare_on_ray on a local 2-CPU Ray instance equals prepare() as a multiset of (input_ids, labels)."""

from __future__ import annotations

import json
import random

import pytest
from datasets import load_dataset
from helpers import random_conversation

from hf_sftprep import RowError, SFTPrepError, prepare

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory):
    rng = random.Random(0)
    rows = [{"messages": random_conversation(rng)} for _ in range(2000)]
    rows[10] = {"messages": [{"role": "user", "content": "no answer"}]}
    path = tmp_path_factory.mktemp("ray") / "chats.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_item2_non_empty_output_dir_is_refused(jsonl, tmp_path):
    from hf_sftprep.datasets.distributed import prepare_on_ray

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old-shard.parquet").write_bytes(b"x")
    with pytest.raises(SFTPrepError, match=r"output_dir '.*out' is not empty \(1 entries, e.g. 'old-shard.parquet'\); .* Pass overwrite=True"):
        prepare_on_ray(str(jsonl), "unused-tokenizer", str(tmp_path / "out"), num_cpus=2)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SFTPrepError, match=r"output_dir '.*file' is a file; expected a directory"):
        prepare_on_ray(str(jsonl), "unused-tokenizer", str(tmp_path / "file"), num_cpus=2)
    assert not ray.is_initialized()  # refused before Ray starts


def test_ray_equals_prepare_with_drops_quietly_over_old_output(jsonl, smollm, tok_dir, tmp_path, capfd):
    """Also pins item 2 (overwrite replaces, never adds) and the quiet-logs item of issue 15."""
    from hf_sftprep.datasets.distributed import prepare_on_ray

    (tmp_path / "out").mkdir()
    prepare(load_dataset("json", data_files=str(jsonl), split="train"), smollm, on_invalid="drop").to_parquet(
        str(tmp_path / "out" / "stale.parquet"))  # a previous run's 1999 rows
    capfd.readouterr()
    out, report = prepare_on_ray(str(jsonl), str(tok_dir / "smollm2_tokenizer"), str(tmp_path / "out"), num_cpus=2,
                                 on_invalid="drop", return_report=True, overwrite=True)
    logs = capfd.readouterr()
    # no Ray progress lines, deprecation warnings or actor-constructor ERROR lines
    assert [line for line in (logs.out + logs.err).splitlines() if line.strip() and not line.startswith("hf_sftprep")] == []
    assert report.dropped == {"no_assistant": 1} and (report.rows_in, report.rows_out) == (2000, 1999)
    got = load_dataset("parquet", data_dir=out, split="train")
    assert got.num_rows == 1999
    assert str(got.data.schema.field("input_ids").type) == "list<item: int32>"
    expected = prepare(load_dataset("json", data_files=str(jsonl), split="train"), smollm, on_invalid="drop")
    pairs = lambda ds: sorted((tuple(a), tuple(b)) for a, b in zip(ds["input_ids"], ds["labels"]))  # noqa: E731
    assert pairs(got) == pairs(expected)
    assert not ray.is_initialized()


def test_item2_ray_report_equals_prepare_field_by_field(smollm, tok_dir, tmp_path):
    """Issue 19 item 2: truncation and reasoning counts came out 0 under Ray (a hand-copied meta-column list)."""
    from hf_sftprep.datasets.distributed import prepare_on_ray

    rng = random.Random(1)
    rows = [{"messages": random_conversation(rng)} for _ in range(200)]
    for r in rows[:7]:  # SmolLM2's template does not render reasoning: 7 dropped turns (or fewer, if truncated away)
        r["messages"][-1]["reasoning_content"] = "thinking it over"
    rows[3] = {"messages": [{"role": "user", "content": "no answer"}]}
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    options = {"on_invalid": "drop", "max_length": 192}
    _, expected = prepare(load_dataset("json", data_files=str(path), split="train"), smollm, return_report=True, **options)
    _, got = prepare_on_ray(str(path), str(tok_dir / "smollm2_tokenizer"), str(tmp_path / "out"), num_cpus=2,
                            batch_size=64, return_report=True, **options)
    assert (expected.trained_truncated_rows, expected.reasoning_dropped_turns) == (76, 6)
    # which tokenizer backend encoded is decided per process (Ray's workers decide on their own); ids are
    # identical either way, and every count is compared
    per_process = ("tokenizer_backend", "tokenizer_backend_reason")
    strip = lambda d: {k: v for k, v in d.items() if k not in per_process}  # noqa: E731
    assert strip(got.to_dict()) == strip(expected.to_dict())


def test_ray_error_mode_raises_like_prepare(jsonl, smollm, tok_dir, tmp_path):
    """Issue 19 item 14: the row's own RowError (an SFTPrepError), numbered as prepare() numbers it."""
    from hf_sftprep.datasets.distributed import prepare_on_ray

    with pytest.raises(RowError) as expected:
        prepare(load_dataset("json", data_files=str(jsonl), split="train"), smollm)
    with pytest.raises(SFTPrepError) as got:
        prepare_on_ray(str(jsonl), str(tok_dir / "smollm2_tokenizer"), str(tmp_path / "out"), num_cpus=2, batch_size=8)
    assert type(got.value) is RowError and (got.value.row, got.value.reason) == (10, "no_assistant")
    assert str(got.value) == str(expected.value)
    assert str(got.value).startswith("row 10: field 'messages' has roles ['user'] and no assistant message")
    assert "with_indices" not in str(got.value)
    assert not ray.is_initialized()
