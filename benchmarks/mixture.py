"""Recipe build (build_mixture) vs preparing the same three sources one by one, side by side.

Three sources from benchmarks/corpus.py (chat JSONL, Alpaca JSON, ShareGPT JSON; 22,000 rows in all) and
the offline SmolLM2 tokenizer. Each measurement is a fresh subprocess with its own datasets cache, so
every method reads the JSON files and tokenizes from scratch; methods alternate within each repeat and
the median is reported. Time covers loading the tokenizer and the files and preparing (the whole
``build_mixture`` call for the recipe), not process start.

    python benchmarks/mixture.py                 # 3 repeats, writes benchmarks/results/mixture.json
    python benchmarks/mixture.py --quick         # a tiny run that checks the script works
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

METHODS = ("one_by_one", "recipe", "recipe_dedupe")
MAX_LENGTH = 2048


def write_sources(work: Path, chats: int, alpaca: int, sharegpt: int) -> dict[str, str]:
    import corpus

    paths = {"chats": work / "chats.jsonl", "alpaca": work / "alpaca.json", "sharegpt": work / "sharegpt.json"}
    corpus.write_jsonl(corpus.chats(chats, seed=1), paths["chats"])
    paths["alpaca"].write_text(json.dumps(corpus.alpaca(alpaca, seed=2), ensure_ascii=False))
    names = {"system": "system", "user": "human", "assistant": "gpt"}
    conversations = [{"conversations": [{"from": names[m["role"]], "value": m["content"]} for m in r["messages"]]}
                     for r in corpus.chats(sharegpt, seed=3)]
    paths["sharegpt"].write_text(json.dumps(conversations, ensure_ascii=False))
    return {k: str(v) for k, v in paths.items()}


def worker(method: str, tok_dir: str, sources: dict[str, str]) -> dict:
    """One timed measurement in this (fresh) process."""
    import datasets
    from transformers import AutoTokenizer

    from hf_sftprep import build_mixture, prepare

    datasets.disable_progress_bars()
    start = time.perf_counter()
    if method == "one_by_one":
        tok = AutoTokenizer.from_pretrained(tok_dir)
        rows = tokens = 0
        for path in sources.values():
            raw = datasets.load_dataset("json", data_files=[path], split="train")
            ds = prepare(raw, tok, max_length=MAX_LENGTH)
            rows += ds.num_rows
            tokens += int(sum(ds.with_format("numpy")["length"]))
    else:
        recipe = {"tokenizer": tok_dir, "max_length": MAX_LENGTH, "seed": 0, "dedupe": method == "recipe_dedupe",
                  "sources": [{"name": k, "path": v} for k, v in sources.items()]}
        ds = build_mixture(recipe)
        rows, tokens = ds.num_rows, int(sum(ds.with_format("numpy")["length"]))
    return {"method": method, "seconds": time.perf_counter() - start, "rows": rows, "tokens": tokens}


def measure(method: str, tok_dir: str, sources: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {"HF_DATASETS_CACHE": cache, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        proc = subprocess.run([sys.executable, __file__, "--worker", method, "--tok", tok_dir, "--sources", json.dumps(sources)],
                              capture_output=True, text=True, env={**os.environ, **env}, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{method} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker")
    p.add_argument("--tok")
    p.add_argument("--sources")
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.tok, json.loads(args.sources))))
        return
    from hf_sftprep import offline

    sizes = (300, 200, 200) if args.quick else (10_000, 6_000, 6_000)
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        offline.smollm2_tokenizer(work).save_pretrained(work / "tok")
        sources = write_sources(work, *sizes)
        runs: dict[str, list[dict]] = {m: [] for m in METHODS}
        for r in range(repeats):
            order = METHODS if r % 2 == 0 else METHODS[::-1]
            for method in order:
                runs[method].append(measure(method, str(work / "tok"), sources))
                print(f"repeat {r}: {method}: {runs[method][-1]['seconds']:.2f} s", flush=True)
    base = statistics.median(x["seconds"] for x in runs["one_by_one"])
    table = []
    for method, xs in runs.items():
        seconds = statistics.median(x["seconds"] for x in xs)
        table.append({"method": method, "rows_in": sum(sizes), "rows_out": xs[0]["rows"], "tokens": xs[0]["tokens"],
                      "seconds": round(seconds, 3), "all_seconds": [round(x["seconds"], 3) for x in xs],
                      "vs_one_by_one": round(seconds / base, 4)})
    print("| method | rows in | rows out | tokens | seconds (median) | runs | time vs one by one |")
    print("|---|---|---|---|---|---|---|")
    for t in table:
        runs_s = " / ".join(f"{s:.2f}" for s in t["all_seconds"])
        print(f"| {t['method']} | {t['rows_in']:,} | {t['rows_out']:,} | {t['tokens']:,} | {t['seconds']:.2f} | {runs_s} | {t['vs_one_by_one']:.3f} |")
    if not args.quick:
        out = HERE / "results" / "mixture.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
