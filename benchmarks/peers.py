"""LLaMA-Factory and Axolotl side by side with hf_sftprep.prepare() and TRL: same rows, same Llama 3 tokenizer.

The peers pin their own transformers/datasets, so each runs in its own virtual environment; this file is also
their worker (its top level imports only the standard library). Every measurement is a fresh subprocess with its
own datasets cache, methods alternate within each repeat, and the median of repeats is reported. prepare() and
TRL are measured through run.py's ``measure``. Only the preprocessing call is timed, Arrow cache writes included.

    python benchmarks/peers.py --lf-python /tmp/peers/lf-venv/bin/python --ax-python /tmp/peers/ax-venv/bin/python \
        --rows 4000 20000

The side-venv install commands are in INSTALL below (and in the markdown this writes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
IGNORE_INDEX = -100
PEERS = {"llamafactory": "LLaMA-Factory", "axolotl": "Axolotl",
         "axolotl_cpus": "Axolotl, dataset_num_proc=os.cpu_count() (its config default)"}
MAIN = {"hf_sftprep": "hf_sftprep prepare()", "trl": "TRL SFTTrainer._prepare_dataset"}

INSTALL = """\
echo torch==2.13.0 > /tmp/peers/constraints.txt   # an unpinned torch pulls a multi-GB CUDA build
python -m venv /tmp/peers/lf-venv
/tmp/peers/lf-venv/bin/pip install -c /tmp/peers/constraints.txt torch==2.13.0
/tmp/peers/lf-venv/bin/pip install -c /tmp/peers/constraints.txt "llamafactory==0.9.*"
/tmp/peers/lf-venv/bin/pip uninstall -y torchvision torchaudio
python -m venv /tmp/peers/ax-venv
/tmp/peers/ax-venv/bin/pip install -c /tmp/peers/constraints.txt torch==2.13.0
/tmp/peers/ax-venv/bin/pip install --no-deps axolotl==0.19.0
/tmp/peers/ax-venv/bin/pip install -c /tmp/peers/constraints.txt transformers==5.16.1 datasets==4.8.4 \\
    tokenizers==0.23.1 huggingface_hub==1.17.0 pydantic==2.12.5 accelerate==1.13.0 colorama addict jinja2"""

NOTES = """\
Notes. LLaMA-Factory 0.9.5 is the newest 0.9.x on PyPI; its install brings PyPI's torchvision 0.28.0 and \
torchaudio 2.11.1, which do not load beside the local CPU torch 2.13 (`operator torchvision::nms does not exist`, \
which breaks `import transformers`; `libc10_cuda.so: cannot open shared object file`), so both are uninstalled. \
LLaMA-Factory imports torchaudio at the top of `data/mm_plugin.py` for audio inputs only, so the worker puts an empty \
module in its place. Axolotl 0.19.0 is the newest on PyPI (there is no 0.21); its metadata pins \
transformers==5.16.1, datasets==4.8.4, trl==1.9.0 and GPU packages (xformers, bitsandbytes, triton, \
flash-linear-attention, liger-kernel), so it is installed with `--no-deps` plus what `axolotl.prompt_strategies` \
and `axolotl.datasets` import (pip then reports its other pins as unmet). Not timed: LLaMA-Factory's \
`load_dataset` and its printed example; Axolotl's later steps in `axolotl preprocess` (the over-length filter and \
`save_to_disk` of the prepared set). TRL's Arrow cache keeps the `messages` column; LLaMA-Factory's also holds its \
aligned copy and the empty `images`/`videos`/`audios` columns. All methods read the same file within a run, but \
`corpus.chats` differs between runs: its paragraph pool depends on what the process imported first (3,755 \
paragraphs in a bare interpreter, 3,764 after `run.py` has loaded the tokenizer), so token counts differ slightly \
from other runs' files of the same row count. The 4000-row check leaves out the `dataset_num_proc` Axolotl row \
(the same code in two processes)."""


# ---------------------------------------------------------------- workers (run inside the side venvs)

def _stub_torchaudio() -> None:
    """LLaMA-Factory 0.9.5 imports torchaudio at the top of data/mm_plugin.py, for audio inputs only.

    PyPI's torchaudio (2.11.1, newest) is a CUDA build (it needs libc10_cuda.so) and none matches torch 2.13,
    so with the CPU torch the import fails; text rows never reach it, so an empty module stands in."""
    try:
        import torchaudio  # noqa: F401
    except (ImportError, OSError):
        import importlib.machinery
        import types

        stub = types.ModuleType("torchaudio")
        stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        sys.modules["torchaudio"] = stub


def _lf_setup(args, scratch: Path):
    """LLaMA-Factory as a user configures it: a dataset_info.json entry for OpenAI-style messages, template llama3."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.data.parser import get_dataset_list
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
            "system_tag": "system"}
    (scratch / "dataset_info.json").write_text(json.dumps({"bench": {
        "file_name": args.data, "formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": tags}}))
    # cutoff_len defaults to 2048; prepare() does not truncate by default, so neither does this
    model_args, data_args, training_args, _, _ = get_train_args({
        "stage": "sft", "do_train": True, "model_name_or_path": args.tok, "dataset": "bench",
        "dataset_dir": str(scratch), "template": "llama3", "cutoff_len": 10**9, "overwrite_cache": True,
        "finetuning_type": "lora", "report_to": "none", "output_dir": str(scratch / "out")})
    module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(module["tokenizer"], data_args)
    attr = get_dataset_list(["bench"], data_args.dataset_dir)[0]
    return module, template, attr, data_args, training_args


def _lf_run(args, raw, scratch: Path):
    """get_dataset's two maps after its load_dataset: align_dataset (the converter), then the supervised processor."""
    _stub_torchaudio()
    from llamafactory.data.converter import align_dataset
    from llamafactory.data.loader import _get_preprocessed_dataset

    module, template, attr, data_args, training_args = _lf_setup(args, scratch)

    def run():
        aligned = align_dataset(raw, attr, data_args, training_args)
        ds = _get_preprocessed_dataset(aligned, data_args, training_args, "sft", template, module["tokenizer"],
                                       module["processor"])
        return ds, aligned.cache_files + ds.cache_files

    return run


def _ax_run(args, raw, scratch: Path):
    """Axolotl's chat_template strategy as get_dataset_wrapper applies it (type: chat_template,
    chat_template: tokenizer_default, roles_to_train [assistant], train_on_eos: turn)."""
    from axolotl.datasets import wrap_dataset_for_tokenized_prompt
    from axolotl.prompt_strategies import load
    from axolotl.utils.dict import DictDefault
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.tok)
    cfg = DictDefault({"sequence_len": 10**9, "chat_template": "tokenizer_default", "train_on_inputs": False})
    ds_cfg = DictDefault({"path": args.data, "type": "chat_template", "field_messages": "messages",
                          "roles_to_train": ["assistant"], "train_on_eos": "turn"})
    strategy = load("chat_template", tok, cfg, ds_cfg)
    # a validated axolotl config fills dataset_num_proc with os.cpu_count(); one process is the like-for-like row
    procs = os.cpu_count() if args.method == "axolotl_cpus" else None

    def run():
        ds = wrap_dataset_for_tokenized_prompt(strategy, raw, process_count=procs, keep_in_memory=False)
        return ds, ds.cache_files

    return run


def _main_run(args, raw, scratch: Path):
    """prepare() or TRL, untimed, only to dump their rows for the trained-token check."""
    sys.path.insert(0, str(HERE))
    from methods import METHODS
    from transformers import AutoTokenizer

    run = METHODS[args.method](AutoTokenizer.from_pretrained(args.tok))
    return lambda: (ds := run(raw), ds.cache_files)


WORKERS = {"llamafactory": _lf_run, "axolotl": _ax_run, "axolotl_cpus": _ax_run, "hf_sftprep": _main_run,
           "trl": _main_run}


def _dump(ds, path: str) -> None:
    """Flat ids, row offsets and the trained-token mask, for the comparison with prepare()."""
    import numpy as np

    ids = ds.data.column("input_ids").combine_chunks()
    labels = ds.data.column("labels").combine_chunks()
    off = ids.offsets.to_numpy()
    lab_off = labels.offsets.to_numpy()
    flat = ids.values.to_numpy()[off[0]:off[-1]].astype(np.int32)
    trained = labels.values.to_numpy()[lab_off[0]:lab_off[-1]] != IGNORE_INDEX
    np.savez(path, ids=flat, offsets=off - off[0], label_offsets=lab_off - lab_off[0], trained=trained)


def worker(args) -> None:
    """One timed measurement, printed as JSON on the last line of stdout."""
    import datasets
    import pyarrow.compute as pc

    datasets.disable_progress_bars()
    raw = datasets.load_dataset("json", data_files=args.data, split="train")
    with tempfile.TemporaryDirectory() as scratch:
        run = WORKERS[args.method](args, raw, Path(scratch))
        start = time.perf_counter()
        ds, cache_files = run()
        seconds = time.perf_counter() - start
    tokens = int(pc.sum(pc.list_value_length(ds.data.column("input_ids"))).as_py())
    cache_bytes = sum(os.path.getsize(f["filename"]) for f in cache_files if os.path.exists(f["filename"]))
    if args.dump:
        _dump(ds, args.dump)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": seconds, "rows": ds.num_rows, "tokens": tokens, "cache_bytes": cache_bytes,
                      "peak_rss_mb": rss / 1024, "versions": _versions(args.method)}))


def _versions(method: str) -> dict:
    from importlib.metadata import version

    names = {"llamafactory": "llamafactory", "axolotl": "axolotl", "axolotl_cpus": "axolotl", "trl": "trl",
             "hf_sftprep": "hf_sftprep"}
    return {n: version(n) for n in (names[method], "transformers", "datasets", "tokenizers", "torch")}


# ---------------------------------------------------------------- driver (main python)

def measure_peer(method: str, python: str, data: Path, tok_dir: Path, work: Path, dump: Path | None = None) -> dict:
    """Like run.py's measure: a fresh subprocess with its own HF_DATASETS_CACHE, here in the peer's venv."""
    with tempfile.TemporaryDirectory(dir=work) as cache:
        # as run.py: forked map workers turn the tokenizer's own threads off
        parallel = "false" if method == "axolotl_cpus" else "true"
        env = dict(os.environ, HF_DATASETS_CACHE=cache, TOKENIZERS_PARALLELISM=parallel, HF_HUB_OFFLINE="1",
                   DISABLE_VERSION_CHECK="1")
        env.pop("PYTHONPATH", None)  # the side venv must not see the main environment's packages
        cmd = [python, str(HERE / "peers.py"), "worker", "--method", method, "--data", str(data),
               "--tok", str(tok_dir)] + (["--dump", str(dump)] if dump else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cache, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} on {data.name} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["method"] = method
    return out


def dump_main(method: str, data: Path, tok_dir: Path, work: Path, dump: Path) -> None:
    """prepare()/TRL rows for the check, in the main python (untimed; timing goes through run.py's measure)."""
    with tempfile.TemporaryDirectory(dir=work) as cache:
        env = dict(os.environ, HF_DATASETS_CACHE=cache, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent)]))
        cmd = [sys.executable, str(HERE / "peers.py"), "worker", "--method", method, "--data", str(data),
               "--tok", str(tok_dir), "--dump", str(dump)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} dump failed:\n{proc.stderr[-3000:]}")


def compare(dumps: dict[str, Path], tok, first: int = 5) -> dict:
    """Per row: same input_ids as prepare()? same trained positions? and which tokens differ, decoded."""
    import numpy as np

    loaded = {}
    for m, path in dumps.items():
        with np.load(path) as npz:  # an NpzFile decompresses on every [key]; read each array once
            loaded[m] = {k: npz[k] for k in npz.files}
    ref = _rows(loaded["hf_sftprep"])
    out = {"rows": len(ref), "end_of_turn": tok.eos_token, "first_rows": {}, "methods": {}}
    for m, d in loaded.items():
        rows = _rows(d)
        out["first_rows"][m] = [int(t.sum()) for _, t in rows[:first]]
        out["methods"][m] = _diff(rows, ref, tok)
    return out


def _rows(d) -> list[tuple]:
    o, lo = d["offsets"], d["label_offsets"]
    return [(d["ids"][o[i]:o[i + 1]], d["trained"][lo[i]:lo[i + 1]]) for i in range(len(o) - 1)]


def _diff(rows: list[tuple], ref: list[tuple], tok) -> dict:
    import collections

    same_ids = same_mask = 0
    extra, missing = collections.Counter(), collections.Counter()
    end = tok.eos_token_id
    for (ids, trained), (r_ids, r_tr) in zip(rows, ref):
        if len(ids) != len(r_ids) or not (ids == r_ids).all():
            continue
        same_ids += 1
        same_mask += bool((trained == r_tr).all())
        extra.update(ids[trained & ~r_tr].tolist())
        missing.update(ids[r_tr & ~trained].tolist())
    def top(counter) -> dict:
        return {tok.decode([t]): n for t, n in counter.most_common(5)}

    return {"rows": len(rows), "same_input_ids": same_ids, "same_trained_positions": same_mask,
            "trained_tokens": int(sum(int(t.sum()) for _, t in rows)),
            "trained_end_of_turn": int(sum(int((ids[t] == end).sum()) for ids, t in rows)),
            "end_of_turn_in_assistant_turns": int(sum(int((r_ids[r_tr] == end).sum()) for r_ids, r_tr in ref)),
            "trained_only_here": top(extra), "trained_only_in_prepare": top(missing)}


def _median(runs: list[dict]) -> dict:
    best = dict(runs[0])
    secs = [r["seconds"] for r in runs]
    best.update(seconds=statistics.median(secs), seconds_all=secs, repeats=len(runs),
                peak_rss_mb=max(r["peak_rss_mb"] for r in runs))
    return best


def run_size(rows: int, methods: list[str], pythons: dict, repeats: int, work: Path, tok_cache: Path,
             tok_dir: Path) -> list[dict]:
    import run as harness

    data = harness._data_file("chat", rows, work)
    runs: dict[str, list] = {m: [] for m in methods}
    load_before = os.getloadavg()
    for _ in range(repeats):  # alternate methods within each repeat
        for m in methods:
            if m in MAIN:
                r = harness.measure(m, "chat", rows, None, work, tok_cache)
            else:
                r = measure_peer(m, pythons[m], data, tok_dir, work)
            runs[m].append(r)
            print(f"  {rows:6d} {m:12s} {r['seconds']:8.2f}s  load={os.getloadavg()[0]:.2f}", flush=True)
    load_after = os.getloadavg()
    out = [_median(runs[m]) | {"rows_requested": rows, "loadavg_before": load_before, "loadavg_after": load_after}
           for m in methods]
    base = next(r["seconds"] for r in out if r["method"] == "hf_sftprep")
    for r in out:
        r["ratio_vs_prepare"] = r["seconds"] / base
        r["tok_per_s"] = r["tokens"] / r["seconds"]
    return out


def check(rows: int, methods: list[str], pythons: dict, work: Path, tok_dir: Path, tok) -> dict:
    import run as harness

    data = harness._data_file("chat", rows, work)
    dumps = {}
    for m in methods:
        dumps[m] = work / f"dump-{m}-{rows}.npz"
        if m in MAIN:
            dump_main(m, data, tok_dir, work, dumps[m])
        else:
            versions = measure_peer(m, pythons[m], data, tok_dir, work, dump=dumps[m])["versions"]
            print(f"  {m}: {versions}", flush=True)
    return compare(dumps, tok)


# ---------------------------------------------------------------- report

def markdown(results: list[dict], cmp: dict, meta: dict) -> str:
    intro = (
        "The same JSONL corpus (`run.py`'s `_data_file(\"chat\", rows, work)`: stdlib-docstring chats, 1-4 turns, "
        "half with a system prompt) and the same offline Llama 3 tokenizer (`hf_sftprep.testing.offline`, saved with "
        "`save_pretrained` and loaded in every venv with `AutoTokenizer.from_pretrained(path)`, chat template TRL's "
        "`llama3.jinja`). LLaMA-Factory runs its own sft path as `get_dataset` does after loading: `align_dataset` "
        "(the sharegpt converter, OpenAI role/content tags) then `SupervisedDatasetProcessor` with its `llama3` "
        "template, `cutoff_len` raised so nothing is truncated. Axolotl runs its `chat_template` strategy "
        "(`chat_template: tokenizer_default`, `roles_to_train: [assistant]`, `train_on_eos: turn`) through "
        "`wrap_dataset_for_tokenized_prompt`, as `get_dataset_wrapper` does, in one process like the others and "
        "again with the `dataset_num_proc` a validated Axolotl config fills in (`os.cpu_count()`). prepare() and TRL "
        "(`SFTTrainer._prepare_dataset`, `assistant_only_loss=True`, `llama3_training.jinja`) are measured by "
        "`run.py`'s `measure`. Each measurement is a fresh subprocess with its own datasets cache; only the "
        "preprocessing call is timed (Arrow cache writes included; imports, tokenizer loading and `load_dataset` "
        "not); methods alternate within each repeat; the median of "
        f"{meta['repeats']} repeats is shown. Machine: {meta['machine']}; `uptime` before: "
        f"`{meta['uptime_before']}`, after: `{meta['uptime_after']}`. hf_sftprep tree: {meta['tree_before']} "
        f"(at the start), {meta['tree_after']} (at the end)."
    )
    command = (f"python benchmarks/peers.py --lf-python /tmp/peers/lf-venv/bin/python --ax-python "
               f"/tmp/peers/ax-venv/bin/python --rows {' '.join(map(str, meta['rows']))} --repeats {meta['repeats']}")
    versions = "; ".join(f"{_name(m)}: " + ", ".join(f"{k} {v}" for k, v in vs.items())
                         for m, vs in meta["versions"].items() if m != "axolotl_cpus")
    lines = ["## LLaMA-Factory and Axolotl, side by side", "", intro, "",
             "Reproduce (side venvs, outside the repo):", "", "```", INSTALL, command, "```", "",
             f"Versions: {versions}.", "",
             ("| method | rows | tokens | seconds (median) | all repeats | M tok/s | × prepare() | peak RSS MB "
              "| Arrow cache MB |"),
             "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {_name(r['method'])} | {r['rows']} | {r['tokens']:,} | {r['seconds']:.2f} | "
                     f"{', '.join(f'{s:.2f}' for s in r['seconds_all'])} | {r['tok_per_s'] / 1e6:.3f} | "
                     f"{r['ratio_vs_prepare']:.2f} | {r['peak_rss_mb']:.0f} | {r['cache_bytes'] / 2**20:.1f} |")
    shown = len(cmp["first_rows"]["hf_sftprep"])
    tok_name = _cell(f"`{cmp['end_of_turn']}`")
    lines += ["", (f"Trained tokens, checked on all {cmp['rows']} rows of the {meta['check_rows']}-row file (a token "
                   "is trained when its label is not -100; positions are compared where input_ids are equal):"), "",
              ("| method | rows with prepare()'s input_ids | rows with prepare()'s trained positions | trained tokens "
               f"| of them {tok_name} | trained here, not by prepare() | trained by prepare(), not here "
               f"| trained per row, rows 0-{shown - 1} |"),
              "|---|---:|---:|---:|---:|---|---|---|"]
    for m, d in cmp["methods"].items():
        lines.append(f"| {_name(m)} | {d['same_input_ids']}/{d['rows']} | {d['same_trained_positions']}/{d['rows']} | "
                     f"{d['trained_tokens']:,} | {d['trained_end_of_turn']:,} | {_tokens(d['trained_only_here'])} | "
                     f"{_tokens(d['trained_only_in_prepare'])} | {cmp['first_rows'][m]} |")
    return "\n".join([*lines, "", NOTES]) + "\n"


def _name(method: str) -> str:
    return PEERS.get(method) or MAIN[method]


def _tokens(counter: dict) -> str:
    return _cell(", ".join(f"`{json.dumps(t)[1:-1]}` ×{n}" for t, n in counter.items()) or "none")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe ends a table cell even inside backticks


def driver(args) -> None:
    sys.path.insert(0, str(HERE))
    import run as harness

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tok_cache = work / "tokenizers"
    tok = harness._tokenizer(tok_cache)
    tok_dir = work / "llama3-saved"
    tok.save_pretrained(tok_dir)  # what the side venvs load with AutoTokenizer.from_pretrained(path)
    pythons = {"llamafactory": args.lf_python, "axolotl": args.ax_python, "axolotl_cpus": args.ax_python}
    methods = ["hf_sftprep", "trl"] + [m for m, py in pythons.items() if py]
    for flag, m in (("--lf-python", "llamafactory"), ("--ax-python", "axolotl")):
        if not pythons[m]:
            print(f"skipping {PEERS[m]}: no {flag} given", flush=True)
    meta = {"repeats": args.repeats, "rows": args.rows, "check_rows": min(args.rows), "uptime_before": _uptime(),
            "tree_before": _tree(),
            "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"}
    print(f"check on {meta['check_rows']} rows", flush=True)
    cmp = check(meta["check_rows"], [m for m in methods if m != "axolotl_cpus"], pythons, work, tok_dir, tok)
    results = []
    for rows in args.rows:
        results += run_size(rows, methods, pythons, args.repeats, work, tok_cache, tok_dir)
    meta["uptime_after"] = _uptime()
    meta["tree_after"] = _tree()
    meta["versions"] = {m: _versions(m) if m in MAIN else next(r["versions"] for r in results if r["method"] == m)
                        for m in methods}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "peers.json").write_text(json.dumps({"meta": meta, "results": results, "trained_tokens": cmp}, indent=1))
    (out / "peers.md").write_text(markdown(results, cmp, meta))
    print((out / "peers.md").read_text())


def _tree() -> str:
    """The commit and the uncommitted library changes that prepare() ran with."""
    git = ["git", "-C", str(HERE.parent)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run([*git, "status", "--short", "--", "hf_sftprep"], capture_output=True, text=True, check=False)
    changed = " ".join(line.split()[-1] for line in dirty.stdout.splitlines())
    return head.stdout.strip() + (f" plus uncommitted changes to {changed}" if changed else " (clean)")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--method", required=True, choices=list(WORKERS))
    w.add_argument("--data", required=True)
    w.add_argument("--tok", required=True, help="a save_pretrained tokenizer folder")
    w.add_argument("--dump", help="write ids, offsets and the trained mask here (.npz)")
    p.add_argument("--rows", type=int, nargs="+", default=[20000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lf-python", help="python of a venv with llamafactory; skipped when not given")
    p.add_argument("--ax-python", help="python of a venv with axolotl; skipped when not given")
    p.add_argument("--work", default=str(HERE / "results" / "work_peers"))
    args = p.parse_args(argv)
    if args.cmd == "worker":
        return worker(args)
    driver(args)


if __name__ == "__main__":
    main()
