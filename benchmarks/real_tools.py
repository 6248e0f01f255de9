"""Real tool-calling data: LLaMA-Factory's glaive demo sets through from_llamafactory, prepare() and verify().

The records are the 600 glaive-function-calling conversations LLaMA-Factory ships in its repository
(``data/glaive_toolcall_en_demo.json`` and ``data/glaive_toolcall_zh_demo.json``): ShareGPT turns with
``function_call`` / ``observation`` roles and a ``tools`` column holding a JSON string, ``"[]"`` on about a
third of the rows. They are read as a LLaMA-Factory user reads them, through the entry its
``dataset_info.json`` gives them (``formatting: sharegpt``, ``columns: {messages: conversations, tools:
tools}``), converted by ``from_llamafactory``'s rows, then ``prepare(on_invalid="drop")`` and
``verify(sample=None)`` on every kept row: ids against ``apply_chat_template(messages, tools=...)`` on the
record as converted, labels against the prefix-render reference. Writes benchmarks/results/real_tools.json
and the "Real tool-calling data" section of docs/benchmarks.md.

    git clone --depth 1 https://github.com/hiyouga/LLaMA-Factory /tmp/LLaMA-Factory
    python benchmarks/real_tools.py --data /tmp/LLaMA-Factory/data
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FILES = ("glaive_toolcall_en_demo.json", "glaive_toolcall_zh_demo.json")
HEADING = "## Real tool-calling data: glaive, through a LLaMA-Factory entry"
TOKENIZERS = ("qwen2_5", "llama3")


def converted(data: Path, work: Path):
    """The records as from_llamafactory's rows give them to prepare(): messages (tool calls as
    ``tool_calls``, results as ``tool`` messages) and the tools JSON string."""
    import datasets

    from hf_sftprep import from_llamafactory

    rows = [r for name in FILES for r in json.loads((data / name).read_text(encoding="utf-8"))]
    (work / "glaive.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    entry = {"file_name": "glaive.json", "formatting": "sharegpt",
             "columns": {"messages": "conversations", "tools": "tools"}}
    (work / "dataset_info.json").write_text(json.dumps({"glaive": entry}))
    source = from_llamafactory(work / "dataset_info.json", "glaive", tokenizer="unused", on_invalid="drop").sources[0]
    raw = datasets.load_dataset("json", data_files=str(work / "glaive.json"), split="train")
    return source.convert.apply(raw, "glaive"), rows


def run_one(name: str, raw, work: Path) -> dict:
    import hf_sftprep
    from hf_sftprep.testing import offline

    tok = {"llama3": offline.llama3_tokenizer, "qwen2_5": offline.qwen2_5_tokenizer}[name](work / "tokenizers")
    start = time.perf_counter()
    ds, report = hf_sftprep.prepare(raw, tok, format="openai", on_invalid="drop", return_report=True,
                                    load_from_cache_file=False)
    out = {"rows_in": report.rows_in, "rows_out": report.rows_out, "dropped": report.dropped,
           "prepare_s": round(time.perf_counter() - start, 2), "trained_tokens": report.trained_tokens}
    start = time.perf_counter()
    check = hf_sftprep.verify(ds, tok, raw=raw, sample=None, format="openai", on_invalid="drop", show=5)
    out["verify_s"] = round(time.perf_counter() - start, 2)
    out["verify"] = check.to_dict()
    print(f"[{name}] kept {report.rows_out} of {report.rows_in}, dropped {report.dropped}", flush=True)
    print(check.summary(), flush=True)
    return out


def section(results: dict) -> str:
    lines = ["| tokenizer | rows | kept | dropped (reason) | checked | matching | input_ids differ | labels differ | "
             "not attributable | verify s |", "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name, t in results["tokenizers"].items():
        v = t["verify"]
        drops = ", ".join(f"{k} {n}" for k, n in sorted(t["dropped"].items())) or "none"
        lines.append(f"| {name} | {t['rows_in']:,} | {t['rows_out']:,} | {drops} | {v['checked']:,} | {v['matching']:,} "
                     f"| {v['ids_differ']:,} | {v['labels_differ']:,} | {v['not_attributable']:,} | {t['verify_s']:.1f} |")
    table = "\n".join(lines)
    return f"""{HEADING}

`python benchmarks/real_tools.py --data LLaMA-Factory/data`: the {results['rows']:,} glaive-function-calling
conversations LLaMA-Factory ships (`glaive_toolcall_en_demo.json`, `glaive_toolcall_zh_demo.json`, commit
{results['source_commit']}): {results['tool_calls']:,} tool calls, {results['empty_tools']:,} rows whose `tools`
is `"[]"`. Read through their LLaMA-Factory entry with `from_llamafactory`, loaded by `load_dataset("json")`, then
`prepare(on_invalid="drop")` and `verify(sample=None)` on every kept row. {results['machine']}.

{table}

A `"[]"` tools value reaches the template as `[]` (transformers' `tools is not None` routing and the
template's own `if tools` both see it as written). Drops are rows the template or the record layer refuses,
each under its reason.
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="LLaMA-Factory's data folder (holding the two glaive files)")
    p.add_argument("--source-commit", default="unknown", help="the LLaMA-Factory commit the files come from")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "sftprep_tools"))
    p.add_argument("--json", default=str(HERE / "results" / "real_tools.json"))
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args()
    logging.getLogger("hf_sftprep").setLevel(logging.ERROR)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_DATASETS_CACHE", str(work / "hf_cache"))
    import datasets

    datasets.disable_progress_bars()
    raw, rows = converted(Path(args.data), work)
    results = {"rows": len(rows), "source_commit": args.source_commit,
               "tool_calls": sum(m["from"] == "function_call" for r in rows for m in r["conversations"]),
               "empty_tools": sum(r.get("tools") == "[]" for r in rows),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, CPU only", "tokenizers": {}}
    for name in TOKENIZERS:
        results["tokenizers"][name] = run_one(name, raw, work)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if not args.no_docs:
        from real_data import write_docs  # benchmarks/ is the script's folder, first on sys.path

        write_docs(section(results), HEADING)
    print(section(results))


if __name__ == "__main__":
    main()
