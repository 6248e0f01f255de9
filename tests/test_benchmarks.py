"""The benchmark harness runs end to end on a tiny size (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.bench
def test_harness_quick(tmp_path):
    out = tmp_path / "prepare.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--work", str(tmp_path / "w"),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {r["method"] for r in results} == {"floor", "hf_sftprep", "trl", "seed"}
    by = {r["method"]: r for r in results}
    assert by["hf_sftprep"]["tokens"] == by["floor"]["tokens"] == by["trl"]["tokens"] > 0
    assert 0 < by["hf_sftprep"]["cache_bytes"] / by["hf_sftprep"]["tokens"] < 9


@pytest.mark.bench
def test_span_search_quick(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "span_search.py"), "--rows", "50",
                           "--out", str(tmp_path / "span.json")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "span.json").read_text())
    assert result["tokens"] > 0 and result["speedup"] > 0


def test_backends_variants_and_tables():
    """benchmarks/backends.py: variant names, and ratios paired by row count, method and setting."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import backends
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert backends._variant("hf_sftprep") == ("hf_sftprep", None, "default")
    assert backends._variant("floor:np2") == ("floor", 2, "default")
    assert backends._variant("hf_sftprep_hf:t1") == ("hf_sftprep_hf", None, "1")
    base = {"tokenizer": "llama3", "shape": "chat", "rows": 100, "tokens": 1000}
    results = [dict(base, method="trl", num_proc=1, seconds=8.0), dict(base, method="floor", num_proc=1, seconds=4.0),
               dict(base, method="hf_sftprep", num_proc=1, seconds=2.0),
               dict(base, method="hf_sftprep", num_proc=2, seconds=1.0),
               dict(base, method="hf_sftprep", num_proc=1, threads="1", seconds=2.5),
               dict(base, method="fastokens_only", num_proc=1, seconds=0.5),
               dict(base, method="hf_sftprep@base", num_proc=1, seconds=3.0),
               dict(base, method="hf_sftprep_warm", num_proc=1, seconds=1.0),
               dict(base, method="trl_warm", num_proc=1, seconds=6.0)]
    text = backends.table([dict(r, peak_rss_mb=1.0) for r in results])
    assert "| llama3 | chat | 100 | 1 | default | hf_sftprep | 2.00 | 0.00 | 4.00× | 2.00× | 4.0× | 1 |" in text
    assert "| llama3 | chat | 100 | 2 | default | hf_sftprep | 1.00 | 0.00 | – | – | 2.0× | 1 |" in text  # the np=1 limit
    assert "| llama3 | chat | 100 | 1 | default | hf_sftprep_warm | 1.00 | 0.00 | 6.00× | – | – | 1 |" in text  # warm vs warm
    assert "| llama3 | chat | 100 | 1 | hf_sftprep | 3.00 | 2.00 | 1.50× |" in text
    assert backends._on_base("hf_sftprep:np2:base") and not backends._on_base("hf_sftprep:np2")
    assert "| llama3 | 100 | hf_sftprep | 2.00× |" in text.split("num_proc=2 vs num_proc=1")[1]
    assert "| llama3 | 100 | hf_sftprep | 0.80× |" in text.split("one tokenizer thread")[1]
