"""OpenAI chat records (a ``messages`` column) -> validated chat messages. Pure Python."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import OptionError, RowError
from .detect import ROLES


def _check_content(row: int, where: str, content: object) -> str:
    if isinstance(content, str):
        return content
    found = "None" if content is None else f"a {type(content).__name__} ({str(content)[:40]!r})"
    raise RowError(
        row,
        "bad_content",
        f"{where} has content {found}; expected a string. Convert it to text, or drop such rows with on_invalid='drop'.",
    )


def _check_message(row: int, i: int, message: object, role_map: Mapping[str, str] | None) -> dict:
    if not isinstance(message, Mapping):
        raise RowError(
            row,
            "bad_message",
            f"field 'messages'[{i}] is a {type(message).__name__}; expected a dict with 'role' and 'content'. "
            "Fix the record or drop it with on_invalid='drop'.",
        )
    role = message.get("role")
    if role_map and role in role_map:
        role = role_map[role]
    if role not in ROLES:
        raise RowError(
            row,
            "unknown_role",
            f"message {i} has role {role!r}; expected one of {', '.join(ROLES)}. "
            f"Map custom roles with role_map={{{role!r}: 'assistant'}}.",
        )
    content = _check_content(row, f"message {i} ({role})", message.get("content"))
    if role == "assistant" and not content.strip():
        raise RowError(
            row,
            "empty_answer",
            f"message {i} (assistant) has empty content {content!r}; expected a non-empty answer. "
            "Remove the empty turn or drop such rows with on_invalid='drop'.",
        )
    return {"role": role, "content": content}


def openai_messages(row: int, messages: object, role_map: Mapping[str, str] | None = None) -> list[dict]:
    """Validate one OpenAI-style conversation and return clean ``{role, content}`` dicts.

    Example:
        >>> openai_messages(0, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])
        [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'yo'}]
    """
    if not isinstance(messages, list):
        raise RowError(
            row,
            "bad_messages",
            f"field 'messages' is a {type(messages).__name__}; expected a list of {{role, content}} dicts. "
            "Fix the record or drop it with on_invalid='drop'.",
        )
    out = [_check_message(row, i, m, role_map) for i, m in enumerate(messages)]
    if not any(m["role"] == "assistant" for m in out):
        raise RowError(
            row,
            "no_assistant",
            f"field 'messages' has roles {[m['role'] for m in out]} and no assistant message; "
            "expected at least one assistant turn to train on. Drop such rows with on_invalid='drop'.",
        )
    return out


def mapped_messages(row: int, record: Mapping[str, object], column_map: Mapping[str, str]) -> list[dict]:
    """Build messages from one column per role, in the order of ``column_map``; empty cells are skipped.

    Example:
        >>> mapped_messages(0, {"q": "hi", "a": "yo"}, {"user": "q", "assistant": "a"})
        [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'yo'}]
    """
    messages = []
    for role, column in column_map.items():
        if role not in ROLES:
            raise OptionError(f"column_map key {role!r} is not a role; expected one of {', '.join(ROLES)}.")
        value = record.get(column)
        if value is None or value == "":
            continue
        messages.append({"role": role, "content": _check_content(row, f"field {column!r}", value)})
    return openai_messages(row, messages)
