"""Conversation shapes: what a template's rendering can depend on, without the texts themselves.

Two rows have the same shape when they have the same roles in the same order, the same keys, the same
trained flags, the same number and form of tool calls, and content of the same structure (the added
tokens inside it, such as ``<think>``, and the whitespace at the edges of each text piece). A shape's
*sentinel conversation* keeps all of that and replaces every text piece with a unique sentinel, so
:mod:`.reference` can attribute each rendered character to a message. The preprocessor verifies each
shape once against that reference (see :class:`ShapeVerifier` in ``verify.py``).

Example:
    >>> split = added_token_splitter(tok)
    >>> key = shape_key([{"role": "user", "content": "hi"}, {"role": "assistant", "content": " yo"}], [False, True], None, split)
    >>> key[0][1]   # role, trained, blank, leading whitespace, trailing whitespace, empty
    ('assistant', True, False, True, False, False)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

_TEXT_KEYS = ("content", "reasoning_content", "thinking", "reasoning")


def _edges(part: str) -> tuple[str, str, str]:  # the sentinel keeps a piece's own edge whitespace
    """(leading whitespace, core, trailing whitespace), without a regex over the whole text."""
    core = part.strip()
    if not core:
        return part, "", ""
    lead = len(part) - len(part.lstrip())
    trail = len(part.rstrip())
    return part[:lead], core, part[trail:]


def _pieces(text: str, split: re.Pattern | None) -> tuple:
    """Structure of a text: added-token strings kept; each other piece as whether it is blank, and whether
    whitespace leads and trails it (a template may strip or test it; which whitespace it is only matters to
    tokenization, which every row's own token checks handle)."""
    # most texts hold no added token; the alternation of every added token is only run when one may occur
    if split is None or not _may_hold_token(text, split):
        return (_shape_of(text),) if text else ()
    return tuple(("tok", part) if k % 2 else _shape_of(part) for k, part in enumerate(split.split(text)) if part)


def _shape_of(part: str) -> tuple[bool, bool, bool]:
    return part.isspace(), part[:1].isspace(), part[-1:].isspace()


def _may_hold_token(text: str, split: re.Pattern) -> bool:
    return split.may_hold(text) if isinstance(split, _Splitter) else True


def _value_shape(value, split):
    if isinstance(value, str):
        return _pieces(value, split)
    if isinstance(value, Mapping):
        return ("dict", tuple(sorted((k, _value_shape(v, split)) for k, v in value.items())))
    if isinstance(value, list):
        return ("list", tuple(_value_shape(v, split) for v in value))
    return (type(value).__name__,)


def _call_shape(call: Mapping) -> tuple:
    fn = call.get("function") if isinstance(call.get("function"), Mapping) else {}
    args = fn.get("arguments")
    return (tuple(sorted(call)), tuple(sorted(fn)), "str" if isinstance(args, str) else type(args).__name__)


def shape_key(messages: list[dict], trained: list[bool], tools, split: re.Pattern | None) -> tuple:
    """A hashable key that is equal for two conversations exactly when their sentinel conversations are."""
    out = []
    fast = split if isinstance(split, _Splitter) else None
    may_hold = fast._first.search if fast is not None else None
    for m, t in zip(messages, trained):
        c = m.get("content")
        # the common message, role and plain text only, inline: this runs for every row
        if may_hold is not None and len(m) == 2 and type(c) is str and (may_hold(c) is None or len(fast.split(c)) == 1):
            # empty text is its own shape (no sentinel; a template may test it), as on the general path
            out.append((m["role"], t, c.isspace(), c[:1].isspace(), c[-1:].isspace(), not c))
            continue
        fields = []
        for k in sorted(m):
            v = m[k]
            if k == "role":
                continue
            if k in _TEXT_KEYS and isinstance(v, str):
                fields.append((k, _pieces(v, split)))
            elif k == "tool_calls" and isinstance(v, list):
                fields.append((k, tuple(_call_shape(c) for c in v if isinstance(c, Mapping))))
            elif k in ("tool_call_id", "name", "id"):
                fields.append((k, "s"))
            else:
                fields.append((k, _value_shape(v, split)))
        out.append((m.get("role"), bool(t), tuple(fields)))
    return (tuple(out), tools is not None, bool(tools))  # tools=[] renders as `tools is not none` says


class _Sentinels:
    """Unique sentinel strings: letters and digits only, so no template trims or escapes them."""

    def __init__(self):
        self.n = 0

    def __call__(self, tag: str = "x") -> str:
        self.n += 1
        return f"zq{self.n}{tag}"

    def ident(self) -> str:  # tool-call ids some templates require: 9 alphanumerics
        self.n += 1
        return f"{self.n:09d}"[-9:]


def _sentinel_text(text: str, split, make: _Sentinels, found: list[str]) -> str:
    parts = split.split(text) if split is not None else [text]
    out = []
    for k, part in enumerate(parts):
        if k % 2 or not part:
            out.append(part)
            continue
        lead, core, trail = _edges(part)
        if not core:
            out.append(part)
            continue
        s = make()
        found.append(s)
        out.append(lead + s + trail)
    return "".join(out)


def sentinel_conversation(messages: list[dict], tools, split: re.Pattern | None):
    """``(messages, tools, anchors)``: the conversation with every text piece, tool name, argument value
    and id replaced by sentinels; ``anchors[i]`` lists message i's sentinels as the template renders them."""
    make = _Sentinels()
    anchors: list[list[str]] = []
    out_msgs = []
    ids: list[str] = []
    names: list[str] = []
    for m in messages:
        found: list[str] = []
        new = {}
        for k, v in m.items():
            if k in _TEXT_KEYS and isinstance(v, str):
                new[k] = v if k == "thinking" and v == m.get("reasoning_content") else _sentinel_text(v, split, make, found)
            elif k == "tool_calls" and isinstance(v, list):
                new[k] = [_sentinel_call(c, make, found, ids, names) for c in v]
            elif k == "tool_call_id":
                new[k] = ids.pop(0) if ids else make.ident()
            elif k == "name" and m.get("role") == "tool":
                new[k] = names[0] if names else make("fn")
            else:
                new[k] = v
        if "thinking" in new and "reasoning_content" in new and m.get("thinking") == m.get("reasoning_content"):
            new["thinking"] = new["reasoning_content"]
        if "reasoning" in new and m.get("reasoning") == m.get("reasoning_content"):
            new["reasoning"] = new.get("reasoning_content", new["reasoning"])
        anchors.append(found)
        out_msgs.append(new)
    return out_msgs, _sentinel_tools(names) if tools else tools, anchors


def _sentinel_call(call, make: _Sentinels, found: list[str], ids: list[str], names: list[str]) -> dict:
    if not isinstance(call, Mapping):
        return call
    fn = call.get("function") if isinstance(call.get("function"), Mapping) else {}
    name, value = make("fn"), make("arg")
    found.extend([name, value])
    names.append(name)
    args = {"q": value}
    new_fn = {**fn, "name": name, "arguments": json.dumps(args) if isinstance(fn.get("arguments"), str) else args}
    new = {**call, "function": new_fn}
    if "id" in call:
        new["id"] = make.ident()
        ids.append(new["id"])
    return new


def _sentinel_tools(names: list[str]) -> list[dict]:
    names = names or ["zq0fn"]
    return [
        {
            "type": "function",
            "function": {
                "name": n,
                "description": "sentinel tool",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
        for n in dict.fromkeys(names)
    ]


def added_token_splitter(tokenizer) -> re.Pattern | None:
    """A capturing regex of every added token's text (special or not: ``<think>`` counts), longest first."""
    found = {t.content for t in tokenizer.added_tokens_decoder.values() if t.content}
    if not found:
        return None
    return _Splitter("(" + "|".join(re.escape(s) for s in sorted(found, key=lambda s: (-len(s), s))) + ")", found)


class _Splitter:
    """A compiled splitter plus a character class of its tokens' first characters (a cheap test before it)."""

    def __init__(self, source: str, tokens: set[str]):
        self._re = re.compile(source)
        self._first = re.compile("[" + "".join(re.escape(c) for c in sorted({t[0] for t in tokens})) + "]")

    def split(self, text: str) -> list[str]:
        return self._re.split(text)

    def may_hold(self, text: str) -> bool:
        """False when no token's first character occurs in ``text`` (then no token does): one C scan."""
        return self._first.search(text) is not None


_SENTINEL = re.compile(r"zq(\d+)x")  # group 1: the number (substitute.py)


def text_sentinels(messages: list[dict], split: re.Pattern | None) -> tuple[list[dict], dict[str, str]]:
    """``(messages, texts)``: the conversation with only its text pieces replaced by sentinels (tools, tool
    calls and ids kept), and each sentinel's own text. Rendering it and putting the texts back gives the
    row's rendering exactly when the template treats the row's text as it treats the sentinels.

    Example:
        >>> text_sentinels([{"role": "user", "content": " hi /no_think"}], None)
        ([{'role': 'user', 'content': ' zq1x'}], {'zq1x': 'hi /no_think'})
    """
    make = _Sentinels()
    texts: dict[str, str] = {}
    out = []
    for m in messages:
        new = dict(m)
        for k in _TEXT_KEYS:
            v = m.get(k)
            if not isinstance(v, str) or (k != "reasoning_content" and v == m.get("reasoning_content")):
                continue
            parts = split.split(v) if split is not None else [v]
            for n, part in enumerate(parts):
                lead, core, trail = _edges(part)
                if n % 2 == 0 and core:
                    s = make()
                    texts[s] = core
                    parts[n] = lead + s + trail
            new[k] = "".join(parts)
        for k in ("thinking", "reasoning"):  # aliases of reasoning_content stay aliases
            if isinstance(m.get(k), str) and m.get(k) == m.get("reasoning_content"):
                new[k] = new["reasoning_content"]
        out.append(new)
    return out, texts


def put_back(rendered: str, texts: dict[str, str]) -> str | None:
    """``rendered`` with every sentinel replaced by its text; None when it holds one that is not ours."""
    try:
        return _SENTINEL.sub(lambda m: texts[m.group()], rendered)
    except KeyError:
        return None
