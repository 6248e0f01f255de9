"""Differential test: prepare() against apply_chat_template and the prefix-render reference, on records
with the content templates branch on, over every fixture template and the real tokenizers.

Hypothesis draws a template and a batch of conversations: ``/no_think`` and ``/think`` in system text,
inline ``</think>`` blocks, ``<tool_call>`` in user text, whitespace-only and empty texts, the assistant
first, two users in a row, a system message in the middle, ``tools: []``. Each batch is loaded through
``Dataset.from_list`` and through JSONL + ``load_dataset("json")``. Every kept row's ids must equal
``apply_chat_template`` of the record, its labels the reference's; every row the reference can label
must be kept unless the template itself refuses it.
"""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, load_dataset
from family_reference import family_labels
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hf_sftprep import SFTPreprocessor, prepare
from hf_sftprep.datasets.prepare import null_features
from hf_sftprep.records.clean import drop_none
from hf_sftprep.testing.families import FAMILIES
from hf_sftprep.testing.zoo import ZOO_FAMILIES

pytestmark = pytest.mark.zoo

NAMES = ["real:llama3", "real:qwen", "real:smollm"] + [f"zoo:{n}" for n in ZOO_FAMILIES] + [
    f"family:{n}" for n in FAMILIES]
# refusals the template forces (it raises on the shape), counted, never silent
FORCED = {"template_error"}


def _tokenizer(request, name: str):
    kind, _, key = name.partition(":")
    if kind == "real":
        return request.getfixturevalue(key)
    if kind == "zoo":
        return request.getfixturevalue("zoo")(key)[0]
    return request.getfixturevalue("families")(key)


@st.composite
def conversations(draw, tag: int):
    """One conversation of 2-6 messages whose texts are unique (the reference locates messages by them)."""
    n = draw(st.integers(2, 6))
    roles = draw(st.lists(st.sampled_from(["user", "assistant", "assistant", "user", "system"]), min_size=n,
                          max_size=n))
    if "assistant" not in roles:
        roles[-1] = "assistant"
    out = []
    for k, role in enumerate(roles):
        word = f"w{tag}x{k}"
        if role == "system":
            text = draw(st.sampled_from([f"Be brief {word}.", f"Be brief {word}. /no_think", f"{word} /think"]))
        elif role == "user":
            text = draw(st.sampled_from([f"Ask {word}?", f"Call <tool_call> {word}", " \n", "", f"  {word}  "]))
        else:
            text = draw(st.sampled_from([f"Reply {word}.", f"Plan {word}</think>\n\nReply {word}b.",
                                         f"\n{word} trailing \n"]))
        out.append({"role": role, "content": text})
    return out


@st.composite
def batches(draw):
    name = draw(st.sampled_from(NAMES))
    rows = [{"messages": draw(conversations(k)), "tools": draw(st.sampled_from([None, []]))} for k in range(4)]
    return name, rows


def _check(tok, records, ds, report, name, path):
    kept = iter(ds)
    for k, record in enumerate(records):
        messages, tools = record["messages"], record["tools"]
        trained = [m["role"] == "assistant" for m in messages]
        ref = family_labels(tok, messages, tools, trained)
        try:
            want = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False)
        except Exception:  # noqa: BLE001 - the template refuses the shape
            want = None
        row = next(kept) if k in report.kept_rows else None
        where = f"{name} via {path}, row {k}: {messages} tools={tools}"
        if row is None:
            assert ref is None or report.row_reasons[k] in FORCED, f"{where}: refused ({report.row_reasons[k]})"
            continue
        assert want is not None and row["input_ids"] == want, f"{where}: ids differ from apply_chat_template"
        if ref is not None:
            assert (row["input_ids"], row["labels"]) == ref, f"{where}: labels differ from the reference"


class _Report:
    """Which input rows prepare() kept, and why each other one was dropped (from its meta columns)."""

    def __init__(self, raw, tok):
        pre = SFTPreprocessor(tok, on_invalid="drop", emit_meta=True, features=null_features(raw))
        table = raw.map(pre, batched=True, with_indices=True, remove_columns=raw.column_names)
        self.row_reasons = table["drop_reason"]
        self.kept_rows = {k for k, r in enumerate(self.row_reasons) if not r}


@pytest.mark.slow
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])  # shrinking a batch takes minutes; the message names the row
@given(batch=batches())
def test_prepare_equals_apply_chat_template_and_the_reference(request, tmp_path_factory, batch):
    name, records = batch
    tok = _tokenizer(request, name)
    path = tmp_path_factory.mktemp("diff") / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    loaded = load_dataset("json", data_files=str(path), split="train")
    for how, raw in (("from_list", Dataset.from_list(records)), ("load_dataset('json')", loaded)):
        report = _Report(raw, tok)
        ds = prepare(raw, tok, on_invalid="drop")
        assert len(ds) == len(report.kept_rows)
        plain = [dict(r, messages=drop_none(r["messages"])) for r in records]
        _check(tok, plain, ds, report, name, how)
