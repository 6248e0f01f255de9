"""Every docstring example in hf_sftprep runs, with the names the examples assume (``tok``, ``raw``, ...)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import json
import pkgutil
import shutil

import numpy as np
import pytest
from datasets import Dataset

import hf_sftprep
from helpers import chat

# modules whose import needs an optional package that is not installed are left out, as is the CLI entry point
OPTIONAL = {"hf_sftprep.datasets.distributed": "ray"}
SKIP_MODULES = {"hf_sftprep.__main__"}

# examples known to fail (run as strict xfails): fix the docstring, then drop the name here
KNOWN_FAILING: set[str] = set()

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules() -> list[str]:
    names = [hf_sftprep.__name__]
    for info in pkgutil.walk_packages(hf_sftprep.__path__, hf_sftprep.__name__ + "."):
        needs = OPTIONAL.get(info.name)
        if info.name in SKIP_MODULES or (needs and importlib.util.find_spec(needs) is None):
            continue
        names.append(info.name)
    return names


def _examples() -> list:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for name in _modules():
        for test in finder.find(importlib.import_module(name)):
            if test.examples:
                tests.append(pytest.param(test, id=test.name, marks=_marks(test.name)))
    return sorted(tests, key=lambda p: p.id)


def _marks(name: str) -> list:
    return [pytest.mark.xfail(reason="stale example, fixed with the module's rework", strict=True)] if name in KNOWN_FAILING else []


@pytest.fixture(scope="module")
def namespace(smollm) -> dict:
    """What the examples use without defining it: SmolLM2's ChatML tokenizer as ``tok``, two chat records as
    ``raw``, a tiny random Llama as ``model``, and ``prepare``."""
    from helpers import tiny_llama

    raw = Dataset.from_list([
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
    ])
    return {"tok": smollm, "raw": raw, "Dataset": Dataset, "np": np, "prepare": hf_sftprep.prepare,
            "model": tiny_llama(len(smollm))}


@pytest.fixture(scope="module")
def files(tmp_path_factory, tok_path):
    """The folder the examples run in: ``tok/``, ``chats.jsonl`` (30 rows, the last 5 repeating the first 5),
    ``alpaca.json`` (60 rows, 2 of them repeated) and ``mix.yaml`` (chats + 40 alpaca rows, deduplicated)."""
    root = tmp_path_factory.mktemp("doctest_files")
    shutil.copytree(tok_path, root / "tok")
    chats = [chat(i % 25) for i in range(30)]
    (root / "chats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chats))
    alpaca = [{"instruction": f"do {i % 58}", "input": "", "output": f"done {i % 58}"} for i in range(60)]
    (root / "alpaca.json").write_text(json.dumps(alpaca))
    (root / "mix.yaml").write_text("tokenizer: ./tok\nseed: 0\ndedupe: true\nsources:\n  - path: chats.jsonl\n"
                                   "  - path: alpaca.json\n    take: 40\n")
    return root


@pytest.mark.parametrize("test", _examples())
def test_docstring_example(test, namespace, files, monkeypatch):
    monkeypatch.chdir(files)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    lines: list[str] = []
    runner.run(_copy(test, namespace), out=lines.append)
    assert runner.failures == 0, "".join(lines)


def _copy(test: doctest.DocTest, extra: dict) -> doctest.DocTest:
    """The example with the namespace added to its module's globals (a fresh copy per run: examples assign names)."""
    return doctest.DocTest(test.examples, {**test.globs, **extra}, test.name, test.filename, test.lineno, test.docstring)
