"""Where a cold prepare() spends its time: one fresh process per run, each stage's wall time.

A user's script calls prepare() once: the tokenizer's serialization, the template probe, the fastokens build
and the first shape checks are all inside what it sees. This script times each stage by wrapping the
library's stage functions (main thread only; the build runs on its own thread and is timed there), in a
fresh subprocess per run with its own datasets cache, and writes benchmarks/results/cold_start.json and the
"Cold start" section of docs/benchmarks.md. The wrappers add ~1 us per call (a few per row).

    python benchmarks/cold_start.py                  # Llama 3 and Qwen2.5, 20k and 100k chats, 3 runs each
    python benchmarks/cold_start.py --rows 2000 --runs 1 --doc ''   # a quick check
    python benchmarks/cold_start.py --tree /tmp/base_tree --out /tmp/base_cold.json --doc ''  # an older tree
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

HEADING = "## Cold start: where prepare()'s time goes"
# (label, module, attribute): the stage functions timed, in pipeline order
STAGES = [
    ("serialize the tokenizer (to_str)", "hf_sftprep.datasets.prepare", None, "tokenizer_identity"),
    ("template probe", "hf_sftprep.datasets.preprocess", None, "probe_template"),
    ("render ahead while fastokens builds", "hf_sftprep.datasets.prepare", None, "render_ahead"),
    ("backend decision (the head's render, waiting for the build)", "hf_sftprep.datasets.prepare", None, "_decide_backend"),
    ("rows: normalize and check", "hf_sftprep.datasets.rows", "RowRenderer", "conversation"),
    ("rows: control-string policy", "hf_sftprep.datasets.rows", "RowRenderer", "check_specials"),
    ("rows: template renders", "hf_sftprep.templates.render", "Renderer", "__call__"),
    ("rows: substitution (layout keys)", "hf_sftprep.templates.substitute", "Substituter", "lookup"),
    ("rows: substitution texts", "hf_sftprep.templates.substitute", "Substituter", "text"),
    ("rows: shape checks", "hf_sftprep.datasets.rows", "RowRenderer", "_verify"),
    ("render stage (all of the above per row)", "hf_sftprep.datasets.preprocess", "SFTPreprocessor", "render"),
    ("encode", "hf_sftprep.datasets.preprocess", None, "encode_batch"),
    ("label", "hf_sftprep.datasets.preprocess", None, "label_chat"),
    ("truncate", "hf_sftprep.datasets.preprocess", None, "truncate_batch"),
    ("assemble Arrow columns", "hf_sftprep.datasets.preprocess", None, "assemble"),
    ("batch function (every stage of a batch)", "hf_sftprep.datasets.preprocess", "SFTPreprocessor", "__call__"),
    ("Dataset.map (the batch function, reading and writing Arrow)", "hf_sftprep.datasets.prepare", None, "_map"),
    ("report and kept rows", "hf_sftprep.datasets.prepare", None, "_finish"),
]
BUILD = "fastokens build + probe set (its own thread)"


def _wrap(owner, name: str, label: str, totals: dict, counts: dict) -> None:
    import functools
    import threading

    real = getattr(owner, name)

    @functools.wraps(real)
    def timed(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            return real(*args, **kwargs)
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - start
            counts[label] = counts.get(label, 0) + 1

    setattr(owner, name, timed)


def worker(args) -> None:
    import importlib

    import datasets

    from run import _data_file, _tokenizer

    datasets.disable_progress_bars()
    tok = _tokenizer(Path(args.tok_cache), args.tokenizer)
    raw = datasets.load_dataset("json", data_files=str(_data_file("chat", args.rows, Path(args.work))), split="train")
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for label, module, cls, name in STAGES:
        try:
            owner = importlib.import_module(module)
            owner = getattr(owner, cls) if cls else owner
        except (ImportError, AttributeError):  # an older tree (--tree) without this stage
            continue
        if hasattr(owner, name):
            _wrap(owner, name, label, totals, counts)
    from hf_sftprep.tokens import fast_backend

    real_build = fast_backend._build

    def build(*a):
        start = time.perf_counter()
        try:
            return real_build(*a)
        finally:
            totals[BUILD] = time.perf_counter() - start

    fast_backend._build = build
    from hf_sftprep import prepare

    start = time.perf_counter()
    ds, report = prepare(raw, tok, load_from_cache_file=False, return_report=True)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "stages": totals, "calls": counts, "rows": raw.num_rows,
                      "tokens": report.tokens, "backend": report.tokenizer_backend}))


def measure(tokenizer: str, rows: int, work: Path, tok_cache: Path, tree: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(dir=work) as cache:
        env = dict(os.environ, HF_DATASETS_CACHE=cache, TOKENIZERS_PARALLELISM="true",
                   PYTHONPATH=os.pathsep.join([str(HERE), str(tree or ROOT)]))
        cmd = [sys.executable, str(Path(__file__).resolve()), "worker", "--tokenizer", tokenizer, "--rows", str(rows),
               "--work", str(work), "--tok-cache", str(tok_cache)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"cold start {tokenizer} {rows} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    heads = [f"{r['tokenizer']} {r['rows']:,}" for r in results]
    lines = ["| stage (seconds, median of runs) | " + " | ".join(heads) + " |", "|---|" + "---|" * len(results)]
    labels = [s[0] for s in STAGES[:4]] + [BUILD] + [s[0] for s in STAGES[4:]]
    for label in labels:
        cells = [f"{r['stages'][label]:.3f}" if label in r["stages"] else "–" for r in results]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| **prepare() total** | " + " | ".join(f"**{r['seconds']:.2f}**" for r in results) + " |")
    lines.append("| template renders / rows | " + " | ".join(
        f"{r['calls'].get('rows: template renders', 0):,} / {r['rows']:,}" for r in results) + " |")
    return "\n".join(lines)


def driver(args) -> list[dict]:
    from run import _data_file, _tokenizer

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tok_cache = work / "tokenizers"
    results = []
    for tokenizer in args.tokenizers.split(","):
        _tokenizer(tok_cache, tokenizer)
        for rows in map(int, args.rows.split(",")):
            _data_file("chat", rows, work)
            runs = [measure(tokenizer, rows, work, tok_cache, Path(args.tree) if args.tree else None) for _ in range(args.runs)]
            mid = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
            stages = {k: statistics.median(r["stages"].get(k, 0.0) for r in runs) for k in mid["stages"]}
            results.append({**mid, "stages": stages, "tokenizer": tokenizer, "all_seconds": [round(r["seconds"], 3) for r in runs]})
            print(f"{tokenizer} {rows}: {mid['seconds']:.2f}s {results[-1]['all_seconds']} ({mid['backend']})", flush=True)
    return results


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--tokenizer", required=True)
    w.add_argument("--rows", type=int, required=True)
    w.add_argument("--work", required=True)
    w.add_argument("--tok-cache", required=True)
    p.add_argument("--tokenizers", default="llama3,qwen2_5")
    p.add_argument("--rows", default="20000,100000")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--tree", default=None, help="another checkout whose library runs (e.g. a git worktree of an "
                   "older commit; its stages that this tree lacks are left out); use with --doc '' and --out")
    p.add_argument("--work", default=str(HERE / "results" / "work"))
    p.add_argument("--out", default=str(HERE / "results" / "cold_start.json"))
    p.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks.md"), help="'' to leave the docs alone")
    args = p.parse_args(argv)
    if args.cmd == "worker":
        return worker(args)
    load = os.getloadavg()
    results = driver(args)
    after = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"load_average": {"before": load, "after": after}, "results": results}, indent=1))
    print(table(results))
    if args.doc:
        from backends import write_section

        intro = (f"`python benchmarks/cold_start.py`: prepare() once per fresh process (what a user's script sees), "
                 f"each stage's wall time on the main thread (the fastokens build on its own thread), the median of "
                 f"{args.runs} runs; x86_64, 2 cores. Nested rows overlap: the render stage holds the rows' stages, "
                 "the batch function holds every stage of a batch, and Dataset.map holds the batch function; rows "
                 "rendered ahead of the map are inside both \"render ahead\" and the render stage. Load average "
                 f"(1, 5, 15 min) before: {[round(x, 2) for x in load]}; after: {[round(x, 2) for x in after]}.\n")
        write_section(Path(args.doc), HEADING + "\n\n" + intro + "\n" + table(results) + "\n", HEADING)


if __name__ == "__main__":
    main()
