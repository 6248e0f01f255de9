"""The prefix-render reference on a row's own text: which characters each trained answer covers.

:func:`.reference.reference_regions` attributes a rendering to messages through anchors: texts that
locate each message in it. On a shape's sentinel conversation the anchors are the sentinels; here they
are the row's own text pieces (``content`` and reasoning, split at added tokens such as ``<think>``, and
tool-call names and ids), so the rule runs on exactly the text ``apply_chat_template`` renders for the
record. Where the pieces cannot locate the messages unambiguously (one message's text inside another's
region, a text the template rewrote), the reference gives None and the caller refuses the row.

It costs two renders per assistant message: the labelling path uses it for the rows the shape check
cannot vouch for, and :func:`hf_sftprep.verify` for every row it samples.

Example:
    >>> from hf_sftprep.templates.render import Renderer, quiet_renderer, special_pattern
    >>> render, pattern = quiet_renderer(Renderer(tok)), special_pattern(tok)
    >>> msgs = [{"role": "assistant", "content": "Continuing."}, {"role": "user", "content": "ok"},
    ...         {"role": "assistant", "content": "Done."}]
    >>> text, spans = row_regions(render, msgs, [True, False, True], pattern)
    >>> [text[a:b] for a, b in spans]
    ['Continuing.<|im_end|>', 'Done.<|im_end|>']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from .reference import conversation_openers, reference_regions

TEXT_KEYS = ("content", "reasoning_content", "thinking", "reasoning")
_THINK = re.compile(r"</?think>")


def row_anchors(message: dict, split: re.Pattern | None, own: str | None = None) -> list[str]:
    """The texts that locate ``message`` in a rendering: its text pieces, stripped, and what locates its
    calls (:func:`call_anchors`; ``own`` is the message's own rendering, where known)."""
    out: list[str] = []
    for key in TEXT_KEYS:
        value = message.get(key)
        if isinstance(value, str):
            parts = split.split(value) if split is not None else [value]
            # an inline reasoning block is a piece of its own even where <think> is no added token: templates
            # split on the text '</think>' and drop the block from history turns
            out.extend(q.strip() for k, p in enumerate(parts) if not k % 2 for q in _THINK.split(p) if q.strip())
    for call in message.get("tool_calls") or ():
        out.extend(call_anchors(call, own))
    return list(dict.fromkeys(out))


def call_anchors(call, own: str | None) -> list[str]:
    """The texts that locate a tool call: of its fields (id, name, the arguments as JSON, each argument
    value) those its own rendering ``own`` shows once, the first and the last rendered, so the region ends
    where the call does (Kimi K2 renders the id and not the name, which first occurs after the call as the
    tool message's name). Without ``own``, or where it shows none of them once, the name."""
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        return []
    name = [fn["name"]] if isinstance(fn.get("name"), str) and fn["name"] else []
    if own is None:
        return name
    args = fn.get("arguments")
    fields = [call.get("id"), fn.get("name")]
    if isinstance(args, dict):
        fields += [json.dumps(args), json.dumps(args, ensure_ascii=False)]
        fields += [v if isinstance(v, str) else json.dumps(v) for v in args.values()]
    elif isinstance(args, str):
        fields.append(args)
    shown = sorted((own.find(f), -len(f), f) for f in fields if isinstance(f, str) and f and own.count(f) == 1)
    if not shown:
        return name
    return list(dict.fromkeys([shown[0][2], max(shown, key=lambda t: (t[0] + len(t[2]), len(t[2])))[2]]))


def _anchors(render, plain: list[dict], split) -> list[list[str]]:
    """Each message's anchors; a message with tool calls is located by what its own rendering shows (the
    rendering of the conversation up to it, past the earlier messages' last text)."""
    anchors: list[list[str]] = []
    for j, m in enumerate(plain):
        own = None
        if m.get("tool_calls"):
            text = render(plain[: j + 1], False) or ""
            cut = max((text.rfind(a) + len(a) for group in anchors for a in group if a in text), default=0)
            own = text[cut:]
        anchors.append(row_anchors(m, split, own))
    return anchors


def row_regions(
    render: Callable[[list[dict], bool], "str | None"],
    messages: list[dict],
    trained: list[bool],
    pattern: re.Pattern | None,
    split: re.Pattern | None = None,
    openers: set[str] | None = None,
    last: bool = False,
) -> tuple[str, list[tuple[int, int]]] | None:
    """The rendering of ``messages`` and the character spans the reference trains (the trained assistant
    messages', or only the last one's with ``last``), or None when the row cannot be attributed.

    Args:
        render: ``render(messages, add_generation_prompt) -> text or None`` with the row's tools bound.
        trained: per message, whether it is a trained assistant message (weight 1).
        pattern: the tokenizer's special-token regex; ``split``: the added-token splitter.
        openers: the tokens that open turns (:func:`.reference.conversation_openers`; found when None).
    """
    if openers is None:
        openers = conversation_openers(render, pattern, "zq0x")
    plain = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    needed = {j for j, t in enumerate(trained) if t}
    ref = reference_regions(render, plain, _anchors(render, plain, split), openers, pattern, needed)
    if ref is None:
        return None
    text, regions = ref
    chosen = [regions[j] for j in sorted(regions) if trained[j]]
    return text, chosen[-1:] if last else chosen
