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


def turn_args(tok) -> tuple:
    """The arguments ``SFTPreprocessor._search`` passes to ``find_turns``, from the probed spec."""
    from hf_sftprep.templates.probe import probe_template

    spec = probe_template(tok)
    ids = [spec.marker_ids, spec.prompt_ids, [t[0] for t in spec.terminal_ids], spec.trailer_ids]
    extra = [spec.appended_ids, spec.block_gap_ids, spec.result_opener_ids]
    return (*(np.asarray(i, dtype=np.int64) for i in ids), spec.open_end, spec.multi_block,
            *(np.asarray(i, dtype=np.int64) for i in extra))


def numpy_search(flat: np.ndarray, offsets: np.ndarray, args: tuple) -> int:
    """What ``prepare()`` runs on a batch: find_turns, select_turns (every turn trained), the label build."""
    from hf_sftprep.tokens.masking import build_labels, span_mask
    from hf_sftprep.tokens.turns import find_turns, select_turns

    spans, broken, _ = find_turns(flat, offsets, *args)
    counts = np.bincount(spans.row, minlength=len(offsets) - 1)
    flags = np.ones(int(counts.sum()), dtype=bool)
    start, stop = select_turns(spans, ~broken, flags, np.r_[0, np.cumsum(counts)], False)
    labels = build_labels(flat, span_mask(len(flat), start, stop))
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
    turn = turn_args(tok)
    assert python_loop(rows) == numpy_search(flat, offsets, turn)
    t_np, t_py = best_of(numpy_search, flat, offsets, turn), best_of(python_loop, rows, repeats=2)
    result = {"rows": args.rows, "tokens": int(len(flat)), "numpy_tok_per_s": len(flat) / t_np,
              "python_tok_per_s": len(flat) / t_py, "speedup": t_py / t_np}
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
