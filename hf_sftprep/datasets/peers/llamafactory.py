"""LLaMA-Factory's ``dataset_info.json`` entries -> a checked :class:`Recipe`.

Each entry is read as LLaMA-Factory 0.9.5 reads it (``data/parser.py`` ``DatasetAttr``, ``data/converter.py``):
``formatting`` alpaca or sharegpt, its ``columns`` and ``tags``, the ``system``, ``history`` and ``tools``
columns, ``num_samples``. Fields for images, video, audio, ranking and KTO, and the non-Hugging-Face hubs,
are refused by name. The training arguments ``cutoff_len`` and ``val_size`` are not in the file; they are
passed here (the CLI's ``--cutoff-len`` / ``--val-size``). docs/migrating.md has the table.

Example (a config from the peer's own repository, on disk)::

    recipe = from_llamafactory("data/dataset_info.json", ["alpaca_en_demo"], tokenizer="Qwen/Qwen2.5-0.5B-Instruct")
    recipe.sources[0].name, recipe.sources[0].options["format"]
    ('alpaca_en_demo', 'openai')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ...errors import RowError
from ...options import check_choice
from ...records.sharegpt import sharegpt_messages
from ..recipe import Recipe, Source, _files
from ._rows import PeerRows, check_size, peer_error, read_config, tools_text

PEER = "llamafactory"
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": None,
                  "system": None, "tools": None}
SHAREGPT_COLUMNS = {"messages": "conversations", "system": None, "tools": None}
TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
        "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
# our ShareGPT reader's names for LLaMA-Factory's roles (records/sharegpt.py SHAREGPT_ROLES)
OUR_NAMES = {"user_tag": "human", "assistant_tag": "gpt", "observation_tag": "observation",
             "function_tag": "function_call", "system_tag": "system"}
ENTRY_KEYS = ("file_name", "hf_hub_url", "formatting", "ranking", "split", "num_samples", "columns", "tags",
              "subset", "folder", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")
REFUSED_COLUMNS = {
    "images": "image inputs are not text SFT; hf_sftprep prepares text only",
    "videos": "video inputs are not text SFT; hf_sftprep prepares text only",
    "audios": "audio inputs are not text SFT; hf_sftprep prepares text only",
    "chosen": "ranking (preference) data is not SFT records",
    "rejected": "ranking (preference) data is not SFT records",
    "kto_tag": "KTO data is not SFT records",
}
REFUSED_ENTRY = {
    "ms_hub_url": "hf_sftprep loads from the Hugging Face hub or local files; download the data and use file_name",
    "om_hub_url": "hf_sftprep loads from the Hugging Face hub or local files; download the data and use file_name",
    "script_url": "hf_sftprep runs no dataset scripts; convert the data to files and use file_name",
    "cloud_file_name": "download the file and use file_name",
    "subset": "a hub dataset's config name; hf_sftprep loads hub datasets without one. Download that subset's files "
              "and use file_name",
    "folder": "a folder inside a hub dataset; download it and use file_name",
}


class LlamaFactoryRows(PeerRows):
    """LLaMA-Factory's converters as a record rewrite.

    alpaca: ``history`` pairs, then one user message ``"\\n".join`` of the non-empty ``prompt`` and ``query``,
    then the ``response``; ``system`` and ``tools`` columns. sharegpt: ``tags`` name the role and content keys
    and each role; a first message with ``system_tag`` is the system prompt, else the ``system`` column.

    Example:
        >>> LlamaFactoryRows("alpaca", dict(ALPACA_COLUMNS), dict(TAGS)).convert(
        ...     0, {"instruction": "Add", "input": "1+1", "output": "2"})
        ([{'role': 'user', 'content': 'Add\\n1+1'}, {'role': 'assistant', 'content': '2'}], None)
    """

    def __init__(self, formatting: str, columns: dict, tags: dict, on_invalid: str = "error"):
        self.formatting, self.columns, self.tags, self.on_invalid = formatting, dict(columns), dict(tags), on_invalid

    def _text(self, row: int, key: str, value: object) -> str:
        if not isinstance(value, str):
            raise RowError(row, "bad_content", f"field {self.columns[key]!r} ({key}) is "
                                               f"{'missing' if value is None else 'a ' + type(value).__name__}; "
                                               "expected a string. Fix it, or drop such rows with on_invalid='drop'.")
        return value

    def _alpaca(self, row: int, record: Mapping) -> list[dict]:
        c = self.columns
        messages = []
        history = record.get(c["history"]) if c["history"] else None
        if isinstance(history, list):  # LLaMA-Factory reads a list of [query, response] pairs, nothing else
            for pair in history:
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise RowError(row, "bad_messages", f"field {c['history']!r} (history) holds {pair!r}; expected "
                                                        "[query, response] pairs. Fix it, or drop such rows with "
                                                        "on_invalid='drop'.")
                messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
        query = [record[c[k]] for k in ("prompt", "query") if c[k] and record.get(c[k])]
        messages.append({"role": "user", "content": "\n".join(query)})
        messages.append({"role": "assistant", "content": self._text(row, "response", record.get(c["response"]))})
        return messages

    def _sharegpt(self, row: int, record: Mapping) -> tuple[list[dict], object]:
        t, column = self.tags, self.columns["messages"]
        turns = record.get(column)
        if not isinstance(turns, list) or not all(isinstance(m, Mapping) for m in turns):
            raise RowError(row, "bad_messages", f"field {column!r} (messages) is not a list of message dicts. "
                                                "Fix the record, or drop it with on_invalid='drop'.")
        names = {t[k]: OUR_NAMES[k] for k in OUR_NAMES if t.get(k)}
        items = []
        for i, m in enumerate(turns):
            role = m.get(t["role_tag"])
            if role not in names:
                unset = [k for k in OUR_NAMES if not t.get(k)]
                why = (f" (tags leaves out {', '.join(unset)}: LLaMA-Factory then reads no such role and skips the "
                       f"row; add the tag naming {role!r} to tags to keep such rows)" if unset else "")
                raise RowError(row, "unknown_role", f"field {column!r}[{i}] has {t['role_tag']}={role!r}; expected one "
                                                    f"of the tags {', '.join(map(repr, names))}{why}. Fix the record or "
                                                    "the tags, or drop such rows with on_invalid='drop'.")
            items.append({"from": names[role], "value": m.get(t["content_tag"])})
        system = None
        if items and t.get("system_tag") and items[0]["from"] == "system":
            system, items = items[0]["value"], items[1:]
        elif self.columns["system"]:
            system = record.get(self.columns["system"])
        return sharegpt_messages(row, items), system

    def convert(self, row: int, record: Mapping) -> tuple[list[dict], str | None]:
        if self.formatting == "alpaca":
            messages = self._alpaca(row, record)
            system = record.get(self.columns["system"]) if self.columns["system"] else None
        else:
            messages, system = self._sharegpt(row, record)
        if system:  # LLaMA-Factory's templates write a system block only for a non-empty system
            messages.insert(0, {"role": "system", "content": self._text(row, "system", system)})
        tools = self.columns["tools"]
        return messages, tools_text(row, tools, record.get(tools)) if tools else None


def _tags(where: str, given: object) -> dict:
    """LLaMA-Factory's tags: its defaults without a ``tags`` map; with one, every tag it leaves out is None
    (``DatasetAttr.join`` sets each from the map), so a role it does not name is no role at all."""
    if given is None:
        return dict(TAGS)
    tags = {k: _mapping(where, "tags", given, TAGS).get(k) for k in TAGS}
    for key in ("role_tag", "content_tag"):
        if not tags[key]:
            raise peer_error(PEER, where, f"tags has no {key}: LLaMA-Factory then reads the messages with the key "
                                          f"None; add {key} (its default is {TAGS[key]!r}) to tags.")
    return tags


def _mapping(where: str, key: str, value: object, allowed: Mapping) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise peer_error(PEER, where, f"{key}: expected a mapping; found {value!r}.")
    for k, v in value.items():
        if k in REFUSED_COLUMNS:
            raise peer_error(PEER, where, f"{key}.{k} is not supported: {REFUSED_COLUMNS[k]}.")
        if k not in allowed:
            raise peer_error(PEER, where, f"{key}.{k} is not read for this formatting; expected one of "
                                          f"{', '.join(allowed)}.")
        if not isinstance(v, str):
            raise peer_error(PEER, where, f"{key}.{k}: expected a column or tag name; found {v!r}.")
    return dict(value)


def _location(where: str, entry: Mapping, base: Path) -> dict:
    if entry.get("hf_hub_url"):
        return {"hub": str(entry["hf_hub_url"]), "split": str(entry.get("split") or "train")}
    if not entry.get("file_name"):
        raise peer_error(PEER, where, "has neither file_name nor hf_hub_url; give the data file (read from the "
                                      "dataset_info.json folder) or a hub dataset.")
    files, builder = _files(f"{PEER}: {where}", str(entry["file_name"]), base)
    return {"files": files, "builder": builder}


def _source(name: str, entry: object, base: Path, on_invalid: str) -> Source:
    where = f"dataset {name!r}: "
    if not isinstance(entry, Mapping):
        raise peer_error(PEER, where, f"is a {type(entry).__name__}; expected a mapping with file_name.")
    for key, value in entry.items():
        if key not in ENTRY_KEYS:
            raise peer_error(PEER, where, f"unknown field {key!r}; expected one of {', '.join(ENTRY_KEYS)}.")
        if key in REFUSED_ENTRY and value:
            if key in ("ms_hub_url", "om_hub_url") and entry.get("hf_hub_url"):
                continue  # LLaMA-Factory takes hf_hub_url when both are given (without USE_MODELSCOPE_HUB)
            raise peer_error(PEER, where, f"{key} is not supported: {REFUSED_ENTRY[key]}.")
    if entry.get("ranking"):
        raise peer_error(PEER, where, "ranking: true is preference data (chosen / rejected), not SFT records; "
                                      "prepare the chosen answers as SFT rows, or use a preference trainer's tools.")
    formatting = entry.get("formatting", "alpaca")
    if formatting == "openai":
        raise peer_error(PEER, where, "formatting: openai is not supported: LLaMA-Factory 0.9.5's openai converter "
                                      "adds the system text 'detailed thinking off' to every row. Use formatting: "
                                      "sharegpt with tags {role_tag: role, content_tag: content, user_tag: user, "
                                      "assistant_tag: assistant, system_tag: system}, or a hf_sftprep recipe (its "
                                      "openai format reads the rows as they are).")
    check_choice("formatting", formatting, ("alpaca", "sharegpt"), prefix=f"{PEER}: {where}")
    defaults = ALPACA_COLUMNS if formatting == "alpaca" else SHAREGPT_COLUMNS
    columns = {**defaults, **_mapping(where, "columns", entry.get("columns"), defaults)}
    if formatting == "alpaca" and entry.get("tags"):
        raise peer_error(PEER, where, "tags are read for formatting: sharegpt only; remove them.")
    tags = _tags(where, entry.get("tags"))
    take = entry.get("num_samples")
    if take is not None and (isinstance(take, bool) or not isinstance(take, int) or take < 1):
        raise peer_error(PEER, where, f"num_samples: {take!r} is not a positive integer.")
    source = Source(name=name, options={"format": "openai"}, take=take, **_location(where, entry, base))
    source.convert = LlamaFactoryRows(formatting, columns, tags, on_invalid)
    return source


def from_llamafactory(dataset_info: str | Path, names: Sequence[str] | str, *, tokenizer: str,
                      cutoff_len: int | None = None, val_size: float | int | None = None,
                      on_invalid: str = "error", seed: int = 42) -> Recipe:
    """The recipe of the named ``dataset_info.json`` entries (LLaMA-Factory's ``dataset: a,b``).

    Args:
        dataset_info: the ``dataset_info.json`` file; ``file_name`` paths are read from its folder.
        names: the entries to prepare, a list or LLaMA-Factory's comma-separated string.
        tokenizer: a tokenizer directory or hub id (LLaMA-Factory takes it from ``model_name_or_path``).
        cutoff_len: LLaMA-Factory's training argument: rows are truncated to it (keep_start, after labelling).
        val_size: LLaMA-Factory's training argument: the test split (a fraction, or a row count).
        on_invalid: "error" or "drop" (LLaMA-Factory drops malformed rows with a warning).
        seed: for ``num_samples`` draws and the split.
    """
    info = read_config(PEER, dataset_info)
    base = Path(dataset_info).resolve().parent
    check_choice("on_invalid", on_invalid, ("error", "drop"), prefix=f"{PEER}: ")
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if not wanted:
        raise peer_error(PEER, "", "no dataset named; pass the entries to prepare, e.g. --dataset alpaca_en_demo.")
    missing = [n for n in wanted if n not in info]
    if missing:
        raise peer_error(PEER, "", f"dataset {missing[0]!r} is not in {dataset_info}; it has {', '.join(info)}.")
    if cutoff_len is not None and (isinstance(cutoff_len, bool) or not isinstance(cutoff_len, int) or cutoff_len < 1):
        raise peer_error(PEER, "", f"cutoff_len: {cutoff_len!r} is not a positive integer.")
    check_size(PEER, "val_size", val_size)
    sources = [_source(n, info[n], base, on_invalid) for n in wanted]
    return Recipe(tokenizer=tokenizer, sources=sources, max_length=cutoff_len, test_size=val_size or None,
                  on_invalid=on_invalid, seed=seed)


__all__ = ["LlamaFactoryRows", "from_llamafactory"]
