"""Load records and tokenizers for the CLI; save and reopen prepared datasets."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import SFTPrepError

BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}
STATS_FILE = "stats.json"
TOKENIZER_DIR = "tokenizer"


class CLIError(SFTPrepError):
    """A user-facing problem the CLI reports in one line (exit code 2)."""


def load_records(data: str, split: str = "train"):
    """A local file, a directory of files, or a hub dataset name -> ``datasets.Dataset``."""
    import datasets

    path = Path(data)
    if path.is_file():
        builder = BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise CLIError(f"{data}: unsupported file type {path.suffix!r}; expected one of {', '.join(BUILDERS)}.")
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in BUILDERS)
        if not files:
            raise CLIError(f"{data}: directory holds no {', '.join(BUILDERS)} files.")
        kinds = {BUILDERS[p.suffix.lower()] for p in files}
        if len(kinds) > 1:
            raise CLIError(f"{data}: directory mixes file types {sorted(kinds)}; keep one type per directory.")
        return datasets.load_dataset(kinds.pop(), data_files=[str(p) for p in files], split="train")
    if path.suffix.lower() in BUILDERS or data.startswith((".", "/")):
        raise CLIError(f"{data}: no such file or directory.")
    try:
        return datasets.load_dataset(data, split=split)
    except Exception as err:  # offline, unknown name, gated, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CLIError(f"cannot load dataset {data!r} (split {split!r}) from the hub: {first}") from err


def load_tokenizer(name: str, chat_template: str | None = None):
    """A local tokenizer directory or a hub id; ``chat_template`` is a file whose text replaces the template."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CLIError(f"cannot load tokenizer {name!r}: {first}") from err
    if chat_template is not None:
        path = Path(chat_template)
        if not path.is_file():
            raise CLIError(f"--chat-template {chat_template}: no such file.")
        tok.chat_template = path.read_text()
    return tok


def open_prepared(directory: str):
    """Reopen a directory written by ``hf-sftprep build``: (dataset or DatasetDict, tokenizer, stats)."""
    import datasets
    from transformers import AutoTokenizer

    root = Path(directory)
    stats_path = root / STATS_FILE
    if not root.is_dir() or not stats_path.is_file() or not (root / TOKENIZER_DIR).is_dir():
        raise CLIError(
            f"{directory}: not a prepared dataset (expected {STATS_FILE} and {TOKENIZER_DIR}/ inside). "
            "Create one with: hf-sftprep build DATA --tokenizer TOK --out DIR"
        )
    ds = datasets.load_from_disk(str(root / "data"))
    tok = AutoTokenizer.from_pretrained(str(root / TOKENIZER_DIR))
    return ds, tok, json.loads(stats_path.read_text())
