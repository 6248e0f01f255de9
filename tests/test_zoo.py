"""Every non-vision TRL template family: the engine's labels against the twin reference (select with -m zoo).

For each family in ``ZOO_FAMILIES``: ``SFTPreprocessor`` constructs without options, and on random
conversations (plain, reasoning, and tools where the template renders tool calls) that the original
template renders and its ``_training`` twin renders identically, ``prepare()`` gives exactly the
normalized reference labels, row for row, dropping none. Conversations the original template
refuses (Gemma with a system message, Llama 3.1 with two parallel calls, DeepSeek-V3 with dict
arguments) are counted and left out; families without a twin get literal expectations.
"""

from __future__ import annotations

import json
import random

import pytest
from conversations import none_content_as_empty, random_chat
from datasets import Dataset, load_dataset
from zoo_reference import (
    IGNORE,
    ReferenceError,
    closing_suffix,
    reference_labels,
    reference_labels_cut,
    render,
    renders_same,
)

import hf_sftprep
from hf_sftprep import SFTPreprocessor, probe_template as tok_spec
from hf_sftprep.testing.zoo import ZOO_FAMILIES

pytestmark = pytest.mark.zoo

N_CONVERSATIONS = 40
TWINNED = [name for name, fam in ZOO_FAMILIES.items() if fam.twin]
UNTWINNED = [name for name, fam in ZOO_FAMILIES.items() if not fam.twin]
HI = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def zoo_cases(name: str, tok, twin, n: int = N_CONVERSATIONS) -> tuple[list[dict], list[tuple], dict]:
    """Rows to prepare, their reference ``(ids, labels)``, and counts of what was left out and why."""
    kinds = ["plain", "reasoning"] + (["tools"] if ZOO_FAMILIES[name].supports_tools() else [])
    rows, refs = [], []
    counts = {"refused": 0, "twin_differs": 0, "no_reference": 0}
    for seed in range(n):
        messages, tools = random_chat(random.Random(seed), kinds[seed % len(kinds)])
        for candidate in (none_content_as_empty(messages), messages):
            try:
                render(tok, candidate, tools)
                break
            except Exception:  # the original template refuses this conversation (raise_exception, bad types)
                candidate = None
        if candidate is None:
            counts["refused"] += 1
            continue
        suffix = None
        if not renders_same(tok, twin, candidate, tools):
            suffix = closing_suffix(tok, twin, candidate, tools)
            if suffix is None:
                counts["twin_differs"] += 1
                continue
        try:
            refs.append(reference_labels(twin, candidate, tools) if suffix is None
                        else reference_labels_cut(twin, candidate, tools, suffix))
        except ReferenceError:
            counts["no_reference"] += 1
            continue
        rows.append({"row": seed, "messages": candidate, "tools": tools})
    return rows, refs, counts


@pytest.mark.parametrize("name", list(ZOO_FAMILIES))
def test_constructs_without_options(zoo, name):
    tok, _ = zoo(name)
    SFTPreprocessor(tok)


@pytest.mark.parametrize("name", TWINNED)
def test_labels_equal_twin_reference(zoo, name, tmp_path):
    tok, twin = zoo(name)
    rows, refs, counts = zoo_cases(name, tok, twin)
    if not rows:
        pytest.skip(f"{name}: no conversation renders the same in the original and the twin ({counts})")
    # through a JSONL file and load_dataset, as users load records: Arrow adds None for absent keys and
    # unifies the tool schemas across rows; the reference was computed on the original Python dicts
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    raw = load_dataset("json", data_files=str(path), split="train")
    ds, report = hf_sftprep.prepare(raw, tok, on_invalid="drop", return_report=True)
    # issue 11 keeps the user's columns; until then, rows align by position when none was dropped
    keys = ds["row"] if "row" in ds.column_names else [r["row"] for r in rows][: len(ds)]
    assert "row" in ds.column_names or len(ds) == len(rows), f"{name}: {len(rows) - len(ds)} rows dropped ({report})"
    got = dict(zip(keys, zip(ds["input_ids"], ds["labels"])))
    # the one counted refusal allowed: tool rounds a template renders inside one turn (Gemma 4); never silent
    allowed = report.dropped.get("unsupported_tool_round", 0)
    assert not tok_spec(tok).tool_rounds or not allowed
    missing = [r["row"] for r in rows if r["row"] not in got]
    assert len(missing) == allowed and set(report.dropped) <= {"unsupported_tool_round"}, (
        f"{name}: {len(missing)} of {len(rows)} renderable rows dropped ({report})")
    rows, refs = zip(*[(r, ref) for r, ref in zip(rows, refs) if r["row"] in got]) if got else ((), ())
    wrong = [r["row"] for r, ref in zip(rows, refs) if got[r["row"]] != (ref[0], ref[1])]
    assert not wrong, f"{name}: {len(wrong)} of {len(rows)} rows differ from the reference (seeds {wrong[:5]}; {counts})"


@pytest.mark.parametrize("name", UNTWINNED)
def test_untwinned_single_turn(zoo, name):
    """No twin: the rule by hand. The turn opens after the generation prompt and ends at its closing token."""
    tok, _ = zoo(name)
    closing = "<turn|>" if name.startswith("gemma4") else "<|eot_id|>"
    ds = hf_sftprep.prepare(Dataset.from_list([{"messages": HI}]), tok)
    ids, labels = ds[0]["input_ids"], ds[0]["labels"]
    assert ids == tok(render(tok, HI, None), add_special_tokens=False)["input_ids"]
    trained = [t for t in labels if t != IGNORE]
    assert trained == tok.encode("Hello!" + closing, add_special_tokens=False)
    at = [i for i, t in enumerate(labels) if t != IGNORE]
    assert at == list(range(at[0], at[0] + len(at)))  # one span; the "\n" after <turn|> stays masked


def test_untwinned_gemma4_multi_turn_masks_user_turns(zoo):
    tok, _ = zoo("gemma4")
    messages = [*HI, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": " See you. "}]
    ds = hf_sftprep.prepare(Dataset.from_list([{"messages": messages}]), tok)
    trained = tok.decode([t for t in ds[0]["labels"] if t != IGNORE])
    text = render(tok, messages, None)
    # gemma4 strips content; both answers are trained with their <turn|>, nothing else
    assert "See you.<turn|>" in text
    assert trained == "Hello!<turn|>See you.<turn|>"
