"""Render conversations with a tokenizer's chat template (messages + tools), errors naming the row."""

from __future__ import annotations

import logging
import re

from ..errors import RowError
from .sandbox import sandboxed_like

logger = logging.getLogger("hf_sftprep")


def special_strings(tokenizer) -> list[str]:
    """Every special added token's text (``<|im_start|>``, ``<|eot_id|>``, ...), longest first."""
    found = {tok.content for tok in tokenizer.added_tokens_decoder.values() if tok.special}
    found.update(s for s in tokenizer.all_special_tokens if s)
    return sorted(found, key=lambda s: (-len(s), s))


def special_pattern(tokenizer) -> re.Pattern | None:
    """A regex matching any special token's text, or None if the tokenizer has none."""
    strings = special_strings(tokenizer)
    return re.compile("|".join(re.escape(s) for s in strings)) if strings else None


def render(
    tokenizer, messages: list[dict], add_generation_prompt: bool = False, row: int | None = None, tools=None
) -> str:
    """Render one conversation to text; a template error becomes a RowError naming the row."""
    try:
        return tokenizer.apply_chat_template(
            messages, tools=tools, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    except Exception as err:  # jinja2 TemplateError, raise_exception(), KeyError inside templates, ...
        roles = [m.get("role") for m in messages]
        raise RowError(
            row,
            "template_error",
            f"the chat template refused field 'messages' with roles {roles}: {type(err).__name__}: {err}. "
            "Reorder the turns as the template requires (often system?, then user/assistant alternating), "
            "or drop such rows with on_invalid='drop'.",
        ) from err


def quiet_renderer(render, tools=None):
    """``render(messages, add_generation_prompt)`` that gives None where the template refuses the
    conversation (probes and the shape check try shapes a template may not accept)."""

    def quiet(messages, add_generation_prompt=False):
        try:
            return render(messages, add_generation_prompt, tools=tools)
        except Exception:  # raise_exception(), strict alternation, missing tools, ...
            return None

    return quiet


REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")  # the names transformers aliases
_SCALARS = (str, int, float, bool, type(None))
# How many renders are compared with apply_chat_template before the direct path is trusted: the first
# rows cover the shapes a template branches on (system or not, tools or not) in ordinary datasets.
CHECKED_RENDERS = 32


def _is_plain(value) -> bool:
    """True when transformers' ``_plain_template_data`` would give back an equal copy: exact JSON types only."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    if kind is list:
        return all(_is_plain(v) for v in value)
    return False


def _only_text(messages: list[dict]) -> bool:
    """True when every message is a dict of string keys to string values, none of them a reasoning field."""
    for m in messages:
        if type(m) is not dict:
            return False
        for k, v in m.items():
            if type(v) is not str or type(k) is not str or k in REASONING_KEYS:
                return False
    return True


class Renderer:
    """Renders conversations with the compiled chat template, without ``apply_chat_template``'s per-call work.

    ``apply_chat_template`` drops None-valued message keys, aliases the reasoning fields, rebuilds every
    input out of plain JSON types (``_plain_template_data``), reads ``special_tokens_map`` and picks the
    template for each call. Here the template and its special-token variables are fixed once, and the
    messages are copied only when one of those steps would change them (normalized records rarely need it).
    The template still runs in transformers' sandboxed environment (templates come from the hub), in the
    :class:`~.sandbox.VerdictSandbox` copy of it that answers plain-dict attributes and repeated attribute
    verdicts without the sandbox's per-access cost.

    On 2,000 corpus chats this renders 3.52x (Llama 3) and 3.61x (Qwen2.5) as fast as ``apply_chat_template``
    (``benchmarks/render.py``, interleaved in one process on an idle 2-core machine); the remaining time is
    the template's own code.
    The first :data:`CHECKED_RENDERS` renders of dataset rows (calls with a ``row``) are also rendered by
    ``apply_chat_template``; a difference
    switches this Renderer to ``apply_chat_template`` for good, with a warning. On a template error it
    defers to :func:`render` for the standard row error.

    Example:
        >>> Renderer(tok)([{"role": "user", "content": "hi"}]) == tok.apply_chat_template(
        ...     [{"role": "user", "content": "hi"}], tokenize=False)
        True
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.checked = 0
        self.fallback_reason: str | None = None
        self._compiled: dict[bool, object] = {}
        try:
            from transformers.utils.chat_template_utils import (
                _alias_reasoning_fields,
                _compile_jinja_template,
                _plain_template_data,
            )
        except ImportError:  # a transformers without these helpers: the public API only
            self.fallback_reason = "this transformers has no _compile_jinja_template"
            return
        self._compile, self._alias, self._plain = _compile_jinja_template, _alias_reasoning_fields, _plain_template_data
        self._kwargs = _plain_template_data(dict(tokenizer.special_tokens_map))

    def _template(self, tools):
        """The compiled template ``apply_chat_template`` would pick (a named ``tool_use`` one when tools are given)."""
        key = tools is not None
        if key not in self._compiled:
            source = self.tokenizer.get_chat_template(None, tools)
            self._compiled[key] = sandboxed_like(self._compile(source), source)
        return self._compiled[key]

    def _messages(self, messages: list[dict]) -> list[dict]:
        if _only_text(messages):  # the common case, checked with flat loops: nothing to convert
            return messages
        chat = [{k: v for k, v in m.items() if v is not None} for m in messages]
        if not _is_plain(chat):
            chat = self._plain(chat)
        return self._alias(chat) if any(k in m for m in chat for k in REASONING_KEYS) else chat

    def _direct(self, messages: list[dict], add_generation_prompt: bool, tools) -> str:
        if tools is not None and not all(type(t) is dict for t in tools):
            raise TypeError("tools given as functions: apply_chat_template turns them into schemas")
        return self._template(tools).render(
            messages=self._messages(messages),
            tools=tools if tools is None or _is_plain(tools) else self._plain(tools),
            documents=None,
            add_generation_prompt=add_generation_prompt,
            **self._kwargs,
        )

    def __call__(
        self, messages: list[dict], add_generation_prompt: bool = False, row: int | None = None, tools=None
    ) -> str:
        if self.fallback_reason is not None:
            return render(self.tokenizer, messages, add_generation_prompt, row, tools)
        try:
            text = self._direct(messages, add_generation_prompt, tools)
        except Exception:  # noqa: BLE001 - a template error of any type; apply_chat_template raises it as a row error
            return render(self.tokenizer, messages, add_generation_prompt, row, tools)
        if row is not None and self.checked < CHECKED_RENDERS:  # real rows only: probe and shape renders
            self.checked += 1                                     # (row None) would use up the budget
            want = render(self.tokenizer, messages, add_generation_prompt, row, tools)
            if text != want:
                self.fallback_reason = f"the direct render differs from apply_chat_template on row {row}"
                logger.warning("hf_sftprep: rendering through apply_chat_template: %s", self.fallback_reason)
                return want
        return text
