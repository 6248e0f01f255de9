"""Render conversations with a tokenizer's chat template (messages + tools), errors naming the row."""

from __future__ import annotations

import re

from ..errors import RowError


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


class Renderer:
    """Renders normalized conversations with the compiled template, skipping ``apply_chat_template``'s
    per-call input conversion (the messages are already plain dicts).

    Output is identical to ``apply_chat_template(messages, tools=tools, tokenize=False)`` (tests compare
    ids row by row); on any template error it defers to :func:`render` for the standard row error.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._compiled = None
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template

            self._compiled = _compile_jinja_template(tokenizer.get_chat_template())
            self._kwargs = dict(tokenizer.special_tokens_map)
        except Exception:  # older/newer transformers without this helper: use the public API
            self._compiled = None

    def __call__(
        self, messages: list[dict], add_generation_prompt: bool = False, row: int | None = None, tools=None
    ) -> str:
        if self._compiled is not None:
            try:
                return self._compiled.render(
                    messages=messages,
                    tools=tools,
                    documents=None,
                    add_generation_prompt=add_generation_prompt,
                    **self._kwargs,
                )
            except Exception:
                pass
        return render(self.tokenizer, messages, add_generation_prompt, row, tools)
