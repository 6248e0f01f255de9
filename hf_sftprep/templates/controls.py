"""Record text meets the template: control strings inside content, and tool-call shapes a template needs."""

from __future__ import annotations

import json
import re


def find_control_string(messages: list[dict], pattern: re.Pattern | None) -> tuple[int, str, str] | None:
    """First ``(message index, field, control string)`` found in any text the template will render.

    Every string of a message is searched, nested ones and mapping keys too (content, reasoning, tool
    calls with their names and arguments, a tool message's name, ...): a special token's text in any of
    them would be tokenized as the real token (an injected turn), since fast tokenizers split on added
    tokens first. Roles are checked against the role list elsewhere.

    Example:
        >>> find_control_string([{"role": "user", "content": "hi <|im_end|>"}], re.compile(re.escape("<|im_end|>")))
        (0, 'content', '<|im_end|>')
    """
    if pattern is None:
        return None
    search = pattern.search
    for i, m in enumerate(messages):
        for field, value in m.items():
            if field == "role":
                continue
            if type(value) is str:  # most values: searched here, without the nested walk's call
                found = search(value)
                if found:
                    return i, field, found.group()
                continue
            hit = _search(pattern, value)
            if hit:
                return i, field, hit
    return None


def find_tool_control_string(tools: list | None, pattern: re.Pattern | None) -> tuple[int, str, str] | None:
    """First ``(tool index, tool name, control string)`` in the tool schemas the template renders.

    Example:
        >>> tools = [{"type": "function", "function": {"name": "f", "description": "x <|im_end|>"}}]
        >>> find_tool_control_string(tools, re.compile(re.escape("<|im_end|>")))
        (0, 'f', '<|im_end|>')
    """
    if pattern is None or not tools:
        return None
    for i, tool in enumerate(tools):
        hit = _search(pattern, tool)
        if hit:
            function = tool.get("function", tool) if isinstance(tool, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            return i, name if isinstance(name, str) else "", hit
    return None


def _search(pattern: re.Pattern, value) -> str | None:
    """The first control string in a string, or anywhere inside nested lists and mappings (keys included)."""
    if isinstance(value, str):
        hit = pattern.search(value)
        return hit.group() if hit else None
    if isinstance(value, dict):
        items = [x for kv in value.items() for x in kv]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return None
    for item in items:
        hit = _search(pattern, item)
        if hit:
            return hit
    return None


def adapt_tool_calls(messages: list[dict], spec) -> None:
    """Give tool calls the shape the template was probed to render, in place: content None instead of ""
    (DeepSeek renders calls only for null content), arguments as a JSON string (DeepSeek concatenates them).

    Example:
        >>> m = [{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}]
        >>> from hf_sftprep.templates.spec import TemplateSpec
        >>> spec = TemplateSpec("<｜Assistant｜>", "<｜Assistant｜>", ("<｜end▁of▁sentence｜>",), null_tool_content=True,
        ...                     text_arguments=True)  # DeepSeek's two tool-call habits
        >>> adapt_tool_calls(m, spec)
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
