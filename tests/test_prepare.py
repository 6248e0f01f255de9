"""prepare(): Arrow int32 output, cache reuse and invalidation, report, generation prompts."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import pytest
from datasets import Dataset, DatasetDict, load_dataset
from helpers import random_conversation

from hf_sftprep import PrepReport, generation_prompts, prepare


@pytest.fixture
def chat_file(tmp_path):
    rng = random.Random(3)
    path = tmp_path / "chats.jsonl"
    with path.open("w") as f:
        for _ in range(300):
            f.write(json.dumps({"messages": random_conversation(rng)}, ensure_ascii=False) + "\n")
    return path


def load(path):
    return load_dataset("json", data_files=str(path), split="train")


def test_int32_features_and_bytes_per_token(chat_file, smollm):
    ds = prepare(load(chat_file), smollm)
    assert ds.column_names == ["input_ids", "labels", "length"]
    schema = ds.data.schema
    assert str(schema.field("input_ids").type) == "list<item: int32>"
    assert str(schema.field("labels").type) == "list<item: int32>"
    tokens = sum(ds["length"])
    size = sum(os.path.getsize(f["filename"]) for f in ds.cache_files)
    assert size / tokens < 9.0


def test_cache_reused_and_invalidated(chat_file, smollm, llama3):
    raw = load(chat_file)
    first = prepare(raw, smollm)
    again = prepare(raw, smollm)
    assert first.cache_files == again.cache_files
    assert first._fingerprint == again._fingerprint
    other_option = prepare(raw, smollm, train_on="last")
    other_tok = prepare(raw, llama3)
    fps = {first._fingerprint, other_option._fingerprint, other_tok._fingerprint}
    assert len(fps) == 3
    assert other_option.cache_files != first.cache_files


def test_report(chat_file, smollm):
    ds, report = prepare(load(chat_file), smollm, return_report=True)
    assert isinstance(report, PrepReport)
    assert report.rows_in == report.rows_out == 300 and report.dropped == {}
    assert report.tokens == sum(ds["length"])
    assert report.trained_tokens == sum(sum(t != -100 for t in row) for row in ds["labels"])
    assert report.assistant_header_ids == [1, 520, 9531, 198] and report.end_of_turn == ["<|im_end|>"]
    legacy = {k: report.to_dict()[k] for k in ("header_text", "header_ids", "end_text", "end_ids", "eot_truncated_rows")}
    assert legacy == {"header_text": "<|im_start|>assistant\n", "header_ids": [1, 520, 9531, 198], "end_text": "<|im_end|>",
                      "end_ids": [2], "eot_truncated_rows": report.end_of_turn_truncated_rows}  # 0.3 keys, one release
    assert "rows: 300 in, 300 out" in report.summary()


def test_datasetdict(smollm):
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]} for i in range(6)]
    dd = DatasetDict({"train": Dataset.from_list(rows[:4]), "test": Dataset.from_list(rows[4:])})
    out, reports = prepare(dd, smollm, return_report=True)
    assert out["train"].num_rows == 4 and out["test"].num_rows == 2
    assert reports["test"].rows_out == 2


def test_second_process_hits_cache(chat_file, smollm, tok_dir, tmp_path):
    """Fingerprints are stable across processes: a fresh interpreter reuses the same cache file."""
    first = prepare(load(chat_file), smollm)
    script = textwrap.dedent(f"""
        import json, datasets
        from hf_sftprep import prepare
        from hf_sftprep.testing import offline
        tok = offline.smollm2_tokenizer({str(tok_dir)!r})
        raw = datasets.load_dataset("json", data_files={str(chat_file)!r}, split="train")
        ds = prepare(raw, tok)
        print(json.dumps([f["filename"] for f in ds.cache_files]))
    """)
    env = dict(os.environ, HF_DATASETS_CACHE=os.environ["HF_DATASETS_CACHE"])
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [f["filename"] for f in first.cache_files]
    assert "hf_sftprep: tokenize + mask" not in out.stderr  # no map progress bar: nothing recomputed


def test_generation_prompts(smollm, llama3):
    rows = [{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
                          {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"},
                          {"role": "assistant", "content": "A2"}]}]
    out = generation_prompts(Dataset.from_list(rows), smollm)
    assert out[0]["reference"] == "A2"
    assert out[0]["prompt"] == ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n"
                                "A1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n")
    alpaca = generation_prompts(Dataset.from_list([{"instruction": "Do", "input": "", "output": "Done"}]), llama3)
    assert alpaca[0]["prompt"].endswith("<|start_header_id|>user<|end_header_id|>\n\nDo<|eot_id|>"
                                        "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert alpaca[0]["reference"] == "Done"


def test_streaming_equals_prepare(chat_file, smollm):
    raw = load(chat_file)
    expected = prepare(raw, smollm)
    rows = raw.to_list()
    rows[7] = {"messages": [{"role": "user", "content": "no answer"}]}
    streamed = prepare(Dataset.from_list(rows).to_iterable_dataset(), smollm, on_invalid="drop", batch_size=64)
    out = list(streamed)
    assert len(out) == 299
    want = [expected[i] for i in range(300) if i != 7]
    assert [r["input_ids"] for r in out] == [w["input_ids"] for w in want]
    assert [r["labels"] for r in out] == [w["labels"] for w in want]
    with pytest.raises(Exception, match="return_report=True needs the whole dataset"):
        prepare(raw.to_iterable_dataset(), smollm, return_report=True)
