"""Where records and tokenizers come from: local files, directories, hub names. One home, used by the CLI
and by recipes (mixtures); errors are one line naming the path and the fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import SFTPrepError

BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


class SourceError(SFTPrepError):
    """A user-facing problem with a path or name, reported in one line (the CLI exits with code 2)."""


def load_records(data: str, split: str = "train"):
    """A local file, a directory of files, or a hub dataset name -> ``datasets.Dataset``."""
    import datasets

    path = Path(data)
    if path.is_file():
        builder = BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise SourceError(f"{data}: unsupported file type {path.suffix!r}; expected one of {', '.join(BUILDERS)}.")
        return _load_files(builder, [path], data)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in BUILDERS)
        if not files:
            raise SourceError(f"{data}: directory holds no {', '.join(BUILDERS)} files.")
        kinds = {BUILDERS[p.suffix.lower()] for p in files}
        if len(kinds) > 1:
            raise SourceError(f"{data}: directory mixes file types {sorted(kinds)}; keep one type per directory.")
        return _load_files(kinds.pop(), files, data)
    if path.suffix.lower() in BUILDERS or looks_local(data):
        raise SourceError(f"{data}: no such file or directory.")
    try:
        return datasets.load_dataset(data, split=split)
    except Exception as err:  # offline, unknown name, gated, ...
        raise SourceError(f"cannot load dataset {data!r} (split {split!r}) from the hub: {_first_line(err)}") from err


def looks_local(name: str) -> bool:
    """A path rather than a hub id ('org/name' has at most one '/' and no leading '.', '/' or '~')."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name or os.path.isabs(name)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _load_files(builder: str, files: list[Path], data: str):
    """``load_dataset`` on local files; a file it cannot read becomes one line naming the file (and line)."""
    import datasets
    from datasets.exceptions import DatasetGenerationError

    try:
        return datasets.load_dataset(builder, data_files=[str(p) for p in files], split="train")
    except (StopIteration, ValueError, DatasetGenerationError) as err:  # empty file; no data; a parse error
        raise SourceError(_why_unreadable(builder, files, data, err)) from err


def _why_unreadable(builder: str, files: list[Path], data: str, err: BaseException) -> str:
    """Only on the error path: find the empty file or the first malformed JSON line."""
    for p in files:
        if _is_blank(p):
            return f"{p}: the file is empty; expected records (for JSON Lines, one JSON object per line)."
    if builder == "json":
        for p in files:
            bad = _bad_json_line(p)
            if bad is not None:
                line, why = bad
                return f"{p}, line {line}: not valid JSON ({why}); fix or remove that line."
    differ = _columns_differ(builder, files, Path(data)) if len(files) > 1 else None
    if differ:
        return (f"{data}: its files do not all have the same columns (datasets reads a directory as one table): "
                f"{differ}. Give every file the same columns, or load each file on its own (hf-sftprep build FILE, "
                "or one recipe source per file).")
    return f"{data}: cannot read the records: {_first_line(err.__cause__ or err)}"


def _columns_differ(builder: str, files: list[Path], root: Path) -> str | None:
    """"a.jsonl has messages; b.jsonl also has id" for the files whose columns differ from the first file's
    (at most 5 named), or None when they all match. datasets' cast error said only "Couldn't cast" or
    "Schema at index 1 was different:", naming neither file."""
    columns = [_columns(builder, p) for p in files]
    if any(c is None for c in columns) or all(set(c) == set(columns[0]) for c in columns):
        return None
    name = (lambda p: str(p.relative_to(root))) if root.is_dir() else (lambda p: p.name)
    first = columns[0]
    parts = [f"{name(files[0])} has {', '.join(first)}"]
    odd = [(p, c) for p, c in zip(files[1:], columns[1:]) if set(c) != set(first)]
    for p, c in odd[:5]:
        extra, lacks = [x for x in c if x not in first], [x for x in first if x not in c]
        parts.append(name(p) + " " + " and ".join(
            ([f"also has {', '.join(extra)}"] if extra else []) + ([f"lacks {', '.join(lacks)}"] if lacks else [])))
    if len(odd) > 5:
        parts.append(f"and {len(odd) - 5} more files differ")
    return "; ".join(parts)


def _columns(builder: str, path: Path) -> list[str] | None:
    """A file's column names in the order they first appear (for JSON, over all its records), or None."""
    try:
        if builder == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if builder == "csv":
            import csv

            with path.open(newline="", encoding="utf-8", errors="replace") as f:
                return next(csv.reader(f), [])
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            whole = json.loads(text)
            records = whole if isinstance(whole, list) else [whole]
        except json.JSONDecodeError:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        return list(dict.fromkeys(k for r in records if isinstance(r, dict) for k in r))
    except Exception:  # noqa: BLE001 - only an explanation is lost; the caller falls back to datasets' error
        return None


def _is_blank(path: Path) -> bool:
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            if chunk.strip():
                return False
    return True


def _bad_json_line(path: Path) -> tuple[int, str] | None:
    """(line number, reason) of the first line that is not JSON, for a JSON Lines file; for one JSON
    document (an array or object over many lines), where the document breaks."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        json.loads(text)
        return None
    except json.JSONDecodeError as whole:
        lines = text.splitlines()
        first = next((ln for ln in lines if ln.strip()), "")
        try:
            json.loads(first)
        except json.JSONDecodeError:
            return whole.lineno, f"{whole.msg} at column {whole.colno}"
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    json.loads(line)
                except json.JSONDecodeError as bad:
                    return number, f"{bad.msg} at column {bad.colno}"
    return None


def load_tokenizer(name: str, chat_template: str | None = None):
    """A local tokenizer directory or a hub id; ``chat_template`` is a file whose text replaces the template."""
    from transformers import AutoTokenizer

    path = Path(name).expanduser()
    if looks_local(name) and not path.exists():
        raise SourceError(f"--tokenizer {name}: no such directory.")
    if path.is_file():
        raise SourceError(f"--tokenizer {name}: is a file; expected a tokenizer directory (with tokenizer_config.json).")
    try:
        tok = AutoTokenizer.from_pretrained(str(path) if path.is_dir() else name)
    except Exception as err:
        raise SourceError(f"cannot load tokenizer {name!r}: {_first_line(err)}") from err
    if chat_template is not None:
        path = Path(chat_template)
        if not path.is_file():
            raise SourceError(f"--chat-template {chat_template}: no such file.")
        tok.chat_template = path.read_text()
    return tok


