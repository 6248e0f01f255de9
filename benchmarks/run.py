"""Benchmark harness: hf_sftprep.prepare vs the tokenizer floor, TRL and a seed-style collator.

Every measurement runs in a fresh subprocess (own datasets cache, own peak RSS); methods alternate and
the median of repeats is reported. Results go to benchmarks/results/*.json and docs/benchmarks.md.

    python benchmarks/run.py                 # the full run (~15 min on 2 cores)
    python benchmarks/run.py --quick         # a tiny run that checks the harness works
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def _tokenizer(cache: Path, name: str = "llama3"):
    from hf_sftprep.testing import offline

    return {"llama3": offline.llama3_tokenizer, "qwen2_5": offline.qwen2_5_tokenizer}[name](cache)


def _data_file(shape: str, rows: int, work: Path) -> Path:
    import corpus

    path = work / f"{shape}-{rows}.jsonl"
    if path.exists():
        return path
    if shape == "chat":
        data = corpus.chats(rows)
    elif shape == "alpaca":
        data = [{"messages": [{"role": "user", "content": r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")},
                              {"role": "assistant", "content": r["output"]}]} for r in corpus.alpaca(rows)]
    elif shape == "long":  # the seed's shape: a ~2.5k-token system prompt on every row, one short exchange
        data = corpus.chats(rows, turns=(1, 1), system_tokens=2500)
    elif shape.startswith("turns"):
        k = int(shape[5:])
        data = corpus.chats(rows, turns=(k, k))
    else:
        raise SystemExit(f"unknown shape {shape}")
    return corpus.write_jsonl(data, path)


def worker(args) -> None:
    """One timed measurement, printed as JSON on the last line of stdout."""
    import datasets

    from methods import METHODS, seed_collator_epoch

    datasets.disable_progress_bars()
    tok = _tokenizer(Path(args.tok_cache), args.tokenizer)
    raw = datasets.load_dataset("json", data_files=args.data, split="train")
    run = None
    if args.method == "seed":
        from methods import floor

        ids = floor(tok)(raw)["input_ids"]
        start = time.perf_counter()
        trained = seed_collator_epoch(ids, [128006, 78191, 128007, 271], 128009)
        seconds = time.perf_counter() - start
        tokens, cache_bytes = sum(len(x) for x in ids), 0
        assert trained > 0
    else:
        run = METHODS[args.method](tok, num_proc=args.num_proc)
        if hasattr(run, "setup"):  # untimed: a warm method's first run, the fastokens-only limit's texts and build
            run.setup(raw)
        start = time.perf_counter()
        ds = run(raw)
        seconds = time.perf_counter() - start
        import pyarrow.compute as pc

        tokens = int(pc.sum(pc.list_value_length(ds.data.column("input_ids"))).as_py())
        cache_bytes = sum(os.path.getsize(f["filename"]) for f in ds.cache_files)
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    anon_mb = int(status.get("RssAnon", "0 kB").split()[0]) / 1024
    file_mb = int(status.get("RssFile", "0 kB").split()[0]) / 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    extra = {"build_seconds": run.build_seconds} if hasattr(run, "build_seconds") else {}
    print(json.dumps({"seconds": seconds, "rows": raw.num_rows, "tokens": tokens, "cache_bytes": cache_bytes,
                      "peak_rss_mb": rss / 1024, "end_rss_anon_mb": anon_mb, "end_rss_file_mb": file_mb, **extra}))


def measure(method: str, shape: str, rows: int, num_proc: int | None, work: Path, tok_cache: Path,
            tokenizer: str = "llama3", env: dict | None = None, tree: Path | None = None) -> dict:
    """One measurement in a fresh subprocess with its own datasets cache; ``tree`` puts another checkout's
    hf_sftprep first on the path (this tree's harness and methods still run)."""
    data = _data_file(shape, rows, work)
    with tempfile.TemporaryDirectory(dir=work) as cache:
        # num_proc=1 keeps the tokenizer's default batch parallelism (what users get); forked workers turn it off
        parallel = "false" if num_proc and num_proc > 1 else "true"
        env = dict(os.environ, HF_DATASETS_CACHE=cache, TOKENIZERS_PARALLELISM=parallel,
                   PYTHONPATH=os.pathsep.join([str(HERE), str(tree or ROOT)]), **(env or {}))
        cmd = [sys.executable, str(HERE / "run.py"), "worker", "--method", method, "--data", str(data),
               "--tok-cache", str(tok_cache), "--tokenizer", tokenizer] + (["--num-proc", str(num_proc)] if num_proc else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} {shape} {rows} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(method=method, shape=shape, num_proc=num_proc or 1, tokenizer=tokenizer)
    return out


def median_of(runs: list[dict]) -> dict:
    best = dict(runs[0])
    best["seconds"] = statistics.median(r["seconds"] for r in runs)
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    best["repeats"] = len(runs)
    best["tok_per_s"] = best["tokens"] / best["seconds"]
    best["rows_per_s"] = best["rows"] / best["seconds"]
    return best


def plan(quick: bool) -> list[tuple]:
    """(group, shape, rows, methods, num_proc, repeats)"""
    if quick:
        return [("main", "chat", 60, ["floor", "hf_sftprep", "trl", "seed"], None, 1)]
    return [
        ("main", "chat", 1000, ["floor", "hf_sftprep", "trl", "seed"], None, 3),
        ("main", "chat", 4000, ["floor", "hf_sftprep", "hf_sftprep_plain", "trl", "seed"], None, 5),
        ("main", "chat", 20000, ["floor", "hf_sftprep", "trl", "seed"], None, 3),
        ("num_proc", "chat", 4000, ["floor", "hf_sftprep", "trl"], 2, 3),
        ("main", "alpaca", 4000, ["floor", "hf_sftprep"], None, 3),
        ("long", "long", 1000, ["floor", "hf_sftprep", "hf_sftprep_plain", "trl"], None, 3),
        ("turns", "turns10", 100, ["hf_sftprep"], None, 3),
        ("turns", "turns20", 100, ["hf_sftprep"], None, 3),
        ("turns", "turns40", 100, ["hf_sftprep"], None, 3),
        ("turns", "turns80", 100, ["hf_sftprep"], None, 3),
        ("memory", "chat", 10000, ["hf_sftprep"], None, 1),
        ("memory", "chat", 100000, ["hf_sftprep"], None, 1),
    ]


def driver(args) -> list[dict]:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tok_cache = work / "tokenizers"
    _tokenizer(tok_cache)
    results = []
    for group, shape, rows, methods, num_proc, repeats in plan(args.quick):
        if args.only and group != args.only:
            continue
        runs: dict[str, list] = {m: [] for m in methods}
        for _ in range(repeats):  # alternate methods within each repeat
            for m in methods:
                runs[m].append(measure(m, shape, rows, num_proc, work, tok_cache))
        for m in methods:
            r = median_of(runs[m])
            r["group"] = group
            results.append(r)
            print(f"{group:9s} {shape:8s} {rows:7d} {m:11s} np={r['num_proc']} {r['seconds']:8.2f}s "
                  f"{r['tok_per_s'] / 1e6:6.3f}M tok/s rss={r['peak_rss_mb']:.0f}MB", flush=True)
    return results


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--method", required=True)
    w.add_argument("--data", required=True)
    w.add_argument("--tok-cache", required=True)
    w.add_argument("--num-proc", type=int)
    w.add_argument("--tokenizer", default="llama3", choices=("llama3", "qwen2_5"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", help="rerun one group and replace its rows in --out")
    p.add_argument("--work", default=str(HERE / "results" / "work"))
    p.add_argument("--out", default=str(HERE / "results" / "prepare.json"))
    args = p.parse_args(argv)
    if args.cmd == "worker":
        return worker(args)
    results = driver(args)
    if args.only and Path(args.out).exists():
        results = [r for r in json.loads(Path(args.out).read_text()) if r["group"] != args.only] + results
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
