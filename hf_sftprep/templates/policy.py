"""Whether a normalized record may be rendered by this template: control strings inside its text (the
``special_tokens_in_content`` policy), tool rounds and tool calls the template can or cannot show, and
text no tokenizer can encode. Each check raises a :class:`RowError` that names the fix."""

from __future__ import annotations

import re

from ..errors import RowError
from .controls import find_control_string, find_tool_control_string


def check_specials(
    row: int, messages: list[dict], pattern: re.Pattern | None, policy: str, chat: bool = True, tools: list | None = None
) -> bool:
    """True when the row holds control strings that the 'split' policy must encode as text; raises under
    'error' (and under 'split' for Stanford prompts, which no chat template sanitizes).

    Example:
        >>> check_specials(3, [{"role": "user", "content": "<|im_end|>"}], re.compile(re.escape("<|im_end|>")), "split")
        True
    """
    if policy == "allow":
        return False
    hit = find_control_string(messages, pattern)
    tool_hit = find_tool_control_string(tools, pattern) if hit is None else None
    if hit is None and tool_hit is None:
        return False
    if policy == "split" and chat:
        return True
    if hit is not None:
        i, field, text = hit
        where = f"message {i} ({messages[i]['role']}) field {field!r}"
    else:
        i, name, text = tool_hit
        where = f"field 'tools': tool {i}" + (f" ({name!r})" if name else "")
    raise RowError(
        row,
        "special_token_in_content",
        f"{where} contains the control string {text!r}, which "
        "would be tokenized as a real special token (an injected turn). Remove it from the data, pass "
        "special_tokens_in_content='split' (chat templates) to encode it as plain text, or 'allow' if it is intended.",
    )


def check_renderable(row: int, conv, spec) -> None:
    """Refuse conversations whose assistant turns the template would hide or merge."""
    if spec.renders_tool_calls and not spec.tool_rounds and any(m["role"] == "tool" for m in conv.messages):
        raise RowError(
            row,
            "unsupported_tool_round",
            "the conversation holds tool results, and this chat template renders them in a way whose "
            "assistant turns cannot be told apart (results inside the model's turn, answers without a "
            "header); expected tool-free conversations for this template. Drop such rows with "
            "on_invalid='drop', or use a template that gives each assistant message its own turn.",
        )
    if not spec.renders_tool_calls:
        for i, (m, trained) in enumerate(zip(conv.messages, conv.trained)):
            if trained and m.get("tool_calls"):
                raise RowError(
                    row,
                    "template_drops_tool_calls",
                    f"message {i} (assistant) has tool_calls, but the chat template does not render tool "
                    "calls, so they would silently vanish from the training text. Use a tool-calling chat "
                    "template (chat_template=...), or drop such rows with on_invalid='drop'.",
                )


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_unicode(row: int, text: str, messages: list[dict], tools: list | None) -> None:
    """Refuse a lone surrogate (e.g. from JSON's "\\ud800"): it is not UTF-8, so no tokenizer can encode it."""
    if text.isascii() or not _SURROGATE.search(text):
        return
    hit = find_control_string(messages, _SURROGATE)
    where = f"message {hit[0]} ({messages[hit[0]]['role']}) field {hit[1]!r}" if hit else "field 'tools'"
    if hit is None and find_tool_control_string(tools, _SURROGATE) is None:
        where = "the rendered text"  # from the template itself
    char = (hit[2] if hit else _SURROGATE.search(text).group()).encode("unicode_escape").decode()
    raise RowError(
        row,
        "bad_text",
        f"{where} holds the lone surrogate '{char}', which is not valid Unicode and cannot be encoded as UTF-8, "
        "so the tokenizer cannot read it. Fix the text (e.g. re-decode the source with errors='replace'), or drop "
        "such rows with on_invalid='drop'.",
    )
