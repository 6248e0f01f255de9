"""Recipe build (build_mixture) vs preparing the same three sources one by one, side by side.

Three sources from benchmarks/corpus.py (chat JSONL, Alpaca JSON, ShareGPT JSON; 22,000 rows in all) and
the offline SmolLM2 tokenizer. Each measurement is a fresh subprocess with its own datasets cache, so
every method reads the JSON files and tokenizes from scratch; methods alternate within each repeat and
the median is reported. Time covers loading the tokenizer and the files and preparing (the whole
``build_mixture`` call for the recipe), not process start.

    python benchmarks/mixture.py                 # 3 repeats, writes benchmarks/results/mixture.json
    python benchmarks/mixture.py --quick         # a tiny run that checks the script works
    python benchmarks/mixture.py --write-example DIR   # the docs/cli.md recipe example's files
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


EXAMPLE_RECIPE = """\
tokenizer: ./smollm2_tokenizer
max_length: 1024
seed: 0
dedupe: true
on_invalid: drop
sources:
  - name: chats               # the shipped demo chats (202 rows, some repeated)
    path: chats.jsonl
  - name: alpaca
    path: alpaca.json
    take: 200
    system_prompt: You are a concise assistant.
  - name: sharegpt
    path: sharegpt.json
    fraction: 0.5
"""


def write_example(folder: Path) -> None:
    """The docs/cli.md recipe example: three source files, the SmolLM2 tokenizer and mix.yaml."""
    import shutil

    from hf_sftprep.testing import offline

    folder.mkdir(parents=True, exist_ok=True)
    offline.smollm2_tokenizer(folder)
    write_sources(folder, 0, 300, 400)
    shutil.copy(HERE.parent / "hf_sftprep" / "data" / "demo_chat.jsonl", folder / "chats.jsonl")
    (folder / "mix.yaml").write_text(EXAMPLE_RECIPE)


class _Timed:
    """Wraps a function and adds its wall time to ``spent[name]``."""

    def __init__(self, fn, name: str, spent: dict):
        self.fn, self.name, self.spent = fn, name, spent

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.spent[self.name] = self.spent.get(self.name, 0.0) + time.perf_counter() - start


def worker(method: str, tok_dir: str, sources: dict[str, str]) -> dict:
    """One timed measurement in this (fresh) process. ``layer`` is the time outside loading the tokenizer,
    loading the files and ``prepare()``: for the recipe, the recipe layer's own work."""
    import datasets
    from transformers import AutoTokenizer

    from hf_sftprep.cli import loading
    from hf_sftprep.datasets import mixture, prepare as prepare_module

    datasets.disable_progress_bars()
    spent: dict[str, float] = {}
    load_tokenizer = _Timed(AutoTokenizer.from_pretrained, "tokenizer", spent)
    load_dataset = _Timed(datasets.load_dataset, "load", spent)
    prepare = _Timed(prepare_module.prepare, "prepare", spent)
    start = time.perf_counter()
    if method == "one_by_one":
        tok = load_tokenizer(tok_dir)
        out = [prepare(load_dataset("json", data_files=[path], split="train"), tok, max_length=MAX_LENGTH)
               for path in sources.values()]
    else:
        mixture.prepare = prepare
        mixture.load_source = _Timed(mixture.load_source, "load", spent)
        loading.load_tokenizer = _Timed(loading.load_tokenizer, "tokenizer", spent)
        recipe = {"tokenizer": tok_dir, "max_length": MAX_LENGTH, "seed": 0, "dedupe": method == "recipe_dedupe",
                  "sources": [{"name": k, "path": v} for k, v in sources.items()]}
        out = [mixture.build_mixture(recipe)]
    seconds = time.perf_counter() - start
    rows = sum(ds.num_rows for ds in out)
    tokens = sum(int(ds.with_format("arrow")["length"].to_numpy().sum()) for ds in out)
    layer = seconds - sum(spent.values())
    return {"method": method, "seconds": seconds, "rows": rows, "tokens": tokens, "layer": layer, **spent}


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
    p.add_argument("--write-example", metavar="DIR", help="write the docs/cli.md recipe example into DIR and stop")
    args = p.parse_args()
    if args.write_example:
        write_example(Path(args.write_example))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.tok, json.loads(args.sources))))
        return
    from hf_sftprep.testing import offline

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
                      "vs_one_by_one": round(seconds / base, 4),
                      "layer_seconds": round(statistics.median(x["layer"] for x in xs), 3),
                      "prepare_seconds": round(statistics.median(x["prepare"] for x in xs), 3),
                      "layer_vs_one_by_one": round(statistics.median(x["layer"] for x in xs) / base, 4)})
    print("| method | rows in | rows out | tokens | seconds (median) | runs | time vs one by one | prepare() s | outside prepare/loading s | that / one-by-one time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in table:
        runs_s = " / ".join(f"{s:.2f}" for s in t["all_seconds"])
        print(f"| {t['method']} | {t['rows_in']:,} | {t['rows_out']:,} | {t['tokens']:,} | {t['seconds']:.2f} | {runs_s} | {t['vs_one_by_one']:.3f} | {t['prepare_seconds']:.2f} | {t['layer_seconds']:.2f} | {t['layer_seconds'] / base:.1%} |")
    if not args.quick:
        out = HERE / "results" / "mixture.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
