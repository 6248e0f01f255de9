"""A mixture recipe (YAML or JSON): parsed and checked as a whole before any work starts.

Every problem is one ``SFTPrepError`` line that names the key or the source and the fix.
"""

from __future__ import annotations

import difflib
import glob
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SFTPrepError
from ..options import AlpacaPrompt, OnInvalid, TrainOn, TrainOnEot, check_choice
from ..records.formats import FORMAT_CHOICES
from ..sources import BUILDERS

GLOBAL_KEYS = (
    "tokenizer", "chat_template", "sources", "max_length", "on_invalid", "train_on", "pack", "test_size",
    "seed", "dedupe", "shuffle", "num_proc",
)
SOURCE_KEYS = (
    "name", "path", "hub", "split", "format", "column_map", "role_map", "alpaca_prompt", "system_prompt",
    "take", "fraction", "epochs", "train_on_eot",
)
SHARE_KEYS = ("take", "fraction", "epochs")
FILE_TYPES = BUILDERS  # one table of readable file types (hf_sftprep/sources.py)


@dataclass
class Source:
    """One source of the mixture: where its rows come from, how to read them, and its share."""

    name: str
    files: list[str] | None = None
    builder: str | None = None
    hub: str | None = None
    split: str = "train"
    options: dict = field(default_factory=dict)  # SFTPreprocessor format options
    system_prompt: str | None = None
    take: int | None = None
    fraction: float | None = None
    epochs: float | None = None
    # a batched map function (with_indices) rewriting the rows first, e.g. a peer config's layout as messages
    convert: object = None


@dataclass
class Recipe:
    """A checked recipe; paths are resolved against the recipe file's folder."""

    tokenizer: str
    sources: list[Source]
    chat_template: str | None = None
    max_length: int | None = None
    on_invalid: str = "error"
    train_on: str = "all"
    pack: int | None = None
    test_size: float | int | None = None
    seed: int = 42
    dedupe: bool = False
    shuffle: bool = True
    num_proc: int | None = None


def _fail(where: str, message: str) -> SFTPrepError:
    return SFTPrepError(f"recipe: {where}{message}")


def _check_keys(where: str, data: dict, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _fail(where, f"unknown key {key!r}; {hint}expected one of {', '.join(allowed)}.")


def _choice(where: str, key: str, value, allowed) -> None:
    check_choice(key, value, allowed, prefix=f"recipe: {where}")


def _positive_int(where: str, key: str, value, none_ok: bool = True) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(where, f"{key}: {value!r} is not a positive integer; write e.g. {key}: 2048.")


def read_recipe(recipe: dict | str | Path) -> tuple[dict, Path]:
    """The recipe as a dict and the folder its relative paths are read from (YAML accepts JSON too).

    Example:
        >>> read_recipe({"tokenizer": "./tok", "sources": [{"path": "chats.jsonl"}]})[0]["tokenizer"]
        './tok'
    """
    if isinstance(recipe, dict):
        return recipe, Path.cwd()
    path = Path(recipe)
    if not path.is_file():
        raise SFTPrepError(f"recipe {str(path)!r}: no such file; pass a YAML or JSON recipe file.")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        first = " ".join(str(err).split())
        raise SFTPrepError(f"recipe {str(path)!r}: not valid YAML or JSON ({first}).") from None
    if not isinstance(data, dict):
        raise SFTPrepError(
            f"recipe {str(path)!r}: holds a {type(data).__name__}; expected a mapping with 'tokenizer' and 'sources'.")
    return data, path.resolve().parent


def _files(where: str, path: str, base: Path) -> tuple[list[str], str]:
    """A file, a directory (searched recursively) or a glob -> sorted data files of one type."""
    full = Path(path) if Path(path).is_absolute() else base / path
    if any(c in path for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
    elif full.is_dir():
        found = sorted(p for p in full.rglob("*") if p.is_file())
    elif full.is_file():
        found = [full]
    else:
        raise _fail(where, f"path {path!r}: no such file or directory (looked for {full}); fix the path "
                           "(relative paths are read from the recipe's folder).")
    data = [p for p in found if p.suffix.lower() in FILE_TYPES]
    if not data:
        raise _fail(where, f"path {path!r}: matches no {', '.join(FILE_TYPES)} file; point it at data files.")
    kinds = sorted({FILE_TYPES[p.suffix.lower()] for p in data})
    if len(kinds) > 1:
        raise _fail(where, f"path {path!r}: mixes file types {kinds}; make one source per file type.")
    return [str(p) for p in data], kinds[0]


def _share(where: str, data: dict) -> dict:
    given = [k for k in SHARE_KEYS if data.get(k) is not None]
    if len(given) > 1:
        raise _fail(where, f"sets {' and '.join(given)}; give at most one of take (rows), fraction (0-1) "
                           "or epochs (repeats).")
    out = {k: data.get(k) for k in SHARE_KEYS}
    if out["take"] is not None:
        _positive_int(where, "take", out["take"])
    for key in ("fraction", "epochs"):
        value = out[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise _fail(where, f"{key}: {value!r} is not a positive number; write e.g. {key}: 0.5.")
    if out["fraction"] is not None and out["fraction"] > 1:
        fraction = out["fraction"]
        raise _fail(where, f"fraction: {fraction!r} is above 1; use epochs: {fraction} to repeat the source.")
    return out


def _mapping(where: str, key: str, value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _fail(where, f"{key}: expected a mapping of names to names, e.g. {key}: {{human: user}}; "
                           f"found {value!r}.")
    return dict(value)


def _source(i: int, data, base: Path) -> Source:
    if not isinstance(data, dict):
        raise _fail(f"sources[{i}]: ", f"is a {type(data).__name__}; expected a mapping with 'path' or 'hub'.")
    name = data.get("name")
    where = f"source {name!r}: " if name else f"sources[{i}]: "
    _check_keys(where, data, SOURCE_KEYS)
    if (data.get("path") is None) == (data.get("hub") is None):
        raise _fail(where, "give exactly one of 'path' (a file, directory or glob) "
                           "or 'hub' (a dataset name, with 'split').")
    files = builder = None
    if data.get("path") is not None:
        files, builder = _files(where, str(data["path"]), base)
        name = name or Path(str(data["path"])).stem.replace("*", "") or f"source{i}"
    else:
        name = name or str(data["hub"]).rstrip("/").split("/")[-1]
    where = f"source {name!r}: "
    fmt = data.get("format", "auto")
    _choice(where, "format", fmt, FORMAT_CHOICES)
    alpaca_prompt = data.get("alpaca_prompt")
    if alpaca_prompt is not None:
        _choice(where, "alpaca_prompt", alpaca_prompt, AlpacaPrompt)
    system_prompt = data.get("system_prompt")
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise _fail(where, f"system_prompt: expected a string; found {system_prompt!r}.")
    if system_prompt is not None and alpaca_prompt == "stanford":
        raise _fail(where, "system_prompt needs chat rendering, but alpaca_prompt is 'stanford'; remove one of them.")
    options = {"format": fmt}
    for key in ("column_map", "role_map"):
        if data.get(key) is not None:
            options[key] = _mapping(where, key, data[key])
    if alpaca_prompt is not None:
        options["alpaca_prompt"] = alpaca_prompt
    if data.get("train_on_eot") is not None:
        _choice(where, "train_on_eot", data["train_on_eot"], TrainOnEot)
        options["train_on_eot"] = data["train_on_eot"]
    return Source(
        name=str(name), files=files, builder=builder, hub=data.get("hub"), split=str(data.get("split", "train")),
        options=options, system_prompt=system_prompt, **_share(where, data),
    )


def _globals(data: dict) -> dict:
    out = {k: data[k] for k in GLOBAL_KEYS if k in data and k != "sources"}
    if not isinstance(out.get("tokenizer"), str):
        raise _fail("", "'tokenizer' is missing; name a tokenizer directory or hub id, e.g. tokenizer: ./tok.")
    _positive_int("", "max_length", out.get("max_length"))
    _positive_int("", "num_proc", out.get("num_proc"))
    _choice("", "on_invalid", out.get("on_invalid", "error"), OnInvalid)
    _choice("", "train_on", out.get("train_on", "all"), TrainOn)
    for key in ("dedupe", "shuffle"):
        if not isinstance(out.get(key, False), bool):
            raise _fail("", f"{key}: {out[key]!r} is not true or false.")
    if isinstance(out.get("seed", 0), bool) or not isinstance(out.get("seed", 0), int):
        raise _fail("", f"seed: {out['seed']!r} is not an integer.")
    pack = out.get("pack")
    if pack is True:
        if out.get("max_length") is None:
            raise _fail("", "pack: true packs to max_length, which is not set; set max_length, or write pack: 4096.")
        out["pack"] = out["max_length"]
    elif pack is False:
        out["pack"] = None
    else:
        _positive_int("", "pack", pack)
    size = out.get("test_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0
                             or (isinstance(size, float) and size >= 1)):
        raise _fail("", f"test_size: {size!r} is neither a fraction in (0, 1) nor a row count >= 1.")
    return out


def parse_recipe(recipe: dict | str | Path) -> Recipe:
    """Read and check a whole recipe: keys, values, paths, names and shares.

    Example:
        >>> parse_recipe({"tokenizer": "tok", "max_len": 10, "sources": []})
        Traceback (most recent call last):
        hf_sftprep.errors.SFTPrepError: recipe: unknown key 'max_len'; did you mean 'max_length'? expected one of ...
    """
    data, base = read_recipe(recipe)
    _check_keys("", data, GLOBAL_KEYS)
    options = _globals(data)
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        raise _fail("", "'sources' is missing or empty; list at least one source with a 'path' or 'hub'.")
    parsed = [_source(i, s, base) for i, s in enumerate(sources)]
    seen: set[str] = set()
    for s in parsed:
        if s.name in seen:
            raise _fail(f"source {s.name!r}: ", "the name is used twice; give each source its own 'name'.")
        seen.add(s.name)
    tokenizer = options.pop("tokenizer")
    if (base / tokenizer).exists():  # a local folder, else a hub id
        tokenizer = str(base / tokenizer)
    elif tokenizer.startswith((".", "/", "~")) or tokenizer.count("/") > 1:
        raise _fail("", f"tokenizer {tokenizer!r}: no such directory (looked for {base / tokenizer}); fix the path "
                        "(relative paths are read from the recipe's folder), or name a hub id.")
    template = options.pop("chat_template", None)
    if template is not None:
        full = base / str(template)
        if not full.is_file():
            raise _fail("", f"chat_template {template!r}: no such file (looked for {full}); fix the path.")
        template = str(full)
    return Recipe(tokenizer=tokenizer, sources=parsed, chat_template=template, **options)


def check_rows(source: Source, rows: int, after: str = "") -> None:
    """Fail when the share cannot be met from ``rows`` rows (``take`` above them without repeats), or would
    draw none of them (a ``fraction`` that rounds to 0 rows). ``after`` says what left ``rows`` rows.

    Example:
        >>> check_rows(Source("alpaca", take=500), 200)
        Traceback (most recent call last):
        hf_sftprep.errors.SFTPrepError: recipe: source 'alpaca': take: 500 but the source has 200 rows; ...
    """
    if source.take is not None and source.take > rows:
        repeats = -(-source.take // max(rows, 1))
        raise _fail(
            f"source {source.name!r}: ",
            f"take: {source.take} but the source has {rows} rows; lower take to at most {rows}, "
            f"or replace it with epochs: {repeats} to repeat the source.",
        )
    if source.fraction is not None and rows and int(round(source.fraction * rows)) == 0:
        raise _fail(
            f"source {source.name!r}: ",
            f"fraction: {source.fraction!r} of its {rows} rows{after} is {source.fraction * rows:.3g} rows, which "
            f"rounds to 0, so the source would vanish from the mixture; raise fraction to at least {1 / rows:.3g} "
            "(1 row), write take: 1, or remove the source.",
        )
