"""An independent rule for what an assistant message trains, from renderings of its prefixes alone.

It does not use the probed TemplateSpec (marker, terminals, ...); it is the check that spec is held to.
For assistant message ``j`` of a conversation whose every content is a unique sentinel string:

* **start**: the model generates from where the rendering of ``messages[:j]`` with
  ``add_generation_prompt=True`` stops agreeing with the full rendering, counted from the end of the
  last sentinel before message ``j`` (so templates that render earlier history differently, or that
  never read the flag, are compared locally);
* **end**: after the message's last sentinel, the text that ``messages[:j+1]`` rendered as the last
  message shares with the full rendering (for the last message: all of it), cut before the first token
  that opens a conversation (what a template renders before any content: ``<|im_start|>``,
  ``<|START_OF_TURN_TOKEN|>``), and ended at its last special token (``<|im_end|>`` without its
  ``\\n``). When nothing special is shared (the turn is closed by the next role's marker), the first
  special token that follows is the closing, unless it opens conversations.

A region that would hold another message's sentinel has no reference (None): the caller refuses it.

Example (SmolLM2's ChatML, messages user "s0x" / assistant "s1x"):
    >>> from hf_sftprep.templates.render import Renderer, quiet_renderer, special_pattern
    >>> render, pattern = quiet_renderer(Renderer(tok)), special_pattern(tok)
    >>> openers = conversation_openers(render, pattern, "zq0x")
    >>> msgs = [{"role": "user", "content": "s0x"}, {"role": "assistant", "content": "s1x"}]
    >>> text, regions = reference_regions(render, msgs, [["s0x"], ["s1x"]], openers, pattern)
    >>> [text[a:b] for a, b in regions.values()]
    ['s1x<|im_end|>']
"""

from __future__ import annotations

import json

import re
from collections.abc import Callable, Sequence

from .spans import common_prefix_len

Render = Callable[[list[dict], bool], "str | None"]


def _bounds(text: str, anchors: Sequence[str], lo: int = 0) -> tuple[int, int] | None:
    """(first start, last end) of the anchors found in ``text[lo:]``; None if none is found."""
    found = [(p, p + len(a)) for a in anchors if (p := text.find(a, lo)) >= 0]
    if not found:
        return None
    return min(a for a, _ in found), max(b for _, b in found)


def _last_end_before(text: str, groups: Sequence[Sequence[str]], limit: int) -> tuple[int, str] | None:
    """End of the sentinel (of any earlier message) that ends last before ``limit``, and that sentinel."""
    best = None
    for anchors in groups:
        for a in anchors:
            p = text.rfind(a, 0, limit)
            if p >= 0 and p + len(a) <= limit and (best is None or p + len(a) > best[0]):
                best = (p + len(a), a)
    return best


def _masked(text: str, pattern: re.Pattern | None) -> str:
    """``text`` with every control token replaced by as many ``\\x01`` characters (positions kept)."""
    return pattern.sub(lambda m: "\x01" * len(m.group()), text) if pattern is not None else text


def _own_texts(message: dict) -> list[str]:
    """The texts ``message`` holds: its content and reasoning, and its tool calls' names and arguments."""
    out = [v for k in ("content", "reasoning_content", "thinking") if isinstance(v := message.get(k), str)]
    for c in message.get("tool_calls") or []:
        f = c.get("function") if isinstance(c, dict) and isinstance(c.get("function"), dict) else c
        if isinstance(f, dict):
            args = f.get("arguments")
            out += [str(f.get("name") or ""), args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)]
    return [t for t in out if t]


def _chain_end(text: str, groups: Sequence[Sequence[str]]) -> int:
    """Where the earlier messages end when each one's sentinels are found in order, each after the one
    before: a text that repeats later (two equal answers, a command typed twice) is not taken for the
    later copy."""
    pos = 0
    for anchors in groups:
        found = _bounds(text, anchors, pos)
        if found is not None:
            pos = found[1]
    return pos


def _off_special(text: str, pos: int, pattern: re.Pattern | None) -> int:
    """``pos``, moved back to the start of a special token that straddles it (two specials that share a
    first few characters, ``<|START_THINKING|>`` and ``<|START_RESPONSE|>``, diverge inside a token)."""
    if pattern is not None:
        for m in pattern.finditer(text, max(0, pos - 64), pos + 64):
            if m.start() < pos < m.end():
                return m.start()
    return pos


def _closing(shared: str, following: str, pattern: re.Pattern | None, openers: set[str], last: bool) -> str:
    """The closing text: ``shared`` cut before the first opener and after its last special token."""
    spans = [(m.start(), m.end(), m.group()) for m in pattern.finditer(shared)] if pattern else []
    cut = next((a for a, _, s in spans if s in openers), len(shared))
    inside = [b for a, b, _ in spans if b <= cut]
    if inside:
        return shared[: inside[-1]]
    if last or pattern is None:
        return ""
    first = pattern.search(following)
    if first is None or first.group() in openers:
        return ""
    return following[: first.end()]


def reference_regions(
    render: Render,
    messages: list[dict],
    anchors: Sequence[Sequence[str]],
    openers: set[str],
    pattern: re.Pattern | None,
    needed: set[int] | None = None,
) -> tuple[str, dict[int, tuple[int, int]]] | None:
    """The full rendering and ``{message index: (start, end)}`` character regions of the assistant
    messages, or None when the template cannot be attributed this way (a rendering raises, a sentinel is
    missing or a region holds another message's text). Messages outside ``needed`` (untrained ones;
    default: all) may lack a region, e.g. a tool call the template does not render."""
    full = render(messages, False)
    if full is None:
        return None
    regions: dict[int, tuple[int, int]] = {}
    for j, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        region = _region(render, messages, anchors, j, full, openers, pattern)
        if region is None and (needed is None or j in needed):
            return None
        if region is not None:
            regions[j] = region
    ordered = sorted(regions.values())
    if any(b > c for (_, b), (c, _) in zip(ordered, ordered[1:])):
        return None
    for j, (a, b) in regions.items():
        inside = full[a:b]
        for own in sorted(anchors[j], key=len, reverse=True):  # a real text may hold a shorter one's words
            inside = inside.replace(own, "\0")
        if pattern is not None:  # the template's control tokens are not message text ('e' is in '<|eot_id|>')
            inside = pattern.sub("\1", inside)
        # another message's text inside this one's own fields (a function called again, a user's words
        # copied into the call's arguments) is this message's text there
        own = _own_texts(messages[j])
        if any(s in inside for k, group in enumerate(anchors) if k != j for s in group
               if not any(s in t for t in own)):
            return None
    return full, regions


def generation_prompt(render: Render, probe: str = "zq0g") -> str:
    """What ``add_generation_prompt=True`` appends to a one-user-message rendering ("" when the template
    never reads the flag, or appends something that is not a continuation).

    Example:
        >>> from hf_sftprep.templates.render import Renderer, quiet_renderer
        >>> generation_prompt(quiet_renderer(Renderer(tok)))
        '<|im_start|>assistant\\n'
    """
    user = [{"role": "user", "content": probe}]
    plain, prompted = render(user, False), render(user, True)
    if plain is None or prompted is None or not prompted.startswith(plain):
        return ""
    return prompted[len(plain) :]


def _first_start(render, full: str, own: tuple[int, int], pattern) -> int:
    """Where the model starts generating a conversation's first message, an answer (a later part of a
    split chat). ``messages[:0]`` cannot be rendered (transformers refuses an empty conversation), so
    the prefix is the rendering before the answer, up to the end of the generation prompt's last
    occurrence there; without one, the answer's own first character."""
    prompt = generation_prompt(render)
    at = full.rfind(prompt, 0, own[0]) if prompt else -1
    return _off_special(full, at + len(prompt) if at >= 0 else own[0], pattern)


def _region(render, messages, anchors, j, full, openers, pattern) -> tuple[int, int] | None:
    before = render(messages[:j], True) if j else ""
    as_last = render(messages[: j + 1], False)
    if before is None or as_last is None:
        return None
    # the message is not rendered in the text its prefix rendering shares with the full one: its anchors
    # are searched past that (a tool name also occurs in the tools block, a text may repeat an earlier one)
    lo = _off_special(full, common_prefix_len(full, before), pattern) if j else 0
    # message texts are searched with the control tokens blanked out ('e' is in '<|eot_id|>')
    seen, seen_before = _masked(full, pattern), _masked(before, pattern)
    chain = _chain_end(seen, anchors[:j])
    own = _bounds(seen, anchors[j], max(lo, chain)) or _bounds(seen, anchors[j], lo)
    if own is None:  # nothing of the message is rendered: no way to attribute it
        return None
    # (an earlier message's text may also occur later, inside this one or after it: a second tool call
    # with the first one's argument names; so the search stops where the earlier messages end in order)
    prev = _last_end_before(seen, anchors[:j], min(own[0], chain) if chain else own[0])
    if prev is None:  # nothing rendered before it holds a sentinel: compare from the start
        p_full = p_before = 0
    else:
        p_full, sentinel = prev
        if j and p_full <= common_prefix_len(full, before):  # the same place in both texts
            p_before = p_full
        else:
            p_before = seen_before.rfind(sentinel)
            if p_before < 0:
                return None
            p_before += len(sentinel)
    limit = own[0]
    if j == 0:
        start, rest = _first_start(render, full, own, pattern), ""
    else:
        agree = min(common_prefix_len(full, before[p_before:], p_full), limit - p_full)
        start = _off_special(full, p_full + agree, pattern)
        rest = before[p_before + agree :]
    if rest and pattern is not None:
        # the prefix rendering goes on past the point where the texts part (a tool block whose closing is
        # written differently when an answer follows): the answer starts after the longest special-led
        # end of that rest which the full rendering holds before the answer
        specials = list(pattern.finditer(rest))
        tail_end = specials[-1].end() if specials else len(rest)
        for m in specials:
            # with what follows its last special token (a newline), then without it
            found = [(at, len(c)) for c in (rest[m.start() :], rest[m.start() : tail_end])
                     if (at := full.find(c, start, limit)) >= 0]
            if found:
                start = found[0][0] + found[0][1]
                break
    # as the last message, its own rendering is where its sentinels occur last (tool names also occur
    # earlier, in the tools block)
    ends_last = [p + len(a) for a in anchors[j] if (p := as_last.rfind(a)) >= 0]
    if not ends_last:
        return None
    end_full, end_last = own[1], max(ends_last)
    tail_full, tail_last = full[end_full:], as_last[end_last:]
    last = j == len(messages) - 1
    shared = tail_last if last else tail_last[: common_prefix_len(tail_last, tail_full)]
    return start, end_full + len(_closing(shared, tail_full, pattern, openers, last))


def conversation_openers(render: Render, pattern: re.Pattern | None, probe: str) -> set[str]:
    """The special token that opens turns: the first one before any content that recurs in a multi-turn
    rendering (a BOS or ``[gMASK]`` occurs once). It is never part of a turn's closing. ``probe`` is
    sentinel text used as the message contents.

    Example:
        >>> from hf_sftprep.templates.render import Renderer, quiet_renderer, special_pattern
        >>> render, pattern = quiet_renderer(Renderer(tok)), special_pattern(tok)
        >>> conversation_openers(render, pattern, "zq0x")   # ChatML; Llama 3 gives '<|start_header_id|>'
        {'<|im_start|>'}
    """
    if pattern is None:
        return set()
    turns = [{"role": "user", "content": probe + "u"}, {"role": "assistant", "content": probe + "a"}]
    for first in ([{"role": "system", "content": probe}], []):
        text, multi = render(first + turns[:1], False), render(first + turns + turns, False)
        if text is None or multi is None:
            continue
        stop = text.find(probe)
        # recurring within the conversation: an EOS that doubles as BOS recurs only at the very end
        inner = multi[: multi.rfind(probe + "a")]
        for m in pattern.finditer(text, 0, max(stop, 0)):
            if inner.count(m.group()) >= 2:
                return {m.group()}
        return set()
    return set()
