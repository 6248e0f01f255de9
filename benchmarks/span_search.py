"""Microbenchmark: the numpy span search + label build vs a per-row Python loop, on the same token buffer.

    python benchmarks/span_search.py [--rows 4000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

HEADER, END = [128006, 78191, 128007, 271], [128009]  # Llama 3's assistant header and <|eot_id|>


def python_loop(rows: list[list[int]]) -> int:
    """The obvious per-row loop (as a hand-written collator does it), every turn."""
    from methods import seed_collator_epoch

    return seed_collator_epoch(rows, HEADER, END[0])


def turn_search(tok):
    """The turn search ``SFTPreprocessor`` builds for this tokenizer (its id arrays, from the probed spec)."""
    from hf_sftprep.templates.probe import probe_template
    from hf_sftprep.tokens.turns import TurnSearch

    return TurnSearch(tok, probe_template(tok))


def numpy_search(flat: np.ndarray, offsets: np.ndarray, search, targets: list[list[bool]]) -> int:
    """What ``prepare()`` runs on a batch's flat ids: the turn search (find_turns, the partial-opener check,
    select_turns with every turn trained) and the label build."""
    from hf_sftprep.tokens.masking import build_labels

    exact, trained = search(flat, offsets, targets, False)
    if exact.any():
        raise SystemExit(f"{int(exact.sum())} rows would take the character path; the benchmark times the search alone")
    return int((build_labels(flat, trained) != -100).sum())


def best_of(fn, *args, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=4000)
    p.add_argument("--out", default=str(HERE / "results" / "span_search.json"))
    args = p.parse_args(argv)
    import corpus

    from hf_sftprep.testing import offline

    tok = offline.llama3_tokenizer(HERE / "results" / "work" / "tokenizers")
    chats = corpus.chats(args.rows)
    texts = [tok.apply_chat_template(r["messages"], tokenize=False) for r in chats]
    targets = [[True] * sum(m["role"] == "assistant" for m in r["messages"]) for r in chats]
    arr = pa.array(tok(texts, add_special_tokens=False)["input_ids"], type=pa.list_(pa.int32()))
    flat, offsets = arr.values.to_numpy(), arr.offsets.to_numpy().astype(np.int64)
    rows = arr.to_pylist()
    search = turn_search(tok)
    assert python_loop(rows) == numpy_search(flat, offsets, search, targets)
    t_np, t_py = best_of(numpy_search, flat, offsets, search, targets), best_of(python_loop, rows, repeats=2)
    result = {"rows": args.rows, "tokens": int(len(flat)), "numpy_tok_per_s": len(flat) / t_np,
              "python_tok_per_s": len(flat) / t_py, "speedup": t_py / t_np}
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
