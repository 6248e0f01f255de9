"""The ``hf-sftprep`` command: build | inspect | report | template | demo | verify."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import SFTPrepError
from ..options import AlpacaPrompt, Color, OnInvalid, PackOverflow, SpecialTokensInContent, TrainOn, TruncationSide, choices
from ..records.formats import FORMAT_CHOICES
from .hints import flag_hints, parse_mapping
from .peers import build_from_peer
from .loading import (STATS_FILE, TOKENIZER_DIR, CLIError, check_out_dir, load_records, load_tokenizer, open_prepared,
                      save_prepared)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hf-sftprep", description="Prepare SFT data: assistant-only masked tokens, cached as Arrow.")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="tokenize and mask DATA into a prepared dataset directory")
    b.add_argument("data", nargs="?", help="a .json/.jsonl/.parquet/.csv file, a directory of them, or a hub dataset name")
    b.add_argument("--recipe", help="a YAML/JSON mixture recipe (sources, shares, tokenizer) instead of DATA and --tokenizer")
    b.add_argument("--tokenizer", help="a local tokenizer directory or a hub id")
    b.add_argument("--axolotl", metavar="CONFIG", help="an Axolotl YAML: its datasets: and data options (docs/migrating.md)")
    b.add_argument("--llamafactory", metavar="DATASET_INFO", help="a LLaMA-Factory dataset_info.json (with --dataset)")
    b.add_argument("--dataset", metavar="A,B", help="--llamafactory: the dataset_info.json entries to prepare")
    b.add_argument("--cutoff-len", type=int, help="--llamafactory: LLaMA-Factory's cutoff_len (rows are truncated to it)")
    b.add_argument("--val-size", type=float, help="--llamafactory: LLaMA-Factory's val_size (a fraction, or a row count)")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--split", default="train")
    b.add_argument("--format", default="auto", choices=FORMAT_CHOICES)
    b.add_argument("--alpaca-prompt", choices=choices(AlpacaPrompt))
    b.add_argument("--chat-template", help="file whose text replaces the tokenizer's chat template")
    b.add_argument("--max-length", type=int)
    b.add_argument("--num-proc", type=int)
    b.add_argument("--on-invalid", default="error", choices=choices(OnInvalid))
    b.add_argument("--train-on", default="all", choices=choices(TrainOn))
    b.add_argument("--test-size", type=float, help="also write a test split of this fraction (or row count if >= 1) "
                   "of the distinct prepared rows; rows with equal token ids stay on one side")
    b.add_argument("--seed", type=int, default=42)
    b.add_argument("--overwrite", action="store_true", help="replace a non-empty --out directory")
    b.add_argument("--pack", type=int, metavar="N", help="pack rows into sequences of at most N tokens (best-fit decreasing; use with --max-length N)")
    b.add_argument("--pack-overflow", default="error", choices=choices(PackOverflow),
                   help="rows longer than --pack N: refuse them (error) or leave them out, counted (drop)")
    b.add_argument("--assistant-header", metavar="TEXT", help="the text before every answer, when the probe cannot find it")
    b.add_argument("--end-of-turn", metavar="TEXT", help="the text that closes every answer, when the probe cannot find it")
    b.add_argument("--role-map", metavar="A=B,...", help="rename roles, e.g. human=user,gpt=assistant (or a JSON object)")
    b.add_argument("--column-map", metavar="ROLE=COLUMN,...",
                   help="build messages from one column per role, e.g. user=question,assistant=answer (or JSON)")
    b.add_argument("--truncation-side", default="right", choices=choices(TruncationSide))
    b.add_argument("--special-tokens-in-content", default="error", choices=choices(SpecialTokensInContent))

    i = sub.add_parser("inspect", help="show which tokens of a prepared row are trained")
    i.add_argument("dir")
    i.add_argument("--row", type=int, default=0)
    i.add_argument("--rows", help="a range A:B")
    i.add_argument("--split", default="train")
    i.add_argument("--color", choices=choices(Color), default="auto")

    r = sub.add_parser("report", help="write a self-contained HTML report of a prepared dataset")
    r.add_argument("dir")
    r.add_argument("--out", required=True)
    r.add_argument("--split", default="train")

    t = sub.add_parser("template", help="show what the probe learns about a chat template")
    t.add_argument("tokenizer", nargs="?", help="a local tokenizer directory or a hub id")
    t.add_argument("--chat-template", help="file whose text replaces the tokenizer's chat template")
    t.add_argument("--zoo", action="store_true", help="a markdown table for every template family TRL ships (offline)")
    t.add_argument("--families", action="store_true",
                   help="a markdown table for the published templates outside TRL's folder and real Mistral tokenizers (offline)")

    v = sub.add_parser("verify", help="check prepared rows against apply_chat_template and the prefix-render reference")
    v.add_argument("data", help="a records file (.json/.jsonl/.parquet/.csv) or a folder of them, prepared here "
                   "and checked; or a folder written by hf-sftprep build (with --records)")
    v.add_argument("--tokenizer", help="a local tokenizer directory or a hub id (for a build folder: its tokenizer/)")
    v.add_argument("--records", help="for a build folder: the records file it was built from")
    v.add_argument("--sample", default="1000", metavar="N|all", help="rows to check, drawn with --seed (default 1000)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--split", default="train")
    v.add_argument("--chat-template", help="file whose text replaces the tokenizer's chat template")
    v.add_argument("--format", default="auto", choices=FORMAT_CHOICES)
    v.add_argument("--on-invalid", default="error", choices=choices(OnInvalid))
    v.add_argument("--train-on", default="all", choices=choices(TrainOn))
    v.add_argument("--max-length", type=int)
    v.add_argument("--role-map", metavar="A=B,...", help="rename roles, e.g. human=user,gpt=assistant (or a JSON object)")

    d = sub.add_parser("demo", help="run the whole path offline on the shipped sample data")
    d.add_argument("--row", type=int, default=1)
    return p


def _build_recipe(args) -> None:
    from ..datasets.mixture import run_recipe

    if args.data or args.tokenizer:
        raise CLIError("--recipe names the data and the tokenizer; drop DATA and --tokenizer, or drop --recipe.")
    out = Path(args.out)
    check_out_dir(out, args.overwrite)
    ds, report, tok = run_recipe(args.recipe)
    save_prepared(out, ds, tok, report.to_dict())
    print(report.summary())
    print(f"wrote {out}")


def _build(args) -> None:
    from ..datasets.prepare import prepare, prepare_split
    from ..datasets.stats import stats_for_splits

    if args.axolotl or args.llamafactory:
        return build_from_peer(args)
    if args.recipe:
        return _build_recipe(args)
    if not args.data or not args.tokenizer:
        raise CLIError("build needs DATA and --tokenizer, or --recipe FILE.")
    out = Path(args.out)
    check_out_dir(out, args.overwrite)
    _check_test_size(args.test_size)
    for flag, value in (("--num-proc", args.num_proc), ("--max-length", args.max_length), ("--pack", args.pack)):
        _check_positive(flag, value)
    options = {"format": args.format, "on_invalid": args.on_invalid, "train_on": args.train_on,
               "truncation_side": args.truncation_side, "special_tokens_in_content": args.special_tokens_in_content,
               "assistant_header": args.assistant_header, "end_of_turn": args.end_of_turn,
               "role_map": parse_mapping("--role-map", args.role_map),
               "column_map": parse_mapping("--column-map", args.column_map)}
    if args.alpaca_prompt:
        options["alpaca_prompt"] = args.alpaca_prompt
    raw = load_records(args.data, args.split)
    tok = load_tokenizer(args.tokenizer, args.chat_template)
    options.update(max_length=args.max_length, num_proc=args.num_proc)
    if args.test_size is None:
        ds, reports = prepare(raw, tok, return_report=True, **options)
    else:  # split after tokenizing: rows with equal token ids stay on one side
        ds, reports = prepare_split(raw, tok, _test_rows(raw, args.test_size), seed=args.seed, option="--test-size",
                                    **options)
    if isinstance(reports, dict):
        stats = stats_for_splits(reports)
        summary = "\n".join(f"[{k}] {r.summary()}" for k, r in reports.items())
    else:
        stats, summary = reports.to_dict(), reports.summary()
    print(summary)
    if stats["rows_out"] == 0:
        drops = ", ".join(f"{k}={v}" for k, v in stats["dropped"].items())
        raise CLIError(
            f"every row was dropped ({drops}); nothing was written to {out}. Fix the data, or raise "
            "--max-length if the rows were too_long / no_trained_tokens."
        )
    if args.pack is not None:
        ds = _pack(ds, stats, args.pack, args.seed, args.pack_overflow)
    save_prepared(out, ds, tok, stats)
    print(f"wrote {out}")


def _check_positive(flag: str, value: int | None) -> None:
    """Checked before any data is read, so a typo costs no preparation run."""
    if value is not None and value < 1:
        example = {"--num-proc": "--num-proc 4", "--max-length": "--max-length 2048", "--pack": "--pack 4096"}[flag]
        raise CLIError(f"{flag} {value}: expected a positive number, e.g. {example} (leave it out for no limit).")


def _pack(ds, stats: dict, seq_length: int, seed: int, overflow: str):
    """Pack every split; each split's PackReport goes into stats.json under "packing"."""
    from ..datasets.pack import pack

    ds, reports = pack(ds, seq_length, seed=seed, overflow=overflow, return_report=True)
    for name, report in (reports.items() if isinstance(reports, dict) else [(None, reports)]):
        (stats["splits"][name] if name else stats)["packing"] = report.to_dict()
        print((f"[{name}] " if name else "") + report.summary())
    return ds


def _check_test_size(value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value <= 0 or (value >= 1 and value != int(value))):
        raise CLIError(f"--test-size {value:g}: expected a fraction between 0 and 1, or a whole number of rows >= 1.")


def _test_rows(raw, value: float) -> float | int:
    """The test size checked against the records before anything is tokenized (prepare_split checks it again
    against the distinct rows); datasets' own error named train_size, no flag."""
    from ..datasets.split import test_count

    size, n = (int(value) if value >= 1 else value), raw.num_rows
    if n < 2:
        raise CLIError(f"--test-size {size:g}: the data has {n} row{'s' * (n != 1)}; a test split needs at least 2 "
                       "(one for train); leave out --test-size.")
    if isinstance(size, int) and size >= n:
        raise CLIError(f"--test-size {size}: the data has {n} rows; leave at least one for train.")
    if isinstance(size, float) and test_count(size, n) >= n:
        raise CLIError(f"--test-size {size:g}: {size:g} of the {n} rows rounds up to {test_count(size, n)} test "
                       f"rows, which leaves none for train; give a fraction of at most {n - 1}/{n}, or a row count "
                       f"below {n}, e.g. --test-size 1.")
    return size


def _split(ds, split: str, directory: str):
    from datasets import DatasetDict

    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise CLIError(f"--split {split}: {directory} has no such split; it has {', '.join(ds)}.")
        return ds[split]
    if split != "train":
        raise CLIError(f"--split {split}: {directory} has one split, train (it was built without --test-size); "
                       "drop --split, or rebuild with --test-size.")
    return ds


def _inspect(args) -> None:
    from .visualize import describe_turns, render_pack, render_row

    ds, tok, _ = open_prepared(args.dir)
    ds = _split(ds, args.split, args.dir)
    if args.rows:
        try:
            a, b = (int(x) for x in args.rows.split(":"))
        except ValueError as err:
            raise CLIError(f"--rows {args.rows!r}: expected A:B, e.g. 0:5.") from err
        if a >= b:
            hint = f"{b}:{a}" if a > b else f"{a}:{a + 1}"
            raise CLIError(f"--rows {args.rows}: the range is empty (A must be below B), e.g. --rows {hint}.")
        rows = range(a, max(a + 1, min(b, ds.num_rows)))  # row A is checked below, B is clipped
    else:
        rows = [args.row]
    color = {"always": True, "never": False, "auto": sys.stdout.isatty()}[args.color]
    for r in rows:
        if not 0 <= r < ds.num_rows:
            raise CLIError(f"row {r} is out of range; the dataset has {ds.num_rows} rows.")
        row = ds[r]
        if "seq_lengths" in row:  # a pack: show where each sequence starts
            print(f"--- row {r}: {len(row['input_ids'])} tokens, a pack of {len(row['seq_lengths'])} sequences")
            print(render_pack(tok, row["input_ids"], row["labels"], row["seq_lengths"], color=color))
        else:
            print(f"--- row {r}: {len(row['input_ids'])} tokens")
            print(render_row(tok, row["input_ids"], row["labels"], color=color))
        print(describe_turns(row["labels"]))


def _report(args) -> None:
    from .html_report import build_html

    out = Path(args.out)
    if out.is_dir() or not out.parent.is_dir():
        why = "is a directory" if out.is_dir() else f"its folder {str(out.parent)!r} does not exist"
        raise CLIError(f"--out {args.out}: {why}; expected an HTML file path in an existing folder, e.g. --out report.html.")
    ds, tok, stats = open_prepared(args.dir)
    data = _split(ds, args.split, args.dir)
    split = args.split if "splits" in stats else None
    # stats.json's top level sums all splits; the page shows the numbers of the split it draws
    page = build_html(data, tok, stats["splits"][split] if split else stats, split=split)
    out.write_text(page, encoding="utf-8")
    print(f"wrote {args.out}")


def _verify(args) -> int:
    """Exit code 1 when any checked row differs from the reference."""
    from ..datasets.check import verify
    from ..datasets.prepare import prepare

    sample = None if args.sample == "all" else _sample(args.sample)
    _check_positive("--max-length", args.max_length)
    options = {"format": args.format, "on_invalid": args.on_invalid, "train_on": args.train_on,
               "max_length": args.max_length, "role_map": parse_mapping("--role-map", args.role_map)}
    if (Path(args.data) / STATS_FILE).is_file():  # a build folder: its rows, paired with the records given
        ds, tok, _ = open_prepared(args.data)
        ds = _split(ds, args.split, args.data)
        if not args.records:
            raise CLIError(f"{args.data} is a prepared dataset; it holds no records (prepare() consumes them). Pass "
                           "the records it was built from with --records FILE, and the build's options (--on-invalid, "
                           "--max-length, ...), or verify the records file itself: hf-sftprep verify FILE --tokenizer TOK.")
        if len(_splits(args.data)) > 1:
            raise CLIError(f"{args.data} was built with --test-size: its rows were shuffled into splits and cannot be "
                           "paired with the records. Verify the records file instead: hf-sftprep verify FILE --tokenizer TOK.")
        raw = load_records(args.records, args.split)
        if args.tokenizer or args.chat_template:
            tok = load_tokenizer(args.tokenizer or str(Path(args.data) / TOKENIZER_DIR), args.chat_template)
    else:
        if not args.tokenizer:
            raise CLIError("verify FILE needs --tokenizer (a local tokenizer directory or a hub id).")
        raw = load_records(args.data, args.split)
        tok = load_tokenizer(args.tokenizer, args.chat_template)
        ds, report = prepare(raw, tok, return_report=True, **options)
        print(report.summary())
    report = verify(ds, tok, raw=raw, sample=sample, seed=args.seed, **options)
    print(report.summary())
    return 0 if report.ok else 1


def _sample(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise CLIError(f"--sample {value}: expected a positive number of rows, e.g. --sample 1000, or --sample all.")
    return int(value)


def _splits(directory: str) -> list[str]:
    dict_file = Path(directory) / "dataset_dict.json"
    return json.loads(dict_file.read_text())["splits"] if dict_file.is_file() else ["train"]


def _demo(args) -> None:
    from .demo import run_demo

    run_demo(row=args.row)


def _template(args) -> None:
    from .templates import describe, families_table, zoo_table

    if args.families:
        import tempfile

        with tempfile.TemporaryDirectory() as cache:
            print(families_table(cache))
        return
    if args.zoo:
        import tempfile

        with tempfile.TemporaryDirectory() as cache:
            print(zoo_table(cache))
        return
    if not args.tokenizer:
        raise CLIError("template: give a tokenizer (directory or hub id), or --zoo.")
    print(describe(load_tokenizer(args.tokenizer, args.chat_template)))


COMMANDS = {"build": _build, "inspect": _inspect, "report": _report, "template": _template, "demo": _demo,
            "verify": _verify}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        status = COMMANDS[args.command](args)
    except SFTPrepError as err:
        if args.debug:
            raise
        text = str(err) if getattr(args, "recipe", None) or args.command != "build" else flag_hints(str(err))
        print(f"hf-sftprep: error: {text}", file=sys.stderr)
        return 2
    except Exception as err:
        if args.debug:
            raise
        print(f"hf-sftprep: internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    return status or 0  # verify: 1 when a row differs
