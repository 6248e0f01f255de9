"""An Axolotl config (its ``datasets:`` list and the top-level data options) -> a checked :class:`Recipe`.

Each option is read as Axolotl 0.19 reads it (``prompt_strategies/chat_template.py``, ``StrategyLoader``),
or refused by name with what to do instead. Top-level keys that only configure training (``learning_rate``,
``lora_r``, ...) do not change the prepared rows and are not read. docs/migrating.md has the table.

Example (a config from the peer's own repository, on disk)::

    recipe = from_axolotl("examples/LiquidAI/lfm2-350m-fft.yaml")  # Axolotl's own example
    recipe.tokenizer, recipe.sources[0].hub, recipe.sources[0].options["train_on_eot"]
    ('LiquidAI/LFM2-350M', 'mlabonne/FineTome-100k', 'turn')
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from ...errors import RowError, SFTPrepError
from ...options import TrainOnEot, check_choice
from ..recipe import Recipe, Source, _files
from ._rows import PeerRows, check_size, peer_error, read_config, tools_text

logger = logging.getLogger("hf_sftprep")

PEER = "axolotl"
# Axolotl's defaults (ChatTemplatePrompter): names -> role, replaced as a whole by a `roles:` mapping
DEFAULT_ROLES = {"human": "user", "user": "user", "assistant": "assistant", "gpt": "assistant", "system": "system",
                 "tool": "tool"}

# datasets: keys Axolotl reads that hf_sftprep has no counterpart for: the reason and what to do instead
REFUSED_SOURCE_KEYS = {
    "name": "a hub dataset's config name; hf_sftprep loads hub datasets without one. Download that config's files "
            "and point path at them",
    "data_files": "point path at the data file (or a directory of them) instead",
    "ds_type": "hf_sftprep reads the type from the file suffix (.json, .jsonl, .parquet, .csv); point path at such files",
    "revision": "hf_sftprep loads the hub dataset's default revision; download that revision and point path at it",
    "shards": "sharding is not a preparation step here; prepare the whole set (it is cached) or split the files",
    "shards_idx": "sharding is not a preparation step here; prepare the whole set (it is cached) or split the files",
    "preprocess_shards": "hf_sftprep maps in batches already; remove it",
    "trust_remote_code": "hf_sftprep runs no dataset scripts; convert the data to files",
    "conversation": "a FastChat conversation template is Axolotl's own prompt registry; use type: chat_template "
                    "(the tokenizer's template)",
    "input_format": "remove it and give the columns as messages (type: chat_template)",
    "input_transform": "apply the transform to the files first",
    "field": "completion datasets (raw text) are not SFT records; hf_sftprep trains chat or Alpaca records",
    "field_human": "legacy sharegpt field; use field_messages with message_property_mappings",
    "field_model": "legacy sharegpt field; use field_messages with message_property_mappings",
    "message_field_training_detail": "per-character training spans inside a message are not on the verified label "
                                     "path; split the message, or use message_field_training per message",
    "split_thinking": "write the reasoning into a field (field_thinking) instead of inline <think> tags",
    "logprobs_field": "distillation logprobs are not SFT labels",
    "temperature": "distillation logprobs are not SFT labels",
    "chat_template_jinja": "set chat_template_jinja at the top level (one template per recipe)",
}
# top-level keys that would change the prepared rows and have no counterpart here
REFUSED_GLOBAL_KEYS = {
    "default_system_message": "add the system message to the records (or a hf_sftprep recipe's system_prompt)",
    "special_tokens": "set the tokens on the tokenizer and save it, then point base_model at that folder (only "
                      "pad_token is read here: padding happens in the collator, so it does not change the rows)",
    "tokens": "add the tokens to the tokenizer and save it, then point base_model at that folder",
    "added_tokens_overrides": "edit the tokenizer and save it, then point base_model at that folder",
    "chat_template_kwargs": "template arguments are not passed to rendering; bake them into a template file "
                            "(chat_template: jinja, chat_template_jinja: FILE)",
    "tokenizer_use_mistral_common": "hf_sftprep renders with a Hugging Face tokenizer's chat template",
    "test_datasets": "hf_sftprep splits a test set off with val_set_size; remove test_datasets",
    "pretraining_dataset": "pretraining text is not SFT records",
    "rl": "preference / RL data (DPO, KTO, ORPO, GRPO) is not SFT records",
    "skip_prepare_dataset": "hf_sftprep's output is the prepared dataset; remove it",
    "min_sample_len": "hf_sftprep keeps every row that has a trained token; remove it",
    "processor_type": "image, video and audio inputs are not text SFT; hf_sftprep prepares text only",
}
SOURCE_KEYS = (
    "path", "split", "type", "chat_template", "field_messages", "field_system", "field_tools", "field_thinking",
    "template_thinking_key", "message_property_mappings", "message_field_role", "message_field_content",
    "message_field_training", "roles_to_train", "train_on_eos", "train_on_eot", "roles", "drop_system_message",
    *REFUSED_SOURCE_KEYS,
)
TYPES = ("chat_template", "alpaca")
EXCESS = {"drop": "drop", "truncate": "truncate", "raise": "error"}  # excess_length_strategy -> max_length_strategy


class AxolotlRows(PeerRows):
    """Axolotl's ``get_conversation_thread`` as a record rewrite: ``field_messages`` (a list, or a JSON string),
    ``message_property_mappings``, ``roles``, the ``field_system`` column, ``message_field_training`` (as
    ``weight``), ``drop_system_message`` and ``field_tools``.

    Example:
        >>> rows = AxolotlRows("conversations", {"role": "from", "content": "value"}, None, None)
        >>> rows.convert(0, {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]})
        ([{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'yo'}], None)
    """

    def __init__(self, field_messages: str, mappings: dict[str, str], roles: dict[str, str] | None,
                 field_training: str | None, field_system: str = "system", field_tools: str = "tools",
                 drop_system: bool = False, on_invalid: str = "error", by_role: bool = True):
        self.field_messages, self.mappings = field_messages, dict(mappings)
        self.roles = dict(roles) if roles is not None else dict(DEFAULT_ROLES)
        self.field_training, self.field_system, self.field_tools = field_training, field_system, field_tools
        self.drop_system, self.on_invalid = drop_system, on_invalid
        self.by_role = by_role  # roles_to_train holds assistant: unflagged assistant messages are trained

    def _messages(self, row: int, record: Mapping) -> list:
        value = record.get(self.field_messages)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = None
        if not isinstance(value, list) or not all(isinstance(m, Mapping) for m in value):
            found = "missing" if value is None else f"a {type(value).__name__}"
            raise RowError(row, "bad_messages", f"field {self.field_messages!r} (field_messages) is {found}; expected a "
                                                "list of message dicts. Fix the record, or drop it with on_invalid='drop'.")
        return value

    def _message(self, row: int, i: int, message: Mapping) -> dict:
        used = set(self.mappings.values()) | {self.field_training}
        out = {key: message[src] for key, src in self.mappings.items() if message.get(src) is not None}
        if "role" in out and isinstance(out["role"], str):
            out["role"] = self.roles.get(out["role"], out["role"])
        # keys Axolotl passes on when the template reads them (tool_calls, name, ...): passed on, the template decides
        out.update((k, v) for k, v in message.items() if k not in used and k not in out and v is not None)
        content = out.get("content")
        if isinstance(content, list) and any(isinstance(p, Mapping) and ("train" in p or "weight" in p) for p in content):
            raise RowError(row, "bad_content", f"message {i} has content parts with 'train' / 'weight' flags; per-part "
                                               "training is not on the verified label path. Split the message, or drop "
                                               "such rows with on_invalid='drop'.")
        flag = message.get(self.field_training) if self.field_training else None
        if flag is None and not self.by_role and out.get("role") == "assistant":
            out["weight"] = 0
        elif flag is not None:
            if out.get("role") == "assistant":
                out["weight"] = 1 if flag else 0
            elif flag:
                raise RowError(row, "trained_role", f"message {i} has role {out.get('role')!r} and "
                                                    f"{self.field_training}: true; hf_sftprep trains assistant turns "
                                                    "only (their labels are verified against the template). Set it to "
                                                    "false, or drop such rows with on_invalid='drop'.")
        return out

    def convert(self, row: int, record: Mapping) -> tuple[list[dict], str | None]:
        raw = self._messages(row, record)
        turns = [self._message(row, i, m) for i, m in enumerate(raw)]
        system = record.get(self.field_system)
        if turns and turns[0].get("role") != "system" and isinstance(system, str):
            turns.insert(0, {"role": "system", "content": system})
        if self.drop_system and turns and turns[0].get("role") == "system":
            turns = turns[1:]
        return turns, tools_text(row, self.field_tools, record.get(self.field_tools))


def _where(i: int, data: Mapping) -> str:
    return f"datasets[{i}] ({data['path']}): " if isinstance(data.get("path"), str) else f"datasets[{i}]: "


def _check_source_keys(where: str, data: Mapping) -> None:
    for key in data:
        if key in REFUSED_SOURCE_KEYS and data[key] not in (None, False):
            raise peer_error(PEER, where, f"{key} is not supported: {REFUSED_SOURCE_KEYS[key]}.")
        if key not in SOURCE_KEYS:
            raise peer_error(PEER, where, f"unknown key {key!r}; expected one of {', '.join(SOURCE_KEYS)}.")


def _eot(where: str, data: Mapping) -> str:
    eos, eot = data.get("train_on_eos"), data.get("train_on_eot")
    for key, value in (("train_on_eos", eos), ("train_on_eot", eot)):
        if value is not None:
            check_choice(key, value, TrainOnEot, prefix=f"{PEER}: {where}")
    if eos is not None and eot is not None and eos != eot:
        raise peer_error(PEER, where, f"train_on_eos={eos!r} and train_on_eot={eot!r} differ; hf_sftprep has one "
                                      "end of turn per template (the probed one), so give one value.")
    return eot or eos or "turn"


def _roles(where: str, data: Mapping) -> dict[str, str] | None:
    roles = data.get("roles")
    if roles is None:
        return None
    if not isinstance(roles, Mapping) or not all(isinstance(v, list) for v in roles.values()):
        raise peer_error(PEER, where, f"roles: expected a mapping of a role to its names, e.g. "
                                      f"{{assistant: [gpt, bot]}}; found {roles!r}.")
    return {name: target for target, names in roles.items() for name in names}


def _trained_roles(where: str, data: Mapping, roles: dict[str, str] | None) -> bool:
    """Whether assistant messages without a training flag are trained (roles_to_train holds assistant)."""
    wanted = data.get("roles_to_train")
    wanted = ["assistant"] if wanted is None else wanted  # unset or null: Axolotl's default
    names = roles if roles is not None else DEFAULT_ROLES
    mapped = [names.get(r, r) for r in wanted]
    if not mapped and not data.get("message_field_training"):
        raise peer_error(PEER, where, "roles_to_train: [] without message_field_training trains no turn; use "
                                      "roles_to_train: [assistant], or flag the trained messages with "
                                      "message_field_training.")
    other = [r for r in mapped if r != "assistant"]
    if other:
        raise peer_error(PEER, where, f"roles_to_train: {wanted!r} trains role(s) {other}; hf_sftprep trains "
                                      "assistant turns only, whose labels it verifies against the template. Use "
                                      "roles_to_train: [assistant], or train on every token with train_on_inputs: true.")
    return bool(mapped)


def _mappings(where: str, data: Mapping) -> dict[str, str]:
    mappings = dict(data.get("message_property_mappings") or {})
    for legacy, key in (("message_field_role", "role"), ("message_field_content", "content")):
        if data.get(legacy) is not None:
            mappings.setdefault(key, data[legacy])
    if not mappings:  # Axolotl's default, with the reasoning field
        mappings = {"role": "role", "content": "content", "reasoning_content": data.get("field_thinking") or "reasoning_content"}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mappings.items()):
        raise peer_error(PEER, where, f"message_property_mappings: expected names to names; found {mappings!r}.")
    return mappings


def _template_name(where: str, value: object, top: bool) -> None:
    if value in (None, "tokenizer_default") or (isinstance(value, str) and value.startswith("tokenizer_default_fallback_")):
        return
    if value == "jinja" and top:
        return
    raise peer_error(PEER, where, f"chat_template: {value!r} is Axolotl's own template registry entry, not the "
                                  "tokenizer's template; hf_sftprep renders with the tokenizer's template. Use "
                                  "chat_template: tokenizer_default, or save the template text to a file and set "
                                  "chat_template: jinja with chat_template_jinja: FILE at the top level.")


def _location(where: str, data: Mapping) -> dict:
    path = data.get("path")
    if not isinstance(path, str):
        raise peer_error(PEER, where, "path is missing; give a local file or directory, or a hub dataset name.")
    local = Path(path)  # Axolotl reads relative paths from the working directory
    if local.exists() or any(c in path for c in "*?["):
        files, builder = _files(f"{PEER}: {where}", path, Path.cwd())
        # a local file's one split is "train"; Axolotl passes split: (a slice, "train[:20%]") to load_dataset
        return {"files": files, "builder": builder, "split": str(data.get("split") or "train")}
    if path.startswith((".", "/", "~")) or path.count("/") > 1:
        raise peer_error(PEER, where, f"path {path!r}: no such file or directory (relative paths are read from the "
                                      f"working directory, {Path.cwd()}, as Axolotl reads them).")
    return {"hub": path, "split": str(data.get("split") or "train")}


def _source(i: int, data: object, cfg: Mapping, on_invalid: str) -> Source:
    if not isinstance(data, Mapping):
        raise peer_error(PEER, f"datasets[{i}]: ", f"is a {type(data).__name__}; expected a mapping with path and type.")
    where = _where(i, data)
    _check_source_keys(where, data)
    kind = data.get("type")
    if isinstance(kind, str) and kind.startswith("sharegpt"):
        raise peer_error(PEER, where, f"type: {kind} is deprecated in Axolotl itself; write type: chat_template, "
                                      "field_messages: conversations, message_property_mappings: {role: from, "
                                      "content: value}.")
    if kind not in TYPES:
        raise peer_error(PEER, where, f"type: {kind!r} is not supported; expected one of {', '.join(TYPES)} "
                                      "(other types are Axolotl's own prompt formats: use type: chat_template).")
    _template_name(where, data.get("chat_template"), top=False)
    name = Path(str(data["path"])).stem or f"source{i}"
    options = {"train_on_inputs": bool(cfg.get("train_on_inputs") or False)}
    if cfg.get("sequence_len") is not None:
        options["max_length_strategy"] = EXCESS.get(cfg.get("excess_length_strategy") or "drop")
        if options["max_length_strategy"] is None:
            raise peer_error(PEER, "", f"excess_length_strategy: {cfg['excess_length_strategy']!r}; expected one of "
                                       f"{', '.join(EXCESS)}.")
    eot = cfg.get("eot_tokens")
    if eot:
        if not isinstance(eot, list) or len(eot) != 1 or not isinstance(eot[0], str):
            raise peer_error(PEER, "", f"eot_tokens: {eot!r}; hf_sftprep takes one end-of-turn text (which it checks "
                                       "against the template on every row shape); give one token, or remove the key "
                                       "to use the probed one.")
        options["end_of_turn"] = eot[0]
    if kind == "alpaca":
        other = [k for k in data if k not in ("path", "split", "type")]
        if other:
            raise peer_error(PEER, where, f"{other[0]} is a chat_template option; type: alpaca reads instruction, "
                                          "input and output columns only.")
        options.update(format="alpaca", alpaca_prompt="stanford")
        return Source(name=name, options=options, **_location(where, data))
    roles = _roles(where, data)
    by_role = _trained_roles(where, data, roles)
    thinking = data.get("template_thinking_key")
    if thinking not in (None, "reasoning_content"):
        raise peer_error(PEER, where, f"template_thinking_key: {thinking!r}; hf_sftprep passes reasoning to the "
                                      "template as reasoning_content (and thinking); remove the key.")
    options.update(format="openai", train_on_eot=_eot(where, data))
    if data.get("field_system") not in (None, "system"):
        logger.warning(
            "axolotl: %s: field_system: %r: hf_sftprep reads the system prompt from that column, but Axolotl 0.19 "
            "ignores the key for type: chat_template (its dataset schema has no field_system) and takes the "
            "'system' column; data prepared by Axolotl from this config had no such system prompt. Remove "
            "field_system to reproduce it (docs/migrating.md).", where, data["field_system"])
    source = Source(name=name, options=options, **_location(where, data))
    source.convert = AxolotlRows(
        str(data.get("field_messages") or "messages"), _mappings(where, data), roles,
        data.get("message_field_training"), str(data.get("field_system") or "system"),
        str(data.get("field_tools") or "tools"), bool(data.get("drop_system_message")), on_invalid, by_role)
    return source


def _tokenizer(cfg: Mapping) -> str:
    tok = cfg.get("tokenizer_config") or cfg.get("base_model")
    if not isinstance(tok, str):
        raise peer_error(PEER, "", "base_model (or tokenizer_config) is missing; name the model whose tokenizer "
                                   "prepares the data.")
    return tok


def _globals(cfg: Mapping) -> dict:
    for key, why in REFUSED_GLOBAL_KEYS.items():
        value = cfg.get(key)
        if key == "special_tokens" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k != "pad_token"}
        if value not in (None, False, [], {}):
            raise peer_error(PEER, "", f"{key} is not supported: {why}.")
    _template_name("", cfg.get("chat_template"), top=True)
    template = None
    if cfg.get("chat_template") == "jinja" or cfg.get("chat_template_jinja"):
        template = cfg.get("chat_template_jinja")
        if not isinstance(template, str) or not Path(template).is_file():
            raise peer_error(PEER, "", "chat_template_jinja: hf_sftprep reads the template from a file; save the "
                                       "template text to a .jinja file and give its path.")
    length = cfg.get("sequence_len")
    size = cfg.get("val_set_size") or None
    check_size(PEER, "val_set_size", size)
    procs = cfg.get("dataset_processes") or cfg.get("dataset_num_proc")
    return {"tokenizer": _tokenizer(cfg), "chat_template": template, "max_length": length,
            "pack": length if cfg.get("sample_packing") else None, "test_size": size,
            "shuffle": cfg.get("shuffle_merged_datasets", True) is not False, "seed": int(cfg.get("seed") or 42),
            "dedupe": bool(cfg.get("dataset_exact_deduplication")), "num_proc": procs}


def from_axolotl(config: str | Path | Mapping, *, on_invalid: str = "error") -> Recipe:
    """The recipe of an Axolotl config: its ``datasets:`` entries as sources, its data options as the recipe's.

    Args:
        config: an Axolotl YAML file, or its contents as a dict.
        on_invalid: "error" (Axolotl raises on the first bad row too) or "drop" (dropped and counted).

    Returns:
        A :class:`~hf_sftprep.datasets.recipe.Recipe` that :func:`~hf_sftprep.datasets.mixture.run_recipe` runs.
    """
    cfg = read_config(PEER, config) if not isinstance(config, Mapping) else config
    check_choice("on_invalid", on_invalid, ("error", "drop"), prefix=f"{PEER}: ")
    datasets = cfg.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise peer_error(PEER, "", "datasets: is missing or empty; list the SFT datasets (path and type).")
    options = _globals(cfg)
    if cfg.get("sample_packing") and options["max_length"] is None:
        raise peer_error(PEER, "", "sample_packing: true packs to sequence_len, which is not set; set sequence_len.")
    sources = [_source(i, d, cfg, on_invalid) for i, d in enumerate(datasets)]
    seen: dict[str, int] = {}
    for s in sources:  # two entries may read files of one name
        seen[s.name] = seen.get(s.name, 0) + 1
        if seen[s.name] > 1:
            s.name = f"{s.name}_{seen[s.name]}"
    return Recipe(sources=sources, on_invalid=on_invalid, **options)


__all__ = ["AxolotlRows", "from_axolotl"]
