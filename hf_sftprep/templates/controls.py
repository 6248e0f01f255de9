"""Record text meets the template: control strings inside content, and tool-call shapes a template needs."""

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


def adapt_tool_calls(messages: list[dict], spec) -> None:
    """Give tool calls the shape the template was probed to render, in place: content None instead of ""
    (DeepSeek renders calls only for null content), arguments as a JSON string (DeepSeek concatenates them).

    Example:
        >>> m = [{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}]
        >>> adapt_tool_calls(m, spec)  # a DeepSeek spec
        >>> m[0]["content"], m[0]["tool_calls"][0]["function"]["arguments"]
        (None, '{"a": 1}')
    """
    for m in messages:
        calls = m.get("tool_calls")
        if not calls:
            continue
        if spec.null_tool_content and m.get("content") == "":
            m["content"] = None
        if spec.text_arguments:
            m["tool_calls"] = [
                {**c, "function": {**c["function"], "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False)}}
                if isinstance(c.get("function", {}).get("arguments"), dict)
                else c
                for c in calls
            ]
