"""prepare() with each tokenizer backend vs TRL's preparation and the HF render+tokenize floor, side by side.

Same harness as run.py (a fresh subprocess per measurement with its own datasets cache, methods alternating
within each repeat, the median reported); writes benchmarks/results/backends.json and the "Tokenizer
backends" section of docs/benchmarks.md.

    python benchmarks/backends.py            # ~10 min on 2 cores
    python benchmarks/backends.py --quick    # a tiny run that checks the harness works
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import _tokenizer, measure  # noqa: E402

METHODS = ["floor", "hf_sftprep_hf", "hf_sftprep", "trl", "fastokens_only"]
WARM = ["floor_warm", "hf_sftprep_warm", "trl_warm"]
HEADING = "## Tokenizer backends: fastokens vs HF"
INTRO = """`python benchmarks/backends.py [--base COMMIT]`: the same harness as `run.py` (a fresh subprocess per
measurement with its own datasets cache, variants alternating within each repeat, the median shown) on x86_64,
2 cores, CPU only; the load average before and after the run is printed below it, and single runs on this
shared machine spread by up to 2x, so read the ratios, not the seconds. Every method runs in a fresh process
(what a user's script sees: the fastokens build, the probe and the first shape checks are inside the timing);
the `_warm` methods are timed on their second run in one process and compared with each other. Methods on
the same rows:

- **floor**: render with the chat template + HF batch tokenize into int32 Arrow, no masking (`FloorMap`);
- **hf_sftprep_hf**: `prepare(..., backend="hf")`, what users get without the `fast` extra;
- **hf_sftprep**: `prepare()` with the default `backend="auto"`: from 10,000 rows, fastokens, built while the
  first batches render (its build, ~1.2-1.6 s for Llama 3 on an idle machine, is inside the timing); below
  10,000 rows the HF backend without the build;
- **hf_sftprep@base**: the same call on the `--base` commit's library (the before column);
- **trl**: TRL 1.16 `SFTTrainer._prepare_dataset` with `assistant_only_loss=True` and TRL's `*_training.jinja`
  template for the tokenizer (trainer construction outside the timing);
- **fastokens_only**: the limit: fastokens alone encoding the texts `apply_chat_template` rendered, into an
  int32 Arrow column (texts rendered and fastokens built before the timer; its build time is in the JSON as
  `build_seconds`); nothing masked, checked or written.

Settings: `num_proc` 2 runs `Dataset.map` with two worker processes (`TOKENIZERS_PARALLELISM=false`, as
`datasets` sets it for workers); "tokenizer threads 1" sets `RAYON_NUM_THREADS=1` (the size of the HF tokenizers'
Rust thread pool), "default" leaves it at one thread per core. Ids and labels of the two
backends are identical (`tests/test_fast_backend.py`). "speed vs X" is X's time over the method's time, in the
same configuration (a `_warm` method against X's `_warm` run); "x the limit" is the method's time over
fastokens_only's. `long` is the seed's shape: a ~2.5k-token system prompt on every row. Peak RSS is the
worker's `ru_maxrss` plus its children's (the `num_proc` workers).
"""


def plan(quick: bool, name: str = "main", base: bool = False) -> list[tuple]:
    """(tokenizer, shape, rows, variants, repeats). A variant is a method name with optional suffixes:
    ``:np2`` runs it with ``num_proc=2``, ``:t1`` with ``RAYON_NUM_THREADS=1`` (one tokenizer thread),
    ``:base`` on the ``--base`` commit's library. Variants of one entry alternate within each repeat."""
    before = ["hf_sftprep:base"] if base else []
    if quick:
        return [("llama3", "chat", 60, METHODS + WARM + ["hf_sftprep:np2", "hf_sftprep:t1"] + before, 1)]
    if name == "warm":  # the warm rows alone (to re-run them into an earlier run's results, see --merge)
        return [("llama3", "chat", 20000, WARM, 2)]
    if name == "threshold":  # where the fastokens build starts to pay for itself
        return [("llama3", "chat", n, ["hf_sftprep_hf", "hf_sftprep_build"], 3) for n in (1000, 2000, 4000, 8000, 12000)]
    return [
        ("llama3", "chat", 20000, METHODS + before, 3),
        ("llama3", "chat", 20000, WARM, 2),
        ("qwen2_5", "chat", 20000, METHODS + before, 2),
        ("llama3", "chat", 4000, ["floor", "hf_sftprep", "trl"] + before, 2),
        ("llama3", "long", 10000, ["floor", "hf_sftprep_hf", "hf_sftprep", "fastokens_only"] + before, 1),
        ("llama3", "chat", 100000, ["hf_sftprep", "fastokens_only", "floor"] + before, 2),
        ("llama3", "chat", 100000, ["hf_sftprep:np2"] + [b + ":np2" for b in before], 2),
        ("qwen2_5", "chat", 100000, ["hf_sftprep", "hf_sftprep:np2", "fastokens_only"] + before, 2),
    ]


def _variant(name: str) -> tuple[str, int | None, str]:
    """``method[:np2][:t1][:base]`` -> (method, num_proc, threads)."""
    method, *flags = name.split(":")
    return method, 2 if "np2" in flags else None, "1" if "t1" in flags else "default"


def _on_base(name: str) -> bool:
    return "base" in name.split(":")[1:]


def driver(quick: bool, work: Path, name: str = "main", out: Path | None = None, base_tree: Path | None = None) -> list[dict]:
    tok_cache = work / "tokenizers"
    results = []
    for tokenizer, shape, rows, variants, repeats in plan(quick, name, base_tree is not None):
        _tokenizer(tok_cache, tokenizer)
        runs: dict[str, list] = {v: [] for v in variants}
        for _ in range(repeats):
            for v in variants:  # alternate so drift on the shared machine hits every method
                method, num_proc, threads = _variant(v)
                env = {"RAYON_NUM_THREADS": "1"} if threads == "1" else None
                tree = base_tree if _on_base(v) else None
                runs[v].append(measure(method, shape, rows, num_proc, work, tok_cache, tokenizer, env=env, tree=tree))
        for v in variants:
            r = dict(runs[v][0])
            r["method"] = r["method"] + ("@base" if _on_base(v) else "")
            r["threads"] = _variant(v)[2]
            r["seconds"] = statistics.median(x["seconds"] for x in runs[v])
            r["all_seconds"] = [round(x["seconds"], 3) for x in runs[v]]
            r["peak_rss_mb"] = max(x["peak_rss_mb"] for x in runs[v])
            r["repeats"] = repeats
            results.append(r)
            print(f"{tokenizer:8s} {shape:5s} {rows:6d} np={r['num_proc']} t={r['threads']:7s} {r['method']:16s} "
                  f"{r['seconds']:7.2f}s rss={r['peak_rss_mb']:.0f}MB {r['all_seconds']}", flush=True)
        if out is not None:  # after each configuration, so that a run stopped for time keeps what it measured
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1))
    return results


def table(results: list[dict]) -> str:
    key_of = lambda r: (r["tokenizer"], r["shape"], r["rows"], r["num_proc"], r.get("threads", "default"))  # noqa: E731
    by = {key_of(r) + (r["method"],): r for r in results}
    one = lambda r, m: by.get(key_of(r) + (m,)) or by.get(key_of(r)[:3] + (1, "default", m))  # noqa: E731
    lines = ["| tokenizer | shape | rows | num_proc | tokenizer threads | method | seconds | M tok/s | speed vs TRL | "
             "speed vs floor | x the limit | peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        warm = r["method"].endswith("_warm")
        trl, floor = by.get(key_of(r) + ("trl_warm" if warm else "trl",)), by.get(key_of(r) + ("floor_warm" if warm else "floor",))
        limit = None if warm or r["method"] == "fastokens_only" else one(r, "fastokens_only")
        vs = lambda ref: f"{ref['seconds'] / r['seconds']:.2f}×" if ref else "–"  # noqa: E731
        over = f"{r['seconds'] / limit['seconds']:.1f}×" if limit else "–"
        lines.append(f"| {r['tokenizer']} | {r['shape']} | {r['rows']:,} | {r['num_proc']} | {r.get('threads', 'default')} | "
                     f"{r['method']} | {r['seconds']:.2f} | {r['tokens'] / r['seconds'] / 1e6:.2f} | {vs(trl)} | "
                     f"{vs(floor)} | {over} | {r['peak_rss_mb']:.0f} |")
    pairs = [("num_proc=2 vs num_proc=1", lambda k: k[:3] + (2, "default") + k[5:]),
             ("one tokenizer thread vs default threads", lambda k: k[:3] + (1, "1") + k[5:])]
    for title, other in pairs:
        rows = [(k, by[other(k)], r) for k, r in by.items() if k[3] == 1 and k[4] == "default" and other(k) in by]
        if rows:
            lines += ["", f"| tokenizer | rows | method | {title} (speed) |", "|---|---|---|---|"]
            lines += [f"| {k[0]} | {k[2]:,} | {k[5]} | {one_['seconds'] / alt['seconds']:.2f}× |" for k, alt, one_ in rows]
    befores = [(r, by.get(key_of(r) + (r["method"] + "@base",))) for r in results if not r["method"].endswith("@base")]
    befores = [(r, b) for r, b in befores if b]
    if befores:
        lines += ["", "| tokenizer | shape | rows | num_proc | method | base seconds | this tree seconds | speed vs base |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['tokenizer']} | {r['shape']} | {r['rows']:,} | {r['num_proc']} | {r['method']} | {b['seconds']:.2f} | "
                  f"{r['seconds']:.2f} | {b['seconds'] / r['seconds']:.2f}× |" for r, b in befores]
    return "\n".join(lines)


def write_section(doc: Path, body: str, heading: str = HEADING) -> None:
    """Replace (or append) a script's section (this one's by default) of docs/benchmarks.md."""
    text = doc.read_text()
    if heading in text:
        start = text.index(heading)
        nxt = text.find("\n## ", start + len(heading))
        text = text[:start] + body.rstrip() + "\n" + (text[nxt:] if nxt != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + body.rstrip() + "\n"
    doc.write_text(text)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--work", default=str(HERE / "results" / "work"))
    p.add_argument("--out", default=str(HERE / "results" / "backends.json"))
    p.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks.md"), help="'' to leave the docs alone")
    p.add_argument("--render", action="store_true", help="only rewrite the docs section from --out")
    p.add_argument("--plan", default="main", choices=("main", "threshold", "warm"))
    p.add_argument("--base", default=None, help="a commit whose library runs the hf_sftprep@base rows (git worktree)")
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    load = None
    if args.render:
        results = json.loads(Path(args.out).read_text())
    else:
        before = os.getloadavg()
        base_tree = None
        if args.base:
            base_tree = work / f"base-{args.base}"
            if not base_tree.exists():
                subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=ROOT, check=True,
                               capture_output=True)
        try:
            results = driver(args.quick, work, args.plan, Path(args.out), base_tree)
        finally:
            if base_tree is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, capture_output=True)
        load = {"before": [round(x, 2) for x in before], "after": [round(x, 2) for x in os.getloadavg()]}
        Path(args.out).write_text(json.dumps({"load_average": load, "base": args.base, "results": results}, indent=1))
    rerun = None
    if isinstance(results, dict):  # written by this version: the results and the load average
        load, rerun, results = results["load_average"], results.get("warm_rerun"), results["results"]
    print(table(results))
    if args.doc and not args.quick and args.plan == "main":
        where = f"\nLoad average (1, 5, 15 min) before the run: {load['before']}; after: {load['after']}.\n" if load else ""
        if rerun:  # the warm rows re-run with --plan warm and merged into the results
            where += (f"The `_warm` rows were re-run apart (`--plan warm`; {rerun['why']}); load average before and after "
                      f"that run: {rerun['load_average']['before']}, {rerun['load_average']['after']}.\n")
        write_section(Path(args.doc), HEADING + "\n\n" + INTRO + "\n" + table(results) + "\n" + where)


if __name__ == "__main__":
    main()
