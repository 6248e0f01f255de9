"""Axolotl and LLaMA-Factory configs side by side: the peer's own preprocessing and ours, row by row.

For every supported option and record shape, one case: a small set of generated records (multi-turn chats, system
prompts, chats that open with the assistant where the peer allows it, tool calls, Alpaca rows with and without an
input, ShareGPT from/value rows with role aliases) and one config. The peer prepares them in its own virtual
environment, through its own code path:

- Axolotl 0.19: the dataset entry validated by its ``SFTDataset`` schema, then what ``get_dataset_wrapper`` runs
  (the ``prompt_strategies`` ``load(type, tokenizer, cfg, ds_cfg)`` + ``wrap_dataset_for_tokenized_prompt`` for
  ``chat_template``; its ``AlpacaPromptTokenizingStrategy`` for ``type: alpaca``), as ``axolotl preprocess`` runs it
  after loading;
- LLaMA-Factory 0.9.5: ``get_train_args`` with the matching ``template`` (llama3 / qwen), then
  ``_get_merged_dataset`` (its loader and ``align_dataset``) and ``_get_preprocessed_dataset``, as ``get_dataset``.

Ours: ``from_axolotl`` / ``from_llamafactory`` on the same config written to a temporary folder, run by
``run_recipe``. Per row, the input_ids and the trained positions (labels != -100) are compared; every differing
row is decoded and sorted into a class (``CLASSES``, each read off the actual tokens); a row no class explains is
listed as ``unexplained``. Writes benchmarks/results/peer_configs.json and the tables in docs/migrating.md
(between the ``peer_configs`` markers)::

    python benchmarks/peer_configs.py --lf-python /tmp/peers/lf-venv/bin/python \\
        --ax-python /tmp/peers/ax-venv/bin/python

The side environments are installed as benchmarks/peers.py's INSTALL says. This file is also their worker: its top
level imports only the standard library (and peers.py, which does the same).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURES = ROOT / "tests" / "fixtures" / "peers"
DOCS = ROOT / "docs" / "migrating.md"
sys.path.insert(0, str(HERE))
import peers  # noqa: E402  (stdlib-only at its top level, like this file)

PEER_NAMES = {"axolotl": "Axolotl", "llamafactory": "LLaMA-Factory"}
ROWS = 30
MARK = "peer_configs: "  # the worker's result lines (the peers print their own logs to stdout too)

# ---------------------------------------------------------------- records (pure Python, seeded)

TOPICS = ["the water cycle", "binary search", "a sourdough starter", "TCP handshakes", "the French Revolution",
          "photosynthesis", "compound interest", "Rust lifetimes", "jet lag", "the Fibonacci sequence",
          "garbage collection", "tide pools"]
QUESTIONS = ["Can you explain {t} in two sentences?", "What is a common mistake people make with {t}?",
             "Give me a short example involving {t}.", "Why does {t} matter?", "Summarize {t} for a ten-year-old.",
             "{t}에 대해 간단히 설명해 주세요.", "请用一句话解释{t}。", "How would you test your understanding of {t}?"]
ANSWERS = [
    "{T} is easiest to see with an example: start small, then repeat the step until it settles.",
    "A common mistake with {t} is skipping the first step; check it before moving on.",
    "Here is a sketch:\n\n```python\ndef step(x):\n    return x * 2\n```\n\nIt doubles the input, the core of {t}.",
    "1. Start with the basics of {t}.\n2. Practise on a small case.\n3. Compare your result with a reference.",
    "In short: {t} matters because small changes compound over time.",
    "Think of {t} as a loop: observe, adjust, repeat. 🙂",
    "{T}? Sure. The key idea fits in one line, and the rest is detail.",
]
SYSTEMS = ["You are a concise assistant.", "You are a patient tutor. Answer step by step.",
           "Reply in plain English and avoid jargon.", "너는 친절한 AI 어시스턴트야."]
# edge whitespace at either end of a message: templates trim it or not, and a header's "\n" can merge with it
EDGES = [lambda s: "\n" + s, lambda s: " " + s, lambda s: s + "\n", lambda s: s + "  "]
TOOLS = [
    {"name": "get_weather", "description": "Current weather for a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    {"name": "convert_currency", "description": "Convert an amount between currencies.",
     "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "source": {"type": "string"},
                                                     "target": {"type": "string"}}, "required": ["amount"]}},
]
CITIES = ["Lisbon", "Osaka", "Nairobi", "Quito", "Tromsø"]


def _pair(rng: random.Random, edge: bool) -> tuple[str, str]:
    t = rng.choice(TOPICS)
    q, a = rng.choice(QUESTIONS).format(t=t), rng.choice(ANSWERS).format(t=t, T=t[0].upper() + t[1:])
    if edge:
        a = rng.choice(EDGES)(a)
    return q, a


def chats(n: int, seed: int, *, system_every: int = 2, assistant_first: bool = False) -> list[list[dict]]:
    """Role/content chats: 1-3 exchanges; a system prompt on every system_every-th row; every 5th row has edge
    whitespace on an answer; with assistant_first, every 10th row opens with the assistant (after its system)."""
    rng, out = random.Random(seed), []
    for i in range(n):
        msgs = [{"role": "system", "content": rng.choice(SYSTEMS)}] if system_every and i % system_every == 0 else []
        if assistant_first and i % 10 == 7:
            msgs.append({"role": "assistant", "content": "Hello! What would you like to learn about today?"})
        for k in range(1 + i % 3):
            q, a = _pair(rng, edge=i % 5 == 4 and k == 0)
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        out.append(msgs)
    return out


def renamed(msgs: list[dict], names: dict, role: str = "from", content: str = "value", **extra) -> list[dict]:
    """A chat with its role names and keys renamed (ShareGPT from/value, aliases); extra keys on every message."""
    return [{role: names.get(m["role"], m["role"]), content: m["content"], **extra} for m in msgs]


def alpaca(n: int, seed: int) -> list[dict]:
    """instruction/input/output rows; every other row has an empty input; every 5th an answer with edge whitespace."""
    rng, rows = random.Random(seed), []
    for i in range(n):
        q, a = _pair(rng, edge=i % 5 == 4)
        context = "" if i % 2 else f"Context: {rng.choice(TOPICS)} came up in class today."
        rows.append({"instruction": q, "input": context, "output": a})
    return rows


def tool_chats(n: int, seed: int) -> list[list[dict]]:
    """LLaMA-Factory sharegpt rows: human / function_call / observation / gpt, some after a plain exchange."""
    rng, out = random.Random(seed), []
    for i in range(n):
        msgs = []
        if i % 3 == 0:
            q, a = _pair(rng, edge=False)
            msgs += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
        city = rng.choice(CITIES)
        if i % 2:
            call = {"name": "get_weather", "arguments": {"city": city}}
            msgs += [{"from": "human", "value": f"What's the weather in {city}?"},
                     {"from": "function_call", "value": json.dumps(call)},
                     {"from": "observation", "value": json.dumps({"temp_c": 10 + i, "sky": "clear"})},
                     {"from": "gpt", "value": f"It is {10 + i} °C and clear in {city}."}]
        else:
            call = {"name": "convert_currency", "arguments": {"amount": 5 * i + 1, "source": "EUR", "target": "JPY"}}
            msgs += [{"from": "human", "value": f"How much is {5 * i + 1} EUR in yen?"},
                     {"from": "function_call", "value": json.dumps(call)},
                     {"from": "observation", "value": json.dumps({"result": (5 * i + 1) * 160})},
                     {"from": "gpt", "value": f"{5 * i + 1} EUR is about {(5 * i + 1) * 160} JPY."}]
        out.append(msgs)
    return out


# ---------------------------------------------------------------- cases

@dataclass
class Case:
    """One config and its records. ``config`` is what ours reads (Axolotl: the YAML as a dict, data path and
    base_model filled in per run; LLaMA-Factory: ``{"info": entries, "name": ..., "template": ...}``);
    ``peer_config``, when set, is what the peer reads instead (its own template registry)."""

    name: str
    peer: str
    tok: str
    options: str
    rows: list[dict]
    config: dict
    peer_config: dict | None = None
    note: str = ""
    skipped: str = ""  # why the peer skips rows, where it does (read off its logs and source)


SHAREGPT_NAMES = {"user": "human", "assistant": "gpt"}
FROM_VALUE = {"field_messages": "conversations", "message_property_mappings": {"role": "from", "content": "value"}}
# what every comparison sets on ours: rows in file order, no split, no packing (packing and splitting come after
# the rows are prepared, so they are compared on the unpacked rows)
SIDE_BY_SIDE = {"shuffle_merged_datasets": False, "val_set_size": 0, "sample_packing": False}


def _ax(entry: dict, **top) -> dict:
    return {"base_model": None, "sequence_len": 4096, **SIDE_BY_SIDE, **top,
            "datasets": [{"path": None, "type": "chat_template", **entry}]}


def _ax_fixture(name: str, entry: dict | None = None, **top) -> dict:
    import yaml

    cfg = yaml.safe_load((FIXTURES / name).read_text())
    cfg.update(SIDE_BY_SIDE, **top)
    cfg["datasets"][0].update(entry or {})
    return cfg


def _sharegpt(n: int, seed: int, **kw) -> list[dict]:
    return [{"conversations": renamed(m, SHAREGPT_NAMES)} for m in chats(n, seed, **kw)]


def axolotl_cases() -> list[Case]:
    msgs = [{"messages": m} for m in chats(ROWS, 3, assistant_first=True)]
    cases = [
        Case("lfm2-350m-fft.yaml", "axolotl", "qwen", "field_messages: conversations, message_field_role: from, "
             "message_field_content: value, eot_tokens: [<|im_end|>], split: train[:20%]",
             _sharegpt(5 * ROWS, 1), _ax_fixture("axolotl_LiquidAI_lfm2-350m-fft.yaml"),
             note="Qwen2.5 stands in for LFM2 (both ChatML)"),
        Case("gemma2/qlora.yml", "axolotl", "qwen", "drop_system_message: true, message_property_mappings "
             "from/value", _sharegpt(ROWS, 2),
             _ax_fixture("axolotl_gemma2_qlora.yml", {"chat_template": None}, chat_template="tokenizer_default",
                         eot_tokens=None),
             note="Qwen2.5 stands in for Gemma 2: chat_template: tokenizer_default, eot_tokens removed"),
        Case("llama-3/instruct-lora-8b.yml", "axolotl", "llama3", "messages role/content (the defaults)", msgs,
             _ax_fixture("axolotl_llama-3_instruct-lora-8b.yml", chat_template="tokenizer_default"),
             note="chat_template: tokenizer_default (ours refuses Axolotl's registry entry llama3)"),
        Case("llama-3/instruct-lora-8b.yml, peer's chat_template: llama3", "axolotl", "llama3",
             "Axolotl renders with its registry's llama3; ours with the tokenizer's", msgs,
             _ax_fixture("axolotl_llama-3_instruct-lora-8b.yml", chat_template="tokenizer_default"),
             peer_config=_ax_fixture("axolotl_llama-3_instruct-lora-8b.yml"),
             note="the fixture as written for Axolotl"),
        Case("archived/qwen/lora.yml", "axolotl", "qwen", "type: alpaca", alpaca(ROWS, 4),
             _ax_fixture("axolotl_qwen_lora.yml"), note="Qwen2.5 stands in for Qwen-7B"),
        Case("type: alpaca (Llama 3)", "axolotl", "llama3", "type: alpaca", alpaca(ROWS, 5),
             {**_ax({}), "datasets": [{"path": None, "type": "alpaca"}]}),
    ]
    for eos in ("turn", "last", "all", "none"):
        cases.append(Case(f"train_on_eos: {eos}", "axolotl", "qwen", f"roles_to_train: [assistant], train_on_eos: "
                          f"{eos}, from/value, assistant-first rows", _sharegpt(ROWS, 6, assistant_first=True),
                          _ax({**FROM_VALUE, "roles_to_train": ["assistant"], "train_on_eos": eos})))
    cases.append(Case("train_on_eos: turn (Llama 3)", "axolotl", "llama3", "as above, Llama 3",
                      _sharegpt(ROWS, 7, assistant_first=True), _ax({**FROM_VALUE, "train_on_eos": "turn"})))
    return cases + _axolotl_field_cases()


def _flagged(n: int, seed: int, skip: int) -> list[dict]:
    """Every skip-th assistant message flagged train: false, the others true (users and systems false)."""
    rows = []
    for m in chats(n, seed):
        k = 0
        for msg in m:
            if msg["role"] == "assistant":
                msg["train"] = k % skip != 1
                k += 1
            else:
                msg["train"] = False
        rows.append({"conversations": renamed(m, SHAREGPT_NAMES)})
        for src, dst in zip(m, rows[-1]["conversations"]):
            dst["train"] = src["train"]
    return rows


def _axolotl_field_cases() -> list[Case]:
    aliases = {"user": "person", "assistant": "bot"}
    no_system = [[x for x in m if x["role"] != "system"] for m in chats(ROWS, 11)]
    return [
        Case("message_field_training", "axolotl", "qwen", "message_field_training: train, roles_to_train: "
             "[assistant]", _flagged(ROWS, 8, 2), _ax({**FROM_VALUE, "message_field_training": "train"})),
        Case("message_field_training only", "axolotl", "qwen", "message_field_training: train, roles_to_train: []",
             _flagged(ROWS, 9, 3), _ax({**FROM_VALUE, "message_field_training": "train", "roles_to_train": []})),
        Case("roles aliases", "axolotl", "qwen", "roles: {user: [person], assistant: [bot], system: [system]}, "
             "message_field_role: speaker, message_field_content: text",
             [{"conversations": renamed(m, aliases, "speaker", "text")} for m in chats(ROWS, 10)],
             _ax({"field_messages": "conversations", "message_field_role": "speaker", "message_field_content": "text",
                  "roles": {"user": ["person"], "assistant": ["bot"], "system": ["system"]}})),
        Case("drop_system_message", "axolotl", "qwen", "drop_system_message: true, from/value",
             _sharegpt(ROWS, 12, system_every=1), _ax({**FROM_VALUE, "drop_system_message": True})),
        Case("field_system (default column)", "axolotl", "qwen", "a system column, field_system unset, from/value",
             [{"conversations": renamed(m, SHAREGPT_NAMES), "system": SYSTEMS[i % len(SYSTEMS)]}
              for i, m in enumerate(no_system)], _ax(FROM_VALUE)),
        Case("field_system: sys", "axolotl", "qwen", "field_system: sys (a column), from/value",
             [{"conversations": renamed(m, SHAREGPT_NAMES), "sys": SYSTEMS[i % len(SYSTEMS)]}
              for i, m in enumerate(no_system)], _ax({**FROM_VALUE, "field_system": "sys"})),
    ]


def _lf(name: str, template: str, entry: dict | None = None) -> dict:
    """A dataset_info.json entry (the fixture's, or a new one) read from a local file: a hub entry's
    hf_hub_url / ms_hub_url / om_hub_url / split become ``file_name: NAME.json``."""
    entry = dict(entry or json.loads((FIXTURES / "llamafactory_dataset_info.json").read_text())[name])
    for key in ("hf_hub_url", "ms_hub_url", "om_hub_url", "split"):
        entry.pop(key, None)
    entry.setdefault("file_name", f"{name}.json")
    return {"info": {name: entry}, "name": name, "template": template}


def _role_content(n: int, seed: int, system_every: int = 2) -> list[dict]:
    return [{"messages": m} for m in chats(n, seed, system_every=system_every)]


def llamafactory_cases() -> list[Case]:
    orca = [{"question": r["instruction"] + ("\n" + r["input"] if r["input"] else ""), "response": r["output"],
             "system_prompt": SYSTEMS[i % 4] if i % 2 == 0 else ""} for i, r in enumerate(alpaca(ROWS, 22))]
    history = []
    for i, r in enumerate(alpaca(ROWS, 23)):
        past = [list(_pair(random.Random(i * 7 + k), edge=False)) for k in range(i % 3)]
        history.append({**r, "system": SYSTEMS[i % 4] if i % 2 == 0 else "", "history": past})
    shares = {"messages": "messages", "system": "system"}
    return [
        Case("alpaca_en_demo", "llamafactory", "qwen", "alpaca: instruction/input/output, input empty on half",
             alpaca(ROWS, 20), _lf("alpaca_en_demo", "qwen")),
        Case("alpaca_en_demo (Llama 3)", "llamafactory", "llama3", "as above, template llama3",
             alpaca(ROWS, 21), _lf("alpaca_en_demo", "llama3")),
        Case("openorca", "llamafactory", "qwen", "alpaca columns prompt: question, response, system: system_prompt",
             orca, _lf("openorca", "qwen"), note="hub entry read from a local file"),
        Case("alpaca with history", "llamafactory", "qwen", "alpaca columns prompt, query, response, system, history",
             history, _lf("alpaca_history", "qwen", {"file_name": "alpaca_history.json", "columns": {
                 "prompt": "instruction", "query": "input", "response": "output", "system": "system",
                 "history": "history"}})),
        Case("glaive_toolcall_en_demo", "llamafactory", "qwen", "sharegpt from/value with function_call / observation"
             " tags, tools column", [{"conversations": m, "tools": json.dumps(TOOLS)} for m in tool_chats(ROWS, 24)],
             _lf("glaive_toolcall_en_demo", "qwen")),
        Case("slimorca", "llamafactory", "qwen", "sharegpt from/value (default tags), a first system turn on half",
             _sharegpt(ROWS, 25), _lf("slimorca", "qwen"), note="hub entry read from a local file"),
        Case("slimorca (Llama 3)", "llamafactory", "llama3", "as above, template llama3", _sharegpt(ROWS, 26),
             _lf("slimorca", "llama3"), note="hub entry read from a local file"),
        Case("open_thoughts", "llamafactory", "qwen", "sharegpt tags role/content/user/assistant/system",
             _role_content(ROWS, 27), _lf("open_thoughts", "qwen"), note="hub entry read from a local file"),
        Case("ultrachat_200k", "llamafactory", "llama3", "sharegpt tags role/content/user/assistant (no system_tag)",
             _role_content(ROWS, 28, system_every=0), _lf("ultrachat_200k", "llama3"),
             note="hub entry read from a local file, its split train_sft dropped"),
        Case("ultrachat_200k tags, rows with a system turn", "llamafactory", "llama3", "tags without system_tag, a "
             "first system message on half the rows", _role_content(ROWS, 29), _lf("ultrachat_200k", "llama3"),
             note="hub entry read from a local file, its split train_sft dropped",
             skipped="LLaMA-Factory's DatasetAttr.join sets every tag a `tags` mapping leaves out to None, so this "
                     "entry has no system_tag and a first system message is not an allowed role: its converter logs "
                     "'Invalid role tag' and the processor skips the row. Ours reads the tags the same way and refuses "
                     "these rows by name (unknown_role; dropped and counted with on_invalid: drop)."),
        Case("sharegpt system column", "llamafactory", "qwen", "sharegpt role/content tags, columns messages and "
             "system", [{"messages": [x for x in m if x["role"] != "system"], "system": SYSTEMS[i % 4] if i % 3 else ""}
                        for i, m in enumerate(chats(ROWS, 30))],
             _lf("sharegpt_system", "qwen", {"file_name": "sharegpt_system.json", "formatting": "sharegpt",
                                             "columns": shares, "tags": {
                                                 "role_tag": "role", "content_tag": "content", "user_tag": "user",
                                                 "assistant_tag": "assistant"}})),
    ]


# ---------------------------------------------------------------- workers (run inside the side venvs)

def _ax_prepare(job: dict, scratch: Path):
    """Axolotl's sft path after loading: the entry through its SFTDataset schema (as validate_config does, which
    also turns message_field_role / _content into message_property_mappings), then get_dataset_wrapper's two
    branches for these types, line for line (axolotl.utils.data itself imports peft, which the side venv lacks):
    the registry's strategy (``load``), or for ``alpaca`` (no module of that name) its Alpaca handler."""
    import datasets
    from axolotl.datasets import wrap_dataset_for_tokenized_prompt
    from axolotl.prompt_strategies import load
    from axolotl.prompt_tokenizers import AlpacaPromptTokenizingStrategy, DatasetWrappingStrategy
    from axolotl.prompters import AlpacaPrompter
    from axolotl.utils.dict import DictDefault
    from axolotl.utils.schemas.datasets import SFTDataset
    from transformers import AutoTokenizer

    top, entry = job["config"], job["config"]["datasets"][0]
    ds_cfg = DictDefault(SFTDataset.model_validate(entry).model_dump(exclude_none=True))
    cfg = DictDefault({k: top.get(k) for k in ("sequence_len", "train_on_inputs", "chat_template", "eot_tokens",
                                               "chat_template_jinja")})
    raw = datasets.load_dataset("json", data_files=entry["path"], split=entry.get("split") or "train")
    base, _, style = str(entry["type"]).partition(":")
    tok = AutoTokenizer.from_pretrained(job["tok"])
    strategy = load(ds_cfg.type, tok, cfg, ds_cfg)
    if strategy is None and base == "alpaca":
        strategy = AlpacaPromptTokenizingStrategy(AlpacaPrompter(style or None), tok, cfg.train_on_inputs,
                                                  cfg.sequence_len)
    if isinstance(strategy, DatasetWrappingStrategy):
        ds = strategy.wrap_dataset(raw, process_count=None, keep_in_memory=False)
    else:
        ds = wrap_dataset_for_tokenized_prompt(strategy, raw, process_count=None, keep_in_memory=False)
    return ds, raw.num_rows, list(range(raw.num_rows))


def _lf_prepare(job: dict, scratch: Path):
    """LLaMA-Factory's get_dataset for one entry: its loader and align_dataset, then the supervised processor.
    A row its converter or processor rejects is skipped there; ``kept`` says which rows remain."""
    peers._stub_torchaudio()
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.data.loader import _get_merged_dataset, _get_preprocessed_dataset
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, _, _ = get_train_args({
        "stage": "sft", "do_train": True, "model_name_or_path": job["tok"], "dataset": job["name"],
        "dataset_dir": job["dir"], "template": job["template"], "cutoff_len": 10**9, "overwrite_cache": True,
        "finetuning_type": "lora", "report_to": "none", "output_dir": str(scratch / "out")})
    module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(module["tokenizer"], data_args)
    aligned = _get_merged_dataset([job["name"]], model_args, data_args, training_args, "sft")
    # SupervisedDatasetProcessor.preprocess_dataset drops these (and logs "Dropped invalid example")
    kept = [i for i, (p, r) in enumerate(zip(aligned["_prompt"], aligned["_response"]))
            if len(p) % 2 == 1 and len(r) == 1]
    ds = _get_preprocessed_dataset(aligned, data_args, training_args, "sft", template, module["tokenizer"],
                                   module["processor"])
    return ds, aligned.num_rows, kept


PREPARE = {"axolotl": _ax_prepare, "llamafactory": _lf_prepare}


def worker(args) -> None:
    """Every job of one peer, one JSON line each: rows read, rows kept (source indices), or the error."""
    import datasets

    datasets.disable_progress_bars()
    for job in json.loads(Path(args.jobs).read_text()):
        with tempfile.TemporaryDirectory() as scratch:
            try:
                ds, rows_in, kept = PREPARE[args.peer](job, Path(scratch))
                peers._dump(ds, job["dump"])
                out = {"rows_in": rows_in, "kept": kept}
            except Exception as err:  # a peer that refuses a config is a result, not a crash of the run
                out = {"error": f"{type(err).__name__}: {' '.join(str(err).split())[:600]}"}
        print(MARK + json.dumps({"case": job["case"], **out}), flush=True)
    print(MARK + json.dumps({"versions": peers._versions(args.peer)}), flush=True)


# ---------------------------------------------------------------- comparison (pure Python: tests/test_peer_configs.py)

def row_diff(peer: tuple[list, list], ours: tuple[list, list]) -> list[dict]:
    """Where two rows (input_ids, trained mask) differ, as units: an ``ids`` unit for each stretch of ids that
    differs (difflib's alignment), a ``label`` unit for each aligned equal token that one side alone trains.
    Empty when the rows are equal.

    Example:
        >>> row_diff(([1, 2, 3], [False, True, True]), ([1, 2, 3], [False, True, False]))
        [{'kind': 'label', 'side': 'peer', 'at': 2, 'ours_at': 2}]
        >>> (unit,) = row_diff(([1, 9, 3], [False, True, True]), ([1, 2, 2, 3], [False, True, True, True]))
        >>> unit["kind"], unit["at"], unit["peer"], unit["ours"], unit["ours_trained"]
        ('ids', 1, [9], [2, 2], [True, True])
    """
    import difflib

    (p_ids, p_tr), (o_ids, o_tr) = (list(peer[0]), list(peer[1])), (list(ours[0]), list(ours[1]))
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, p_ids, o_ids, autojunk=False).get_opcodes():
        if tag != "equal":
            out.append({"kind": "ids", "at": i1, "ours_at": j1, "peer": p_ids[i1:i2], "ours": o_ids[j1:j2],
                        "peer_trained": p_tr[i1:i2], "ours_trained": o_tr[j1:j2]})
            continue
        out += [{"kind": "label", "side": "peer" if p_tr[i] else "ours", "at": i, "ours_at": j}
                for i, j in zip(range(i1, i2), range(j1, j2)) if p_tr[i] != o_tr[j]]
    return out


HEADERS, ENDS = ("<|im_start|>", "<|start_header_id|>"), ("<|im_end|>", "<|eot_id|>")


def block(text: str, offset: int) -> tuple[str, str]:
    """The role and the body of the turn that holds character ``offset`` of a rendered ChatML / Llama 3 row
    (``("", text)`` for a row without headers, such as an Alpaca prompt).

    Example:
        >>> block("<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>", 22)
        ('system', 'Be brief.')
    """
    start = max(text.rfind(h, 0, offset + 1) for h in HEADERS)
    if start < 0:
        return "", text
    head = text[start:].split("\n", 1)[0]
    role = head.replace("<|end_header_id|>", "").split("|>", 1)[-1]
    body_start = start + len(head) + 1
    ends = [i for i in (text.find(e, offset) for e in ENDS) if i >= 0]
    return role, text[body_start:min(ends, default=len(text))].strip("\n")


def describe(unit: dict, peer_ids: list, ours_ids: list, decode) -> dict:
    """A unit decoded: the text of the 16 peer tokens before it, the role and text of its turn (``in``,
    ``peer_block``, ``ours_block``), and the token (label) or both sides' text and trained text (ids).

    Example:
        >>> names = {1: "a", 2: "<|im_end|>", 3: "\\n"}
        >>> describe({"kind": "label", "side": "peer", "at": 2, "ours_at": 2}, [1, 2, 3], [1, 2, 3],
        ...          lambda ids: "".join(names[i] for i in ids))["token"]
        '\\n'
    """
    at, o_at = unit["at"], unit["ours_at"]
    peer_text, ours_text = decode(list(peer_ids)), decode(list(ours_ids))
    role, peer_block = block(peer_text, len(decode(list(peer_ids[:at]))))
    out = {"kind": unit["kind"], "at": at, "before": decode(list(peer_ids[max(at - 16, 0):at])), "in": role,
           "peer_block": peer_block, "ours_block": block(ours_text, len(decode(list(ours_ids[:o_at]))))[1]}
    if unit["kind"] == "label":
        return {**out, "side": unit["side"], "token": decode([peer_ids[at]])}
    return {**out, "peer": decode(unit["peer"]), "ours": decode(unit["ours"]),
            "peer_trained": decode([t for t, m in zip(unit["peer"], unit["peer_trained"]) if m]),
            "ours_trained": decode([t for t, m in zip(unit["ours"], unit["ours_trained"]) if m])}


# ---------------------------------------------------------------- driver (main python)

def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _write_case(case: Case, folder: Path, tok_dir: str) -> dict:
    """The records and both configs on disk; returns the peer's job."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    if case.peer == "axolotl":
        data = folder / "data.jsonl"
        data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in case.rows))
        configs = []
        for cfg in (case.config, case.peer_config or case.config):
            cfg = json.loads(json.dumps(cfg))
            cfg["base_model"] = tok_dir
            cfg["datasets"][0]["path"] = str(data)
            configs.append(cfg)
        (folder / "config.yml").write_text(yaml.safe_dump(configs[0], sort_keys=False))
        return {"config": configs[1]}
    info = json.loads((FIXTURES / "llamafactory_dataset_info.json").read_text()) | case.config["info"]
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=1))
    entry = case.config["info"][case.config["name"]]
    (folder / entry["file_name"]).write_text(json.dumps(case.rows, ensure_ascii=False))
    return {"dir": str(folder), "name": case.config["name"], "template": case.config["template"]}


def _ours(case: Case, folder: Path, tok_dir: str, dump: Path) -> dict:
    """from_axolotl / from_llamafactory on the written config, run by run_recipe (rows kept in file order)."""
    from hf_sftprep import SFTPrepError, from_axolotl, from_llamafactory
    from hf_sftprep.datasets.mixture import run_recipe

    try:
        if case.peer == "axolotl":
            recipe = from_axolotl(folder / "config.yml")
        else:
            # rows LLaMA-Factory would skip are refused by ours: dropped and counted, as a user running the
            # config with on_invalid: drop gets them
            recipe = from_llamafactory(folder / "dataset_info.json", case.config["name"], tokenizer=tok_dir,
                                       on_invalid="drop")
            recipe.shuffle = False  # LLaMA-Factory keeps a single dataset in file order
        ds = run_recipe(recipe)[0]
    except SFTPrepError as err:
        return {"error": str(err)}
    peers._dump(ds, str(dump))
    return {"rows": ds.num_rows}


def _run_peer(peer: str, python: str, jobs: list[dict], work: Path) -> dict:
    """One subprocess in the peer's venv for all its jobs, with its own datasets cache (as peers.measure_peer)."""
    path = work / f"jobs-{peer}.json"
    path.write_text(json.dumps(jobs))
    with tempfile.TemporaryDirectory(dir=work) as cache:
        env = dict(os.environ, HF_DATASETS_CACHE=cache, HF_HUB_OFFLINE="1", DISABLE_VERSION_CHECK="1",
                   TOKENIZERS_PARALLELISM="false")
        env.pop("PYTHONPATH", None)  # the side venv must not see the main environment's packages
        proc = subprocess.run([python, str(Path(__file__).resolve()), "worker", "--peer", peer, "--jobs", str(path)],
                              capture_output=True, text=True, env=env, cwd=cache, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{peer} worker failed:\n{proc.stderr[-3000:]}")
    lines = [json.loads(x[len(MARK):]) for x in proc.stdout.splitlines() if x.startswith(MARK)]
    return {"versions": lines[-1]["versions"], "cases": {x["case"]: x for x in lines[:-1]}}


def _load(path: Path) -> list[tuple[list, list]]:
    import numpy as np

    with np.load(path) as npz:
        return [(ids.tolist(), tr.tolist()) for ids, tr in peers._rows({k: npz[k] for k in npz.files})]


def _tail(text: str, keep: int = 80) -> str:
    return text if len(text) <= keep else "…" + text[-keep:]


def compare_case(case: Case, peer_out: dict, ours_out: dict, dumps: dict, decode) -> dict:
    """Per row: peer row j is source row kept[j]; ours keeps every row, in file order."""
    out = {"case": case.name, "peer": case.peer, "tokenizer": case.tok, "options": case.options, "note": case.note,
           "skipped": case.skipped, "rows": len(case.rows)}
    if "error" in peer_out or "error" in ours_out:
        return {**out, "peer_error": peer_out.get("error"), "ours_error": ours_out.get("error")}
    peer_rows, our_rows = _load(dumps["peer"]), _load(dumps["ours"])
    kept = peer_out["kept"]
    out.update(rows=peer_out["rows_in"], peer_rows=len(peer_rows), our_rows=len(our_rows),
               peer_dropped=sorted(set(range(peer_out["rows_in"])) - set(kept)))
    if len(our_rows) == peer_out["rows_in"]:
        ours_at = list(kept)  # ours kept every row: peer row j is ours kept[j]
    elif len(our_rows) == len(kept) and case.skipped:
        ours_at = list(range(len(kept)))  # both left out the rows the case names; paired in order, ids compared
        out["ours_dropped"] = peer_out["rows_in"] - len(our_rows)
    else:
        return {**out, "ours_error": f"ours kept {len(our_rows)} of {peer_out['rows_in']} rows; rows not paired"}
    rows = []
    for j, src in enumerate(kept):
        mine = our_rows[ours_at[j]]
        found = [describe(u, peer_rows[j][0], mine[0], decode) for u in row_diff(peer_rows[j], mine)]
        if found:
            name = classify(case.peer, found)
            for u in found:  # the classes read whole turns; the JSON keeps their ends
                u.update(peer_block=_tail(u["peer_block"]), ours_block=_tail(u["ours_block"]),
                         **{"class": unit_class(case.peer, u)})
            rows.append({"row": src, "ids_equal": peer_rows[j][0] == mine[0], "class": name, "units": found})
    classes: dict[str, int] = {}
    for r in rows:
        classes[r["class"]] = classes.get(r["class"], 0) + 1
    return {**out, "compared": len(kept), "ids_equal": len(kept) - sum(not r["ids_equal"] for r in rows),
            "labels_equal": len(kept) - len(rows), "classes": classes,
            "examples": {c: next(r for r in rows if r["class"] == c) for c in classes}, "differing_rows": rows}


# ---------------------------------------------------------------- classes of differences, read off the tokens

QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def _alpaca_split(u: dict) -> bool:
    """Axolotl writes '### Response:\\n' and then the answer, tokenized apart; ours writes '### Response:' and the
    answer in one text. The unit is that newline, possibly with the answer's first token."""
    return u["kind"] == "ids" and ((u["before"].endswith("### Response") and u["peer"].startswith(":\n")
                                    and u["ours"] == ":" + u["peer"][2:])
                                   or (u["before"].endswith("### Response:\n") and u["peer"] == "\n"
                                       and u["ours"] == ""))


def _unwrapped(block: str) -> str:
    return block.replace('{"type": "function", "function": ', "").replace("}}}\n", "}}\n")


# name -> (peer, reason, test of one described unit); each was read off the decoded rows of a run
CLASSES: dict[str, tuple[str, str, object]] = {
    "straddling header token": (
        "axolotl",
        "an answer opening with '\\n': Qwen's header 'assistant\\n' and that newline merge into one token "
        "('\\n\\n'). Axolotl trains it (its turn starts inside the token); ours leaves it untrained, since it "
        "holds header text (docs/masking.md). The answer's other tokens agree.",
        lambda u: u["kind"] == "label" and u["side"] == "peer" and u["in"] == "assistant"
        and u["before"].endswith("assistant") and u["token"].strip() == "" and u["token"].startswith("\n")),
    "ours trains the default system's end of turn": (
        "axolotl",
        "train_on_eos: all on a row without a system message: Qwen2.5's template writes its default system block, "
        "and ours trains that block's '<|im_end|>' as well; Axolotl trains the end of turn of the row's own "
        "messages only.",
        lambda u: u["kind"] == "label" and u["side"] == "ours" and u["in"] == "system"
        and u["token"] == "<|im_end|>" and u["peer_block"] == QWEN_DEFAULT_SYSTEM),
    "alpaca prompt newline": (
        "axolotl",
        "type: alpaca: Axolotl's prompt ends '### Response:\\n' and the output is tokenized on its own; ours is "
        "Stanford's, '### Response:' followed by the output (the prompt's ids, then the output's, where BPE would "
        "merge the ':' with the output). The trained tokens are the same.",
        lambda u: _alpaca_split(u) and u["peer_trained"] == u["ours_trained"]),
    "ours leaves the alpaca answer's first token untrained": (
        "axolotl",
        "type: alpaca: ours writes '### Response:' straight before the output, and BPE merges the ':' with the "
        "output's first letters (':The', ':A') or its leading newline (':\\n'); that token holds prompt text, so "
        "ours leaves the output's first word untrained. Axolotl's '\\n' keeps them apart and trains it.",
        lambda u: _alpaca_split(u) and u["peer_trained"] != u["ours_trained"]),
    "Axolotl ignores field_system (peer bug)": (
        "axolotl",
        "Axolotl 0.19 never reads field_system for type: chat_template: its SFTDataset schema has no such key "
        "(validation drops it) and its StrategyLoader passes none to ChatTemplatePrompter, whose field_system "
        "parameter then stays 'system'. A system column under another name is ignored, and Qwen2.5's template "
        "writes its default system prompt instead. Ours reads the column that field_system names, and from_axolotl "
        "warns that Axolotl's data had no such system prompt.",
        lambda u: u["kind"] == "ids" and u["in"] == "system" and u["peer_block"] == QWEN_DEFAULT_SYSTEM
        and u["ours_block"] != QWEN_DEFAULT_SYSTEM),
    "newline after <|im_end|> trained": (
        "llamafactory",
        "LLaMA-Factory's qwen template has the assistant slot '{{content}}<|im_end|>\\n' and trains all of it, "
        "the '\\n' after '<|im_end|>' included; ours trains through '<|im_end|>', the end of turn the "
        "tokenizer's template stops generation at.",
        lambda u: u["kind"] == "label" and u["side"] == "peer" and u["token"] == "\n"
        and u["before"].endswith("<|im_end|>")),
    "tool schemas wrapped": (
        "llamafactory",
        "LLaMA-Factory's qwen tool formatter writes each schema of the tools column as {\"type\": \"function\", "
        "\"function\": schema}; the tokenizer's Qwen2.5 template writes the column's items as they are (glaive's "
        "rows hold bare schemas). Write the schemas wrapped in the data and both render the same text.",
        lambda u: u["kind"] == "ids" and u["in"] == "system" and u["peer_block"] != u["ours_block"]
        and _unwrapped(u["peer_block"]) == u["ours_block"]),
    "edge whitespace not trimmed": (
        "llamafactory",
        "LLaMA-Factory's llama3 template writes message text as it is; the tokenizer's Llama 3 template (TRL's "
        "llama3.jinja) trims each message, so an answer's leading or trailing spaces and newlines are in "
        "LLaMA-Factory's row (and trained) and not in ours.",
        lambda u: u["kind"] == "ids" and u["peer"] != u["ours"] and u["peer"].strip() == u["ours"].strip()
        and u["peer_trained"].strip() == u["ours_trained"].strip()),
    "header and answer tokenized apart": (
        "llamafactory",
        "an answer opening with '\\n' on Qwen: LLaMA-Factory encodes the prompt and the answer separately, so "
        "the header's '\\n' and the answer's stay two tokens and the second is trained; whole-text tokenization "
        "merges them into one '\\n\\n' token, which holds header text and ours leaves untrained. Same text.",
        lambda u: u["kind"] == "ids" and u["peer"] == u["ours"] and u["in"] == "assistant"),
}


def unit_class(peer: str, unit: dict) -> str:
    return next((n for n, (p, _, test) in CLASSES.items() if p == peer and test(unit)), "unexplained")


def classify(peer: str, found: list[dict]) -> str:
    """The classes of a row's units, joined by ' + '; a unit no class of that peer explains is 'unexplained'."""
    return " + ".join(sorted({unit_class(peer, u) for u in found}))


# ---------------------------------------------------------------- report (docs/migrating.md, between the markers)

def _marks(peer: str) -> tuple[str, str]:
    return f"<!-- peer_configs: {peer} (written by benchmarks/peer_configs.py) -->", f"<!-- /peer_configs: {peer} -->"


def _code(text: str, keep: int = 60) -> str:
    text = json.dumps(text if len(text) <= keep else "…" + text[-keep:], ensure_ascii=False)[1:-1]
    return peers._cell(f"`{text}`") if text else "(nothing)"


def example(peer: str, row: dict, name: str) -> str:
    """A differing row in a line: its first unit of class ``name``, decoded."""
    u = next(u for u in row["units"] if u["class"] == name)
    who = PEER_NAMES[peer]
    if u["kind"] == "label":
        return f"row {row['row']}: {who if u['side'] == 'peer' else 'ours'} alone trains {_code(u['token'])} " \
               f"after {_code(u['before'], 40)}"
    return (f"row {row['row']}, after {_code(u['before'], 30)}: {who} {_code(u['peer'])}, ours {_code(u['ours'])}; "
            f"trained there: {who} {_code(u['peer_trained'])}, ours {_code(u['ours_trained'])}")


def _table_row(r: dict) -> str:
    name = f"{r['case']}" + (f" ({r['note']})" if r.get("note") else "")
    if r.get("peer_error") or r.get("ours_error"):
        return f"| {peers._cell(name)} | {peers._cell(r['options'])} | {r['rows']} | – | – | " \
               f"{peers._cell('peer: ' + str(r['peer_error']) + '; ours: ' + str(r['ours_error']))} |"
    found = [f"{c} ×{n}" for c, n in r["classes"].items()] or ["none"]
    if r["peer_dropped"]:
        found.append(f"{len(r['peer_dropped'])} rows skipped by the peer")
    return (f"| {peers._cell(name)} | {peers._cell(r['options'])} | {r['compared']}/{r['rows']} | {r['ids_equal']} | "
            f"{r['labels_equal']} | {peers._cell('; '.join(found))} |")


def markdown(peer: str, results: list[dict], meta: dict) -> str:
    mine = [r for r in results if r["peer"] == peer]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"][peer].items())
    lines = [f"Measured with {versions} (ours: {meta['ours']}), {ROWS} generated rows per case "
             f"(`benchmarks/peer_configs.py`; rows, decoded differences: `benchmarks/results/peer_configs.json`). "
             "Rows: compared / written (the peer skips some rows in one case); ids equal: rows whose input_ids "
             "match; labels equal: rows whose input_ids and trained positions (labels != -100) both match.", "",
             "| case | options | rows | ids equal | labels equal | differences (rows) |",
             "|---|---|---:|---:|---:|---|"]
    lines += [_table_row(r) for r in mine]
    seen = {c for r in mine for c in r.get("classes", {}) for c in c.split(" + ")}
    lines += ["", "Each class of difference, as read off the decoded rows (a name that starts with 'ours' is a "
              "difference in hf_sftprep's reading, kept here until it is fixed):", ""]
    for name, (owner, reason, _) in CLASSES.items():
        if owner == peer and name in seen:
            first = next(r for x in mine for r in x.get("differing_rows", []) if name in r["class"].split(" + "))
            case = next(x["case"] for x in mine if first in x.get("differing_rows", []))
            lines.append(f"- **{name}**: {reason} Example ({case}, {example(peer, first, name)}).")
    lines += [f"- **rows skipped by the peer** ({r['case']}: rows {', '.join(map(str, r['peer_dropped']))}): "
              f"{r['skipped']}" for r in mine if r.get("peer_dropped")]
    return "\n".join(lines)


def write_docs(results: list[dict], meta: dict, path: Path = DOCS) -> None:
    """Replace the text between each peer's markers in docs/migrating.md (the markers stay)."""
    text = path.read_text()
    for peer in PEER_NAMES:
        start, end = _marks(peer)
        if start not in text or end not in text:
            raise SystemExit(f"{path}: no {start!r} ... {end!r} markers; add them where the {peer} table goes.")
        head, rest = text.split(start, 1)
        text = head + start + "\n" + markdown(peer, results, meta) + "\n" + end + rest.split(end, 1)[1]
    path.write_text(text)


# ---------------------------------------------------------------- main

def _prepare_all(cases: list[Case], toks: dict, pythons: dict, dumps: dict, work: Path) -> tuple[dict, dict]:
    """Every case written, prepared by ours here and by each peer in one subprocess of its venv."""
    jobs: dict[str, list] = {"axolotl": [], "llamafactory": []}
    ours = {}
    for case in cases:
        tok_dir = toks[case.tok].name_or_path
        job = _write_case(case, dumps[case.name]["peer"].parent, tok_dir)
        jobs[case.peer].append({"case": case.name, "tok": tok_dir, "dump": str(dumps[case.name]["peer"]), **job})
        ours[case.name] = _ours(case, dumps[case.name]["peer"].parent, tok_dir, dumps[case.name]["ours"])
        print(f"  ours {case.peer:12s} {case.name}: {ours[case.name]}", flush=True)
    return ours, {p: _run_peer(p, pythons[p], jobs[p], work) for p in jobs if jobs[p]}


def driver(args) -> None:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["HF_DATASETS_CACHE"] = str(work / "hf_datasets_cache")  # before datasets is imported
    sys.path.insert(0, str(ROOT))
    import datasets

    from hf_sftprep.testing import offline

    datasets.disable_progress_bars()

    toks = {"llama3": offline.llama3_tokenizer(work / "tokenizers"),
            "qwen": offline.qwen2_5_tokenizer(work / "tokenizers")}
    pythons = {"axolotl": args.ax_python, "llamafactory": args.lf_python}
    if args.compare_only and not all(pythons.values()):
        raise SystemExit("--compare-only rewrites the whole JSON and docs tables: pass both --lf-python and "
                         "--ax-python (the peers are not run), so no peer's cases are left out.")
    cases = [c for c in axolotl_cases() + llamafactory_cases() if pythons[c.peer]
             and (not args.only or any(o in c.name for o in args.only))]
    dumps = {c.name: {side: work / "cases" / _slug(f"{c.peer}-{c.name}") / f"{side}.npz" for side in ("peer", "ours")}
             for c in cases}
    saved = work / "runs.json"
    if args.compare_only:
        ours, runs = json.loads(saved.read_text()).values()
    else:
        ours, runs = _prepare_all(cases, toks, pythons, dumps, work)
        saved.write_text(json.dumps({"ours": ours, "runs": runs}))
    results = [compare_case(c, runs[c.peer]["cases"][c.name], ours[c.name], dumps[c.name], toks[c.tok].decode)
               for c in cases]
    for r in results:
        print(f"  {r['peer']:12s} {r['case']:45s} {r.get('ids_equal')}/{r.get('compared')} ids, "
              f"{r.get('labels_equal')} labels, {r.get('classes')}", flush=True)
    meta = {"machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
            "tree": peers._tree(), "versions": {p: r["versions"] for p, r in runs.items()},
            "ours": ", ".join(f"{k} {v}" for k, v in peers._versions("hf_sftprep").items()),
            "classes": {n: {"peer": p, "reason": reason} for n, (p, reason, _) in CLASSES.items()}}
    out = HERE / "results" / "peer_configs.json"
    out.write_text(json.dumps({"meta": meta, "cases": results}, indent=1, ensure_ascii=False))
    if not args.only and all(pythons.values()):
        write_docs(results, meta)
    print(f"wrote {out}" + ("" if args.only or not all(pythons.values()) else f" and {DOCS}"))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--peer", required=True, choices=list(PREPARE))
    w.add_argument("--jobs", required=True)
    p.add_argument("--lf-python", help="python of a venv with llamafactory; its cases are skipped when not given")
    p.add_argument("--ax-python", help="python of a venv with axolotl; its cases are skipped when not given")
    p.add_argument("--compare-only", action="store_true", help="compare the rows the last run prepared (no runs)")
    p.add_argument("--only", nargs="*", help="run the cases whose name contains one of these")
    p.add_argument("--work", default=str(HERE / "results" / "work_peer_configs"))
    args = p.parse_args(argv)
    if args.cmd == "worker":
        return worker(args)
    driver(args)


if __name__ == "__main__":
    main()
