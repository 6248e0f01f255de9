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
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import _tokenizer, measure  # noqa: E402

METHODS = ["floor", "hf_sftprep_hf", "hf_sftprep", "trl"]
HEADING = "## Tokenizer backends: fastokens vs HF"
INTRO = """`python benchmarks/backends.py`: the same harness as `run.py` (a fresh subprocess per measurement with its own
datasets cache, methods alternating within each repeat, the median shown), on the shared 2-core machine while
other jobs ran (load average 3-8), so read the ratios, not the seconds; single runs spread by up to 2x.
Methods on the same rows:

- **floor**: render with the chat template + HF batch tokenize into int32 Arrow, no masking (`FloorMap`);
- **hf_sftprep_hf**: `prepare(..., backend="hf")`, what users get without the `fast` extra;
- **hf_sftprep**: `prepare()` with the default `backend="auto"`: fastokens, after its probe set and the first
  rows gave the HF ids (its build, 1-7 s per tokenizer and process depending on load, is inside the timing);
- **trl**: TRL 1.16 `SFTTrainer._prepare_dataset` with `assistant_only_loss=True` and TRL's `*_training.jinja`
  template for the tokenizer (trainer construction outside the timing).

Ids and labels of the two backends are identical (`tests/test_fast_backend.py`). "speed vs X" is X's time over
the method's time. `long` is the seed's shape: a ~2.5k-token system prompt on every row. Peak RSS is the
worker's `ru_maxrss` plus its children's (the `num_proc` workers).
"""


def plan(quick: bool, name: str = "main") -> list[tuple]:
    """(tokenizer, shape, rows, methods, num_proc, repeats)"""
    if quick:
        return [("llama3", "chat", 60, METHODS, None, 1)]
    if name == "threshold":  # where the fastokens build starts to pay for itself
        return [("llama3", "chat", n, ["hf_sftprep_hf", "hf_sftprep"], None, 3) for n in (1000, 2000, 4000, 8000)]
    return [
        ("llama3", "chat", 4000, METHODS, None, 2),
        ("qwen2_5", "chat", 4000, METHODS, None, 2),
        ("llama3", "chat", 20000, METHODS, None, 2),
        ("qwen2_5", "chat", 20000, METHODS, None, 2),
        ("llama3", "long", 1000, METHODS, None, 2),
        ("llama3", "chat", 20000, ["floor", "hf_sftprep_hf", "hf_sftprep"], 2, 2),
        ("llama3", "chat", 100000, ["hf_sftprep"], None, 1),
        ("llama3", "chat", 100000, ["hf_sftprep"], 2, 1),
    ]


def driver(quick: bool, work: Path, name: str = "main", out: Path | None = None) -> list[dict]:
    tok_cache = work / "tokenizers"
    results = []
    for tokenizer, shape, rows, methods, num_proc, repeats in plan(quick, name):
        _tokenizer(tok_cache, tokenizer)
        runs: dict[str, list] = {m: [] for m in methods}
        for _ in range(repeats):
            for m in methods:  # alternate so drift on the shared machine hits every method
                runs[m].append(measure(m, shape, rows, num_proc, work, tok_cache, tokenizer))
        for m in methods:
            r = dict(runs[m][0])
            r["seconds"] = statistics.median(x["seconds"] for x in runs[m])
            r["all_seconds"] = [round(x["seconds"], 3) for x in runs[m]]
            r["peak_rss_mb"] = max(x["peak_rss_mb"] for x in runs[m])
            r["repeats"] = repeats
            results.append(r)
            print(f"{tokenizer:8s} {shape:5s} {rows:6d} np={r['num_proc']} {m:14s} {r['seconds']:7.2f}s "
                  f"rss={r['peak_rss_mb']:.0f}MB {r['all_seconds']}", flush=True)
        if out is not None:  # after each configuration, so that a run stopped for time keeps what it measured
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1))
    return results


def table(results: list[dict]) -> str:
    by = {(r["tokenizer"], r["shape"], r["rows"], r["num_proc"], r["method"]): r for r in results}
    lines = ["| tokenizer | shape | rows | num_proc | method | seconds | M tok/s | speed vs TRL | speed vs floor | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        key = (r["tokenizer"], r["shape"], r["rows"], r["num_proc"])
        trl, floor = by.get(key + ("trl",)), by.get(key + ("floor",))
        vs = lambda ref: f"{ref['seconds'] / r['seconds']:.2f}×" if ref else "–"  # noqa: E731
        lines.append(f"| {r['tokenizer']} | {r['shape']} | {r['rows']:,} | {r['num_proc']} | {r['method']} | "
                     f"{r['seconds']:.2f} | {r['tokens'] / r['seconds'] / 1e6:.2f} | {vs(trl)} | {vs(floor)} | "
                     f"{r['peak_rss_mb']:.0f} |")
    scaling = [(k, by.get(k[:3] + (2, k[4])), r) for k, r in by.items() if k[3] == 1 and by.get(k[:3] + (2, k[4]))]
    if scaling:
        lines += ["", "| tokenizer | rows | method | num_proc=2 speed vs num_proc=1 |", "|---|---|---|---|"]
        lines += [f"| {k[0]} | {k[2]:,} | {k[4]} | {one['seconds'] / two['seconds']:.2f}× |" for k, two, one in scaling]
    return "\n".join(lines)


def write_section(doc: Path, body: str) -> None:
    """Replace (or append) this script's section of docs/benchmarks.md."""
    text = doc.read_text()
    if HEADING in text:
        start = text.index(HEADING)
        nxt = text.find("\n## ", start + len(HEADING))
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
    p.add_argument("--plan", default="main", choices=("main", "threshold"))
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.render:
        results = json.loads(Path(args.out).read_text())
    else:
        results = driver(args.quick, work, args.plan, Path(args.out))
    print(table(results))
    if args.doc and not args.quick and args.plan == "main":
        write_section(Path(args.doc), HEADING + "\n\n" + INTRO + "\n" + table(results) + "\n")


if __name__ == "__main__":
    main()
