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
