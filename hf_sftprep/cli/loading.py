"""Save and reopen prepared datasets for the CLI; records and tokenizers load through ``hf_sftprep.sources``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..sources import BUILDERS, SourceError, load_records, load_tokenizer, looks_local  # noqa: F401 (CLI interface)

STATS_FILE = "stats.json"
TOKENIZER_DIR = "tokenizer"
LEGACY_DATA_DIR = "data"  # where earlier versions put the dataset, one level down

# the CLI's one-line, exit-2 error is the sources' error: a bad path reads the same from either
CLIError = SourceError


def check_out_dir(out: Path, overwrite: bool) -> None:
    """``--out`` must be new, empty, or replaced with ``--overwrite``."""
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: is a file; expected a directory (new, or empty, or replaced with --overwrite).")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise CLIError(f"--out {out}: directory is not empty; pass --overwrite to replace it.")


def save_prepared(out: Path, ds, tokenizer, stats: dict) -> None:
    """Write the dataset at ``out`` itself (so ``datasets.load_from_disk(out)`` loads it), with
    ``stats.json`` and ``tokenizer/`` beside its files."""
    from datasets import DatasetDict

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    # datasets writes no shard at all for a 0-row dataset, and load_from_disk then fails: ask for one
    if isinstance(ds, DatasetDict):
        ds.save_to_disk(str(out), num_shards={k: 1 for k, d in ds.items() if d.num_rows == 0})
    else:
        ds.save_to_disk(str(out), num_shards=1 if ds.num_rows == 0 else None)
    tokenizer.save_pretrained(str(out / TOKENIZER_DIR))
    (out / STATS_FILE).write_text(json.dumps(stats, indent=2, ensure_ascii=False))


def open_prepared(directory: str):
    """Reopen a directory written by ``hf-sftprep build``: (dataset or DatasetDict, tokenizer, stats).

    Reads both layouts: the dataset at the directory itself, and the older one under ``data/``.
    """
    import datasets
    from transformers import AutoTokenizer

    root = Path(directory)
    stats_path = root / STATS_FILE
    if not root.is_dir() or not stats_path.is_file() or not (root / TOKENIZER_DIR).is_dir():
        raise CLIError(
            f"{directory}: not a prepared dataset (expected {STATS_FILE} and {TOKENIZER_DIR}/ inside). "
            "Create one with: hf-sftprep build DATA --tokenizer TOK --out DIR"
        )
    legacy = root / LEGACY_DATA_DIR
    data = legacy if legacy.is_dir() and not (root / "dataset_dict.json").is_file() and not (root / "state.json").is_file() else root
    ds = datasets.load_from_disk(str(data))
    tok = AutoTokenizer.from_pretrained(str(root / TOKENIZER_DIR))
    return ds, tok, json.loads(stats_path.read_text())
