"""Caching: deterministic hashing, a new fingerprint for every input that matters, crash safety."""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import textwrap

from datasets import Dataset, load_dataset

from hf_sftprep import SFTPreprocessor, prepare
from hf_sftprep.datasets.prepare import fingerprint

ROWS = [{"messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]} for i in range(400)]


def test_no_unhashable_warning_on_plain_map(smollm, caplog):
    raw = Dataset.from_list(ROWS)
    with caplog.at_level(logging.WARNING):
        raw.map(SFTPreprocessor(smollm), batched=True, remove_columns=raw.column_names)
    assert "couldn't be hashed properly" not in caplog.text


def test_fingerprint_changes(smollm):
    raw = Dataset.from_list(ROWS)
    base = fingerprint(raw, SFTPreprocessor(smollm))
    assert base == fingerprint(raw, SFTPreprocessor(copy.deepcopy(smollm)))
    other_template = copy.deepcopy(smollm)
    other_template.chat_template = smollm.chat_template.replace("You are a helpful AI assistant", "You are an AI")
    other_vocab = copy.deepcopy(smollm)
    other_vocab.add_tokens(["<new_token>"])
    changed = {
        fingerprint(raw, SFTPreprocessor(other_template)),
        fingerprint(raw, SFTPreprocessor(other_vocab)),
        fingerprint(raw, SFTPreprocessor(smollm, train_on="last")),
        fingerprint(raw, SFTPreprocessor(smollm, max_length=64)),
        fingerprint(Dataset.from_list(ROWS[:-1]), SFTPreprocessor(smollm)),
    }
    assert base not in changed and len(changed) == 5


def test_fingerprint_includes_version(smollm, monkeypatch):
    raw = Dataset.from_list(ROWS)
    before = fingerprint(raw, SFTPreprocessor(smollm))
    monkeypatch.setattr("hf_sftprep.datasets.prepare.__version__", "999.0")
    assert fingerprint(raw, SFTPreprocessor(smollm)) != before


def test_interrupted_map_is_not_taken_as_complete(smollm, tok_dir, tmp_path):
    """Kill a process mid-map; a later prepare() must recompute and return every row."""
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    script = textwrap.dedent(f"""
        import os, datasets
        from hf_sftprep import prepare, SFTPreprocessor
        from hf_sftprep.testing import offline
        calls = []
        original = SFTPreprocessor.__call__
        def dying(self, batch, indices=None):
            calls.append(1)
            if len(calls) == 3:
                os._exit(9)  # simulate a kill after two batches were written
            return original(self, batch, indices)
        SFTPreprocessor.__call__ = dying
        tok = offline.smollm2_tokenizer({str(tok_dir)!r})
        raw = datasets.load_dataset("json", data_files={str(data)!r}, split="train")
        prepare(raw, tok, batch_size=50)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 9
    raw = load_dataset("json", data_files=str(data), split="train")
    ds, report = prepare(raw, smollm, batch_size=50, return_report=True)
    assert ds.num_rows == 400 and report.rows_out == 400
    assert smollm.decode([t for t in ds[399]["labels"] if t != -100]) == "answer 399<|im_end|>"
