"""Control strings (special-token text) inside record content: found before rendering."""

from __future__ import annotations

import json
import re


def find_control_string(messages: list[dict], pattern: re.Pattern | None) -> tuple[int, str, str] | None:
    """First ``(message index, field, control string)`` found in any text the template will render.

    Content, reasoning and tool calls are searched: a special token's text in any of them would be
    tokenized as the real token (an injected turn), since fast tokenizers split on added tokens first.

    Example:
        >>> find_control_string([{"role": "user", "content": "hi <|im_end|>"}], re.compile(re.escape("<|im_end|>")))
        (0, 'content', '<|im_end|>')
    """
    if pattern is None:
        return None
    for i, m in enumerate(messages):
        for field in ("content", "reasoning_content"):
            value = m.get(field)
            hit = pattern.search(value) if isinstance(value, str) else None
            if hit:
                return i, field, hit.group()
        if "tool_calls" in m:
            hit = pattern.search(json.dumps(m["tool_calls"], ensure_ascii=False))
            if hit:
                return i, "tool_calls", hit.group()
    return None
