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

import json
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
            # reasoning is drawn from a few phrases: tagged too, so a repeated thought locates its own message
            m["content"] = m["content"].replace("</think>", f" t{k}x</think>", 1)
        if isinstance(m.get("reasoning_content"), str):
            m["reasoning_content"] = m["reasoning_content"].rstrip() + f" r{k}x"
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


def _anchors(m: dict, own: str | None = None) -> list[str]:
    out = []
    for key in ("content", "reasoning_content"):
        if isinstance(m.get(key), str):
            # an inline <think> block is a piece of its own: templates drop it from history turns
            out.extend(p.strip() for p in re.split(r"</?think>", m[key]) if p.strip())
    for c in m.get("tool_calls") or []:
        out.extend(_call_anchors(c, own))
    return out


def _call_anchors(call: dict, own: str | None) -> list[str]:
    """The fields that locate a call: of those its own rendering ``own`` shows once (id, name, the arguments
    as JSON, each argument value), the first and the last rendered, so the region ends where the call does
    (Kimi K2 renders the id and not the name, which first occurs after the call as the tool message's
    role; Kimi K3 renders each value in tags of its own). Without ``own``, the name (argument values such
    as 21 also occur in results and schemas)."""
    fn = call["function"]
    if own is None:
        return [fn["name"]]
    args = fn.get("arguments")
    fields = [call.get("id"), fn["name"]]
    if isinstance(args, dict):
        fields += [json.dumps(args), json.dumps(args, ensure_ascii=False)]
        fields += [v if isinstance(v, str) else json.dumps(v) for v in args.values()]
    elif isinstance(args, str):
        fields.append(args)
    shown = sorted((own.find(f), -len(f), f) for f in fields if isinstance(f, str) and f and own.count(f) == 1)
    if not shown:
        return [fn["name"]]
    return list(dict.fromkeys([shown[0][2], max(shown, key=lambda t: (t[0] + len(t[2]), len(t[2])))[2]]))


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
    anchors = []
    for j, m in enumerate(plain):
        own = None
        if m.get("tool_calls"):  # the call's own rendering: after the earlier messages' last text
            text = render(plain[: j + 1], False) or ""
            cut = max((text.rfind(a) + len(a) for group in anchors for a in group if a in text), default=0)
            own = text[cut:]
        anchors.append(_anchors(m, own))
    ref = reference_regions(render, plain, anchors, openers, pattern, needed)
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
