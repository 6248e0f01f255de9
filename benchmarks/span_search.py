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

HEADER, END = [128006, 78191, 128007, 271], [128009]


def python_loop(rows: list[list[int]]) -> int:
    """The obvious per-row loop (as a hand-written collator does it), every turn."""
    from methods import seed_collator_epoch

    return seed_collator_epoch(rows, HEADER, END[0])


def numpy_search(flat: np.ndarray, offsets: np.ndarray) -> int:
    from hf_sftprep.tokens.masking import build_labels, span_mask, turn_spans

    spans, _ = turn_spans(flat, offsets, np.asarray(HEADER), np.asarray(END))
    labels = build_labels(flat, span_mask(len(flat), spans.start, spans.stop))
    return int((labels != -100).sum())


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
    texts = [tok.apply_chat_template(r["messages"], tokenize=False) for r in corpus.chats(args.rows)]
    arr = pa.array(tok(texts, add_special_tokens=False)["input_ids"], type=pa.list_(pa.int32()))
    flat, offsets = arr.values.to_numpy(), arr.offsets.to_numpy().astype(np.int64)
    rows = arr.to_pylist()
    assert python_loop(rows) == numpy_search(flat, offsets)
    t_np, t_py = best_of(numpy_search, flat, offsets), best_of(python_loop, rows, repeats=2)
    result = {"rows": args.rows, "tokens": int(len(flat)), "numpy_tok_per_s": len(flat) / t_np,
              "python_tok_per_s": len(flat) / t_py, "speedup": t_py / t_np}
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
