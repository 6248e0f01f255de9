"""Deterministic benchmark corpora built from CPython's stdlib docstrings (real English and code text)."""

from __future__ import annotations

import importlib
import inspect
import json
import random
import sys
import warnings
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def paragraphs() -> list[str]:
    """Docstring paragraphs of the stdlib modules that import cleanly, in a fixed order."""
    out = []
    skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3", "__main__"}
    for name in sorted(sys.stdlib_module_names):
        if name in skip or name.startswith("_"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                mod = importlib.import_module(name)
            except Exception:
                continue
        # submodules are left out: which of them are attributes depends on what the process imported
        # before (3,755 paragraphs in a bare interpreter, 3,764 after loading a tokenizer, when they counted)
        names = [a for a in sorted(dir(mod)) if not inspect.ismodule(getattr(mod, a, None))][:60]
        for obj in [mod, *(getattr(mod, a, None) for a in names)]:
            doc = inspect.getdoc(obj) if obj is not None else None
            if doc:
                out += [p.strip() for p in doc.split("\n\n") if len(p.strip()) > 40]
    return sorted(set(out))


def _text(rng: random.Random, pool: list[str], k: tuple[int, int]) -> str:
    return "\n\n".join(rng.choice(pool) for _ in range(rng.randint(*k)))


def chats(n: int, seed: int = 0, turns: tuple[int, int] = (1, 4), system_tokens: int = 0) -> list[dict]:
    """Multi-turn chats: 1-4 turns, half with a system prompt (or a long shared one of ~system_tokens)."""
    pool = paragraphs()
    rng = random.Random(seed)
    long_system = _text(random.Random(99), pool, (1, 1))
    while system_tokens and len(long_system) < system_tokens * 4:  # ~4 characters per token
        long_system += "\n\n" + rng.choice(pool)
    rows = []
    for _ in range(n):
        msgs = []
        if system_tokens:
            msgs.append({"role": "system", "content": long_system})
        elif rng.random() < 0.5:
            msgs.append({"role": "system", "content": _text(rng, pool, (1, 1))})
        for _ in range(rng.randint(*turns)):
            msgs.append({"role": "user", "content": _text(rng, pool, (1, 2))})
            msgs.append({"role": "assistant", "content": _text(rng, pool, (1, 2))})
        rows.append({"messages": msgs})
    return rows


def alpaca(n: int, seed: int = 0) -> list[dict]:
    pool = paragraphs()
    rng = random.Random(seed)
    return [
        {"instruction": rng.choice(pool), "input": rng.choice(pool) if rng.random() < 0.4 else "", "output": _text(rng, pool, (1, 2))}
        for _ in range(n)
    ]


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path
