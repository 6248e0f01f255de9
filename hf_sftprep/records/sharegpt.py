"""ShareGPT records (``conversations: [{"from": ..., "value": ...}]``) -> OpenAI-format records. Pure Python.

The output goes through the OpenAI normalizer, so ShareGPT rows get the same validation,
errors and template rendering as ``messages`` rows. The row's ``tools`` and ``system`` columns are read as
LLaMA-Factory's sharegpt converter reads them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ..errors import RowError

# LLaMA-Factory's and FastChat's names; OpenAI names map to themselves because several hub sets
# write from: "user" / "assistant" inside a ShareGPT layout.
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "function_call": "function_call",
    "observation": "tool",
    "tool": "tool",
}


def _bad_call(row: int, i: int, found: str, expected: str) -> RowError:
    return RowError(
        row,
        "bad_tool_call",
        f"field 'conversations'[{i}] (function_call) has {found}; expected {expected}. "
        'Write the value as JSON like {"name": "get_weather", "arguments": {"city": "Paris"}}, '
        "or drop such rows with on_invalid='drop'.",
    )


def _one_call(row: int, i: int, call: object) -> dict:
    if not isinstance(call, Mapping) or not isinstance(call.get("name"), str) or "arguments" not in call:
        found = f"a {type(call).__name__}" if not isinstance(call, Mapping) else f"keys {sorted(call)}"
        raise _bad_call(row, i, found, "an object with a string 'name' and 'arguments'")
    arguments = call["arguments"]
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            raise _bad_call(row, i, f"arguments {arguments[:40]!r} that are not valid JSON", "a JSON object") from None
    return {"type": "function", "function": {"name": call["name"], "arguments": arguments}}


def _tool_calls(row: int, i: int, value: object) -> list[dict]:
    """A function_call value: a JSON string (or already parsed) holding one call or a list of calls."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _bad_call(row, i, f"value {value[:40]!r} that is not valid JSON", "a JSON object or list") from None
    calls = value if isinstance(value, list) else [value]
    if not calls:
        raise _bad_call(row, i, "an empty list", "at least one call")
    return [_one_call(row, i, c) for c in calls]


def sharegpt_messages(row: int, conversations: object, role_map: Mapping[str, str] | None = None) -> list[dict]:
    """Convert ShareGPT turns into OpenAI-format message dicts (not yet validated as messages).

    ``role_map`` maps ``from`` names to OpenAI roles and overrides the built-in names
    (human, gpt, system, function_call, observation, tool).

    Example:
        >>> sharegpt_messages(0, [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}])
        [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'yo'}]
    """
    if not isinstance(conversations, list):
        raise RowError(
            row,
            "bad_messages",
            f"field 'conversations' is a {type(conversations).__name__}; expected a list of {{from, value}} dicts. "
            "Fix the record or drop it with on_invalid='drop'.",
        )
    names = {**SHAREGPT_ROLES, **(role_map or {})}
    out = []
    for i, turn in enumerate(conversations):
        if not isinstance(turn, Mapping) or "from" not in turn or "value" not in turn:
            found = f"a {type(turn).__name__}" if not isinstance(turn, Mapping) else f"keys {sorted(turn)}"
            raise RowError(
                row,
                "bad_message",
                f"field 'conversations'[{i}] has {found}; expected a dict with 'from' and 'value'. "
                "For {role, content} dicts, name the column 'messages' (OpenAI format).",
            )
        source = turn["from"]
        if isinstance(source, (Mapping, list)):  # would not even hash into the role names
            raise RowError(
                row,
                "unknown_role",
                f"field 'conversations'[{i}] has a {type(source).__name__} in 'from' ({repr(source)[:60]}); expected "
                f"a string, one of {', '.join(SHAREGPT_ROLES)}. Fix the record, or drop such rows with on_invalid='drop'.",
            )
        role = names.get(source)
        if role is None:
            known = ", ".join(SHAREGPT_ROLES)
            raise RowError(
                row,
                "unknown_role",
                f"field 'conversations'[{i}] has from={source!r}; expected one of {known}. "
                f"Map custom names with role_map={{{source!r}: 'assistant'}}.",
            )
        if role == "function_call":
            out.append({"role": "assistant", "content": None, "tool_calls": _tool_calls(row, i, turn["value"])})
        else:
            out.append({"role": role, "content": turn["value"]})
    return out


def row_system(row: int, record: Mapping[str, object]) -> str | None:
    """The row's ``system`` column: its system prompt, or None when the column is absent, null or "".

    Example:
        >>> row_system(0, {"system": "Be terse."}), row_system(0, {"system": None}), row_system(0, {"system": ""})
        ('Be terse.', None, None)
    """
    system = record.get("system")
    if system is None or system == "":
        return None
    if not isinstance(system, str):
        raise RowError(
            row,
            "bad_content",
            f"field 'system' is a {type(system).__name__} ({repr(system)[:40]}); expected a string (the row's system "
            "prompt), or null / \"\" for none. Convert it to text, or drop such rows with on_invalid='drop'.",
        )
    return system


def _with_system(row: int, messages: list[dict], system: str | None) -> list[dict]:
    """``messages`` opened by the ``system`` column's prompt. LLaMA-Factory lets an opening system turn win and
    ignores the column; a column that says otherwise is refused here rather than dropped unseen."""
    if system is None:
        return messages
    if not messages or messages[0]["role"] != "system":
        return [{"role": "system", "content": system}, *messages]
    if messages[0]["content"] != system:
        raise RowError(
            row,
            "conflicting_system",
            f"field 'system' is {system[:40]!r} but field 'conversations' opens with a different system turn "
            f"({str(messages[0]['content'])[:40]!r}); expected one system prompt. Keep one of them (or make them "
            "equal), or drop such rows with on_invalid='drop'.",
        )
    return messages


def sharegpt_record(row: int, record: Mapping[str, object], role_map: Mapping[str, str] | None = None) -> dict:
    """A ShareGPT row as an OpenAI record: ``messages`` (opened by the ``system`` column's prompt, when set)
    plus the row's ``tools`` column, when present.

    Example:
        >>> sharegpt_record(0, {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]})
        {'messages': [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'yo'}]}
        >>> sharegpt_record(0, {"conversations": [{"from": "human", "value": "hi"}], "system": "Be terse."})
        {'messages': [{'role': 'system', 'content': 'Be terse.'}, {'role': 'user', 'content': 'hi'}]}
    """
    if "conversations" not in record:
        raise RowError(row, "missing_field", "field 'conversations' is missing; expected a list of {from, value}.")
    messages = sharegpt_messages(row, record["conversations"], role_map)
    out = {"messages": _with_system(row, messages, row_system(row, record))}
    if record.get("tools") is not None:
        out["tools"] = record["tools"]
    return out
