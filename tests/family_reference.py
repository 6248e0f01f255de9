"""Row-level reference for template families outside TRL's folder: labels from prefix renderings of the
row's own contents (not sentinels), tokens by offsets.

The library verifies each conversation *shape* once, on sentinel contents; this applies the same
prefix-render rule (``hf_sftprep.templates.reference``) to every real row, so a test compares what the
library labels with what the rule gives on the actual text, row by row. Contents are made unique per
message (a ``uN`` tag) so each message's text can be located in the rendering.

Example:
    >>> ids, labels = family_labels(tok, messages, tools, trained)
"""

from __future__ import annotations

import random
import re

from conversations import random_chat

from hf_sftprep.templates.reference import conversation_openers, reference_regions
from hf_sftprep.templates.render import special_pattern

IGNORE = -100


def unique_chat(seed: int, kind: str) -> tuple[list[dict], list[dict] | None]:
    """A random conversation whose every text holds a unique tag and whose tool-call ids are 9 alphanumerics
    (Mistral's templates refuse others), with weight 0 on some earlier answers."""
    rng = random.Random(seed)
    messages, tools = random_chat(rng, kind)
    ids = {}
    for k, m in enumerate(messages):
        if isinstance(m.get("content"), str) and m["content"].strip():
            m["content"] = m["content"].rstrip() + f" u{k}x" + m["content"][len(m["content"].rstrip()):]
        calls = m.get("tool_calls") or []
        if len({c["function"]["name"] for c in calls}) < len(calls):  # a name locates its call: keep one
            dropped = {c["id"] for c in calls[1:]}
            m["tool_calls"] = calls = calls[:1]
            messages[:] = [x for x in messages if x.get("tool_call_id") not in dropped]
        for c in calls:
            ids[c["id"]] = c["id"] = f"{seed % 1000:03d}c{len(ids):05d}"
        if m.get("role") == "tool":
            m["tool_call_id"] = ids.get(m["tool_call_id"], m["tool_call_id"])
        if m.get("role") == "assistant" and k < len(messages) - 1 and rng.random() < 0.2:
            m["weight"] = 0
    return messages, tools


def _anchors(m: dict) -> list[str]:
    out = []
    for key in ("content", "reasoning_content"):
        if isinstance(m.get(key), str):
            # an inline <think> block is a piece of its own: templates drop it from history turns
            out.extend(p.strip() for p in re.split(r"</?think>", m[key]) if p.strip())
    # a call's name locates it (argument values such as 21 also occur in results and schemas)
    out.extend(c["function"]["name"] for c in m.get("tool_calls") or [])
    return out


def family_labels(tok, messages: list[dict], tools, trained: list[bool]) -> tuple[list[int], list[int]] | None:
    """``(ids, labels)`` of the prefix-render rule on the row's own text, or None where the rule cannot
    attribute it (the library refuses such rows)."""

    def render(msgs, prompt):
        try:
            return tok.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=prompt)
        except Exception:
            return None

    pattern = special_pattern(tok)
    openers = conversation_openers(render, pattern, "zq0x")
    plain = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    needed = {j for j, t in enumerate(trained) if t}
    ref = reference_regions(render, plain, [_anchors(m) for m in plain], openers, pattern, needed)
    if ref is None:
        return None
    text, regions = ref
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    special = {i for i, t in tok.added_tokens_decoder.items() if t.special}
    spans = [regions[j] for j in sorted(regions) if trained[j]]
    labels = []
    for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]):
        if i in special:  # a special token with rstrip=True swallows the whitespace after it
            while b > a + 1 and text[b - 1].isspace():
                b -= 1
        inside = b > a and any(s <= a and b <= e for s, e in spans)
        labels.append(i if inside else IGNORE)
    return list(enc["input_ids"]), labels
