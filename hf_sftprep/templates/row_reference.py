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

import re
from collections.abc import Callable

from .reference import conversation_openers, reference_regions

TEXT_KEYS = ("content", "reasoning_content", "thinking", "reasoning")
_THINK = re.compile(r"</?think>")


def row_anchors(message: dict, split: re.Pattern | None) -> list[str]:
    """The texts that locate ``message`` in a rendering: its text pieces, stripped, and its calls' names."""
    out: list[str] = []
    for key in TEXT_KEYS:
        value = message.get(key)
        if isinstance(value, str):
            parts = split.split(value) if split is not None else [value]
            # an inline reasoning block is a piece of its own even where <think> is no added token: templates
            # split on the text '</think>' and drop the block from history turns
            out.extend(q.strip() for k, p in enumerate(parts) if not k % 2 for q in _THINK.split(p) if q.strip())
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str) and fn["name"]:
            out.append(fn["name"])
    return list(dict.fromkeys(out))


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
    ref = reference_regions(render, plain, [row_anchors(m, split) for m in plain], openers, pattern, needed)
    if ref is None:
        return None
    text, regions = ref
    chosen = [regions[j] for j in sorted(regions) if trained[j]]
    return text, chosen[-1:] if last else chosen
