"""Independent labelling reference from TRL's ``{% generation %}``-tagged ``_training`` twins.

transformers renders a template that carries ``{% generation %}`` tags and records the character
span of every generation block (``render_jinja_template(..., return_assistant_tokens_mask=True)``).
TRL's twins put those tags in slightly different places, so each span is NORMALIZED to the rule of
issue 12 ("What is trained") before tokens are labelled:

1. Spans separated by nothing or by whitespace only are merged: Phi-3's twin tags the final
   ``<|endoftext|>`` on its own after ``<|end|>\\n``, and the rule gives the conversation's
   closing specials to the last turn, whitespace between them included. Spans are not paired
   with messages: a Gemma-4-style turn holds tool calls, the tool results (untagged) and the
   answer, so one assistant message may own several spans.
2. Start: G is what ``add_generation_prompt=True`` appends to ``messages[:i]`` for each assistant
   message i (the text after the common token prefix of the renderings with and without it, so Phi-3's
   EOS, only rendered without a prompt, is not part of G). For each span, the longest prefix of
   a G that starts at most ``len(G)`` characters before the span and reaches the span's start is
   found; the trained region starts right after it (where none is found, at the span's start:
   the span continues a turn, e.g. after an embedded tool result). This trims spans that include G (gpt-oss opens at ``<|start|>assistant``),
   moves spans that open inside G (Qwen2.5 opens at the header's ``\\n``) and stops at the part of
   G a history turn has (G opens ``<think>\\n`` but the turn does not).
3. End: when only whitespace follows the span's last special token, the region ends at that token
   (``<|im_end|>`` without its ``\\n``); a span that ends in text (GLM, closed by the next role
   marker) keeps its end.
4. Tokens: the twin's text is tokenized with offsets; a token is trained when it lies wholly
   inside a region (a token straddling G and the answer is not trained).

Compare with this only where :func:`renders_same` holds (Qwen3's twin, for one, always renders
the think block that the original drops from history).

Example:
    >>> ids, labels = reference_labels(twin, [{"role": "user", "content": "hi"},
    ...                                       {"role": "assistant", "content": "yo"}], None)
    >>> twin.decode([t for t in labels if t != -100])
    'yo<|im_end|>'
"""

from __future__ import annotations

import re

from transformers.utils.chat_template_utils import render_jinja_template

IGNORE = -100


class ReferenceError(Exception):
    """The twin's spans cannot be normalized for this conversation (no reference, not a mismatch)."""


def render(tokenizer, messages: list[dict], tools, add_generation_prompt: bool = False, spans: bool = False):
    """Render as ``apply_chat_template(tokenize=False)`` does; with ``spans``, also the generation spans."""
    rendered, indices = render_jinja_template(
        conversations=[messages],
        tools=tools,
        chat_template=tokenizer.chat_template,
        return_assistant_tokens_mask=spans,
        add_generation_prompt=add_generation_prompt,
        **tokenizer.special_tokens_map,
    )
    return (rendered[0], indices[0]) if spans else rendered[0]


def renders_same(original_tok, twin_tok, messages: list[dict], tools) -> bool:
    """Whether the original template and its twin render this conversation to the same text."""
    return render(original_tok, messages, tools) == render(twin_tok, messages, tools)


def generation_prompt(tokenizer, messages: list[dict], tools) -> str:
    """What ``add_generation_prompt=True`` appends after ``messages``: the text past the renderings'
    common TOKEN prefix (a character prefix would cut Phi-3's ``<|endoftext|>`` / ``<|assistant|>`` at ``<|``)."""
    with_prompt = render(tokenizer, messages, tools, add_generation_prompt=True)
    without = render(tokenizer, messages, tools)
    a = tokenizer(with_prompt, add_special_tokens=False, return_offsets_mapping=True)
    b = tokenizer(without, add_special_tokens=False)["input_ids"]
    n = 0
    while n < min(len(a["input_ids"]), len(b)) and a["input_ids"][n] == b[n]:
        n += 1
    return with_prompt[a["offset_mapping"][n][0] :] if n < len(a["input_ids"]) else ""


def _added_re(tokenizer) -> re.Pattern:
    added = sorted({t.content for t in tokenizer.added_tokens_decoder.values() if t.content}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, added)))


def _special_re(tokenizer) -> re.Pattern:
    specials = sorted({t.content for t in tokenizer.added_tokens_decoder.values() if t.special}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, specials)))


def _merge(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if a == b:
            continue
        if merged and not text[merged[-1][1] : a].strip():
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [tuple(m) for m in merged]


def _start(text: str, a: int, prompts: list[str], added: re.Pattern) -> int:
    """After the longest prefix of a generation prompt that starts at or before ``a`` and reaches ``a``."""
    best_k, best_r = 0, a
    for prompt in prompts:
        for h in range(max(0, a - len(prompt)), a + 1):
            k = 0
            while k < len(prompt) and h + k < len(text) and text[h + k] == prompt[k]:
                k += 1
            inside = [m.start() for m in added.finditer(prompt) if m.start() < k < m.end()]
            if h + k > a and inside:
                # a match ending inside one of the prompt's added tokens is no opening: an answer whose first
                # characters happen to continue the prompt ('<b>' after '<｜Assistant｜>' vs '<think>') keeps them
                k = inside[0]
            if h + k >= a and k > best_k:
                best_k, best_r = k, h + k
    return best_r


def _end(text: str, r: int, b: int, special: re.Pattern) -> int:
    last = None
    for m in special.finditer(text, r, b):
        last = m.end()
    if last is not None and not text[last:b].strip():
        return last
    return b


def trained_regions(twin_tokenizer, messages: list[dict], tools) -> tuple[str, list[tuple[int, int]]]:
    """The twin's rendering and its normalized trained character regions."""
    text, spans = render(twin_tokenizer, messages, tools, spans=True)
    prompts = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            try:
                prompt = generation_prompt(twin_tokenizer, messages[:i], tools)
            except Exception as err:  # the template refuses this prefix: no G, no reference
                raise ReferenceError(f"messages[:{i}] do not render with a generation prompt: {err}") from err
            if prompt and prompt not in prompts:
                prompts.append(prompt)
    special = _special_re(twin_tokenizer)
    regions = []
    for a, b in _merge(spans, text):
        r = _start(text, a, prompts, _added_re(twin_tokenizer))
        if r < b:
            regions.append((r, _end(text, r, b, special)))
    return text, regions


def reference_labels(twin_tokenizer, messages: list[dict], tools) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of the twin's rendering, trained where the normalized regions say."""
    text, regions = trained_regions(twin_tokenizer, messages, tools)
    enc = twin_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = [
        tid if e > s and any(r <= s and e <= t for r, t in regions) else IGNORE
        for tid, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])
    ]
    return enc["input_ids"], labels


def closing_suffix(original_tok, twin_tok, messages: list[dict], tools) -> str | None:
    """The special token(s) a twin appends after the original's whole rendering, or None when the two
    differ otherwise. GLM-4-MoE's twin closes the final assistant turn with the next role marker
    (``<|user|>``) that the original never renders: comparing on the original's text then needs the twin's
    labels cut where the original ends."""
    ours, theirs = render(original_tok, messages, tools), render(twin_tok, messages, tools)
    rest = theirs[len(ours) :] if theirs.startswith(ours) else None
    if not rest or _special_re(twin_tok).fullmatch(rest) is None:
        return None
    return rest


def reference_labels_cut(twin_tokenizer, messages: list[dict], tools, suffix: str) -> tuple[list[int], list[int]]:
    """``reference_labels`` on the twin's rendering, without the tokens of its closing ``suffix``."""
    ids, labels = reference_labels(twin_tokenizer, messages, tools)
    n = len(twin_tokenizer(suffix, add_special_tokens=False)["input_ids"])
    return ids[:-n], labels[:-n]
