"""This tree against an earlier commit, side by side in one run: does the template-general engine (and the
passthrough of the user's columns) cost anything on Llama 3 and ChatML?

The base commit is checked out with ``git worktree`` into a temporary folder; every measurement runs in a
fresh subprocess whose ``PYTHONPATH`` puts one tree or the other first, with its own datasets cache.
Versions alternate, and the median of the repeats is reported.

    python benchmarks/versions.py --base 3320c60 --rows 20000 --repeats 3
    python benchmarks/versions.py --quick      # checks the harness on 300 rows

Methods: ``prepare`` (the main path: ``prepare(raw, tok)``, an ``id`` column in the data, kept by this tree),
and ``map`` (``raw.map(SFTPreprocessor(tok), batched=True, remove_columns=raw.column_names)``: this tree
returns a dict so that ``Dataset.map`` keeps unremoved columns, the base returned an Arrow table).
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
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def worker(args) -> None:
    import datasets

    from hf_sftprep import SFTPreprocessor, prepare

    try:
        from hf_sftprep.testing import offline
    except ImportError:  # a base tree from before the testing/ subpackage
        from hf_sftprep import offline

    tok = getattr(offline, f"{args.tokenizer}_tokenizer")(args.tok_cache)
    raw = datasets.load_dataset("json", data_files=args.data, split="train")
    start = time.perf_counter()
    if args.method == "prepare":
        ds = prepare(raw, tok, load_from_cache_file=False)
    else:
        ds = raw.map(SFTPreprocessor(tok), batched=True, with_indices=True, remove_columns=raw.column_names,
                     load_from_cache_file=False)
    seconds = time.perf_counter() - start
    tokens = int(sum(ds["length"]))
    print(json.dumps({"seconds": seconds, "tokens": tokens, "rows": ds.num_rows}))


def _data(rows: int, work: Path) -> Path:
    import corpus

    path = work / f"chat-{rows}.jsonl"
    if not path.exists():
        data = [{"id": i, **r} for i, r in enumerate(corpus.chats(rows))]
        corpus.write_jsonl(data, path)
    return path


def measure(tree: Path, method: str, tokenizer: str, data: Path, work: Path, tok_cache: Path, hf: bool = False) -> dict:
    with tempfile.TemporaryDirectory(dir=work) as cache:
        env = {**os.environ, "HF_DATASETS_CACHE": cache, "PYTHONPATH": str(tree), "TOKENIZERS_PARALLELISM": "true"}
        if hf:  # both trees on the HF tokenizer backend: what a user without the fast extra runs
            env["HF_SFTPREP_BACKEND"] = "hf"
        cmd = [sys.executable, str(HERE / "versions.py"), "worker", "--method", method, "--tokenizer", tokenizer,
               "--data", str(data), "--tok-cache", str(tok_cache)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(tree))
    if proc.returncode:
        raise SystemExit(f"worker failed ({tree}, {method}, {tokenizer}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def driver(args) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="sftprep-versions-"))
    base_tree = work / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        data = _data(args.rows, work)
        tok_cache = work / "tokenizers"
        trees = {"this tree": ROOT, f"base {args.base}": base_tree}
        results = []
        for tokenizer in ("llama3", "qwen2_5"):
            for method in ("prepare", "map"):
                runs = {name: [] for name in trees}
                for _ in range(args.repeats):
                    for name, tree in trees.items():  # alternate, so drift hits both alike
                        runs[name].append(measure(tree, method, tokenizer, data, work, tok_cache, args.hf))
                row = {"tokenizer": tokenizer, "method": method, "rows": args.rows}
                for name, rs in runs.items():
                    row[name] = statistics.median(r["seconds"] for r in rs)
                    row["tokens"] = rs[0]["tokens"]
                row["ratio"] = row["this tree"] / row[f"base {args.base}"]
                print(json.dumps(row), flush=True)
                results.append(row)
        return results
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, capture_output=True)


def table(results: list[dict], base: str) -> str:
    lines = [f"| tokenizer | method | rows | tokens | this tree (s) | base {base} (s) | ratio |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['tokenizer']} | {r['method']} | {r['rows']:,} | {r['tokens']:,} | {r['this tree']:.2f} | "
                     f"{r[f'base {base}']:.2f} | {r['ratio']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--method", required=True)
    w.add_argument("--tokenizer", required=True)
    w.add_argument("--data", required=True)
    w.add_argument("--tok-cache", required=True)
    p.add_argument("--base", default="3320c60")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--hf", action="store_true", help="both trees on the HF backend (HF_SFTPREP_BACKEND=hf)")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.cmd == "worker":
        return worker(args)
    if args.quick:
        args.rows, args.repeats = 300, 1
    results = driver(args)
    print(table(results, args.base))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
