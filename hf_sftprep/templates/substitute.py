"""Render a row by substitution: one sentinel rendering per conversation layout, the row's texts put back.

A template that never reads message text beyond writing it out (:func:`.branching.text_reads` finds no
read) renders two conversations that differ only in their texts the same way, up to those texts. So a
row's text is its layout's sentinel rendering (every text piece replaced by a sentinel that keeps its edge
whitespace, :func:`.shapes.text_sentinels`) with the row's texts put back: one template run per layout
instead of one per row.

A layout's key holds everything but the texts: roles, keys, the exact edge whitespace of every piece, the
added tokens inside content, the trained flags, and every other value (tool calls, tools, names) as JSON.
A layout is only substituted after the checks a template could fail:

- its first row is rendered for real (no substitution for a layout seen once);
- on its second row, the sentinel rendering with that row's texts put back must equal the row's real
  rendering, byte for byte, and the rendering with torture texts (quotes, backslashes, ``<&>``, newlines,
  non-ASCII: what ``tojson`` or HTML escaping would change) must equal the sentinel rendering with the
  torture texts put back; a layout that fails either is rendered for real from then on;
- every :data:`CHECK_EVERY`-th substituted row is also rendered for real; a difference turns substitution
  off for the template, with a warning (``HF_SFTPREP_CHECK_RENDERS=all`` checks every row, and raises on a
  difference: the test suite runs so).

Values outside the texts that hold the sentinel pattern (``zq<n>x``) are not substituted (they would be
mistaken for sentinels).
"""

from __future__ import annotations

import json
import logging
import os

from ..errors import SFTPrepError
from .shapes import _SENTINEL, _TEXT_KEYS, _edges, _Splitter, text_sentinels

logger = logging.getLogger("hf_sftprep")

ENV = "HF_SFTPREP_CHECK_RENDERS"
CHECK_EVERY = 97  # every this many substituted rows, one is also rendered for real
_TORTURE = "\"T{k}\\ <b>&amp; 'q'\n\t\u00e9\u4e2d\U0001f642 {{{{x}}}} \\u0041\u2028\""
_SEEN_ONCE = object()  # a layout's first row: rendered for real
_NOT_SUBSTITUTED = object()  # a layout that failed a check
_MAX_LAYOUTS = 50_000


def layout(messages: list[dict], trained: list[bool], tools, split) -> tuple[tuple, list[str]] | None:
    """``(key, texts)``: the row's layout key and its text pieces in sentinel order; None when a value
    outside the texts is not JSON or holds the sentinel pattern (then the row is rendered for real).

    Example:
        >>> layout([{"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo"}], [False, True], None, None)
        ((('user', ' ', ' '), 'assistant', (False, True), True), ['hi', 'yo'])
    """
    parts: list = []
    texts: list[str] = []
    first = split._first.search if isinstance(split, _Splitter) else None
    for m in messages:
        c, role = m.get("content"), m.get("role")
        if len(m) != 2 or type(c) is not str or type(role) is not str or (
                split is not None and (first is None or first(c) is not None) and len(split.split(c)) > 1):
            return _general(messages, trained, tools, split)
        if c and not c[0].isspace() and not c[-1].isspace():  # the common text: no edge whitespace, no copy
            texts.append(c)
            parts.append(role)
            continue
        lead, core, trail = _edges(c)
        if core:
            texts.append(core)
            parts.append((role, lead, trail))
        else:
            parts.append((role, c, None))  # blank or empty: kept as it is
    if tools is not None:
        dumped = _dumped(tools)
        if dumped is None or _SENTINEL.search(dumped):
            return None
        parts.append(dumped)
    parts.append(tuple(trained))
    parts.append(tools is None)
    return tuple(parts), texts


def _general(messages, trained, tools, split):
    """The layout of a row with fields other than role and content: its sentinel conversation as JSON."""
    msgs, found = text_sentinels(messages, split)
    dumped = _dumped([msgs, tools])
    if dumped is None or len(_SENTINEL.findall(dumped)) != _sentinel_count(msgs):
        return None  # a value outside the texts holds the sentinel pattern
    return ("general", dumped, tuple(trained)), [found[f"zq{k}x"] for k in range(1, len(found) + 1)]


def _sentinel_count(msgs: list[dict]) -> int:
    """The sentinel pattern's occurrences in the text fields (each sentinel once, and once more per alias)."""
    return sum(len(_SENTINEL.findall(m[k])) for m in msgs for k in _TEXT_KEYS if isinstance(m.get(k), str))


def _dumped(value) -> str | None:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return None


def _replace_all(value, texts: list[str]):
    if isinstance(value, str):
        return _SENTINEL.sub(lambda m: texts[int(m.group(1)) - 1], value)
    if isinstance(value, dict):
        return {k: _replace_all(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_all(v, texts) for v in value]
    return value


class Splice:
    """A sentinel rendering cut at its sentinels: literal pieces and, between them, which text goes there."""

    __slots__ = ("pieces", "order")

    def __init__(self, rendered: str, count: int):
        cut = _SENTINEL.split(rendered)
        self.pieces = cut[0::2]
        self.order = [int(k) - 1 for k in cut[1::2]]
        if any(k >= count for k in self.order):
            raise ValueError("a sentinel the conversation does not hold")

    def __call__(self, texts: list[str]) -> str:
        out = [None] * (2 * len(self.order) + 1)
        out[0::2] = self.pieces
        out[1::2] = [texts[k] for k in self.order]
        return "".join(out)


class Substituter:
    """Layout -> :class:`Splice`, for one template; ``render(messages, tools=...)`` renders for real.

    Per row: :meth:`lookup` gives the layout's key, the row's texts and the layout's Splice once it is
    checked; with a Splice, :meth:`text` gives the row's text; without one the row is rendered and verified
    for real, and :meth:`learn` is told its rendering when its shape was vouched for.

    Example:
        >>> from hf_sftprep.templates.render import Renderer
        >>> render, sub = Renderer(tok), Substituter(Renderer(tok), None)
        >>> chat = lambda q, a: [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        >>> for q, a in [("hi", "yo"), ("2+2?", "4")]:  # a layout's first row, then its checked second
        ...     key, texts, splice = sub.lookup(chat(q, a), [False, True], None)
        ...     sub.learn(key, chat(q, a), None, texts, render(chat(q, a)))
        >>> key, texts, splice = sub.lookup(chat("say 'x'", "x"), [False, True], None)
        >>> sub.text(splice, texts, lambda: render(chat("say 'x'", "x"))) == render(chat("say 'x'", "x"))
        True
    """

    def __init__(self, render, split):
        self.render, self.split = render, split
        self.layouts: dict[tuple, object] = {}
        self.substituted = 0
        self.off: str | None = None
        self._switched = getattr(render, "fallback_reason", None) is not None
        mode = os.environ.get(ENV, "")
        if mode not in ("", "sample", "all"):
            raise SFTPrepError(f"{ENV}={mode!r} is not supported; expected 'sample', 'all', or unset.")
        self.every = 1 if mode == "all" else CHECK_EVERY

    def lookup(self, messages: list[dict], trained: list[bool], tools):
        """``(key, texts, splice or None)``; key None: this row is never substituted."""
        if self.off is not None:
            return None, None, None
        if self._renderer_switched():  # layouts learned from the direct render are learned again
            self.layouts.clear()
        found = layout(messages, trained, tools, self.split)
        if found is None:
            return None, None, None
        key, texts = found
        entry = self.layouts.get(key)
        return key, texts, entry if isinstance(entry, Splice) else None

    def _renderer_switched(self) -> bool:
        """True once, when the Renderer has switched to ``apply_chat_template`` since the last call (its direct
        render differed on a row): splices made from direct renders are not trusted past that."""
        switched = getattr(self.render, "fallback_reason", None) is not None
        if switched and not self._switched:
            self._switched = True
            return True
        return False

    def text(self, splice: Splice, texts: list[str], real) -> str | None:
        """The substituted text; every :attr:`every`-th one checked against ``real()`` (the real rendering).
        None when it differs: then substitution is off, and the row goes through the whole path."""
        text = splice(texts)
        self.substituted += 1
        if self.substituted % self.every == 0:
            want = real()
            if want != text:
                self._differs(want, text)
                return None
        return text

    def learn(self, key, messages: list[dict], tools, texts: list[str], real_text: str) -> None:
        """After a row of layout ``key`` was rendered for real (``real_text``) and its shape verified: the first
        time, note the layout; the second, check it (see the module doc) and keep its Splice if it passes."""
        entry = self.layouts.get(key)
        if entry is None:
            if len(self.layouts) < _MAX_LAYOUTS:
                self.layouts[key] = _SEEN_ONCE
            return
        if entry is not _SEEN_ONCE:
            return
        self.layouts[key] = self._checked(messages, tools, texts, real_text) or _NOT_SUBSTITUTED

    def _checked(self, messages, tools, texts: list[str], real_text: str) -> Splice | None:
        try:
            msgs = text_sentinels(messages, self.split)[0]  # numbered as layout() orders texts
            splice = Splice(self.render(msgs, tools=tools), len(texts))
            if splice(texts) != real_text:
                return None
            torture = [_TORTURE.format(k=k) for k in range(len(texts))]
            if splice(torture) != self.render(_replace_all(msgs, torture), tools=tools):
                return None
        except Exception:  # noqa: BLE001 - a template that refuses sentinel or torture text: render for real
            return None
        return splice

    def _differs(self, want: str, got: str) -> None:
        at = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        detail = f"at character {at}: {want[max(0, at - 30):at + 30]!r} rendered, {got[max(0, at - 30):at + 30]!r} substituted"
        if self.every == 1:
            raise SFTPrepError(f"{ENV}=all: a substituted row differs from the template's rendering {detail}")
        self.off = f"a substituted row differed from the template's rendering {detail}"
        logger.warning("hf_sftprep: rendering every row with the template: %s", self.off)
