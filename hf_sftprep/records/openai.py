"""OpenAI chat records (``messages``, optional ``tools``) -> template-ready messages. Pure Python.

Accepts the OpenAI fine-tuning format as real data holds it: content parts, ``tool_calls`` (arguments as a
JSON string or a dict), a ``tools`` column (a list or a JSON string), ``weight`` 0/1 per assistant message,
reasoning fields, and the legacy ``functions`` / ``function_call`` / role ``function``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import OptionError, RowError
from .clean import drop_none
from .content import check_content, message_content
from .tool_calls import record_tools, tool_calls

# kept under this name: records/alpaca.py and others import it
_check_content = check_content

# the roles of a normalized message
ROLES = ("system", "user", "assistant", "tool")
# "developer" is OpenAI's newer name for system; "function" is the legacy tool-result role.
INPUT_ROLES = (*ROLES, "developer", "function")
_RENAMED = {"function": "tool"}
_PLAIN_ROLES = frozenset({"system", "user", "assistant", "tool"})
# Qwen3 / DeepSeek templates read reasoning_content, gpt-oss reads thinking: both are set.
# "reasoning" is the name vLLM and OpenRouter use; a record that uses it gets it passed as well.
REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")
# keys this module rewrites on an assistant message; any other key passes through to the template
_ASSISTANT_KEYS = frozenset({"role", "content", "weight", "tool_calls", "function_call", "refusal", *REASONING_KEYS})


@dataclass
class Conversation:
    """One record, ready for ``tokenizer.apply_chat_template(messages, tools=tools)``.

    ``trained[i]`` is True for an assistant message with weight 1 or no weight; ``reasoning[i]`` is the
    reasoning text a field gave for message ``i`` (an inline ``<think>`` block is left in the content).
    """

    messages: list[dict]
    tools: list[dict] | None
    trained: list[bool]
    reasoning: list[str | None]


def _clean(row: int | None, i: int, message: object, keep_nulls: bool = False) -> dict:
    if not isinstance(message, Mapping):
        raise RowError(
            row,
            "bad_message",
            f"field 'messages'[{i}] is a {type(message).__name__}; expected a dict with 'role' and 'content'. "
            "Fix the record or drop it with on_invalid='drop'.",
        )
    # strings are by far the most common values; skip the recursive walk for them (plain rows stay fast)
    if keep_nulls:  # nested nulls are the user's (see records/clean.py); top-level ones apply_chat_template drops too
        return {k: v for k, v in message.items() if v is not None}
    return {k: v if type(v) is str else drop_none(v) for k, v in message.items() if v is not None}


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _role(row: int | None, i: int, message: dict, role_map: Mapping | None, keep_developer: bool) -> str:
    if "role" not in message:
        raise RowError(
            row,
            "missing_role",
            f"message {i} has no 'role' key (or its value is null); keys found: {sorted(message)}. "
            f"Expected a role, one of {', '.join(INPUT_ROLES)}. "
            "Add the role to every message, or drop such rows with on_invalid='drop'.",
        )
    found = message["role"]
    if isinstance(found, (Mapping, list)):  # would not even hash into role_map
        raise RowError(
            row,
            "unknown_role",
            f"message {i} has a {type(found).__name__} as its role ({_short(found)}); expected a string, one of "
            f"{', '.join(INPUT_ROLES)}. Fix the record, or drop such rows with on_invalid='drop'.",
        )
    role = role_map.get(found, found) if role_map and isinstance(found, str) else found
    if role == "developer" and not keep_developer:
        return "system"
    if role in INPUT_ROLES and isinstance(role, str):
        return _RENAMED.get(role, role)
    mapped = f" (role_map gives {role!r})" if role != found else ""
    raise RowError(
        row,
        "unknown_role",
        f"message {i} has role {found!r}{mapped}; expected one of {', '.join(INPUT_ROLES)}. "
        f"Map custom roles with role_map={{{found!r}: 'assistant'}}.",
    )


def _trained(row: int | None, where: str, weight: object) -> bool:
    if weight is None:
        return True
    if isinstance(weight, numbers.Real) and weight in (0, 1):
        return bool(weight)
    raise RowError(
        row,
        "bad_weight",
        f"{where} field 'weight' is {weight!r}; expected 0 (not trained) or 1 (trained). "
        "Fix the value, or drop such rows with on_invalid='drop'.",
    )


def _reasoning(row: int | None, where: str, message: dict) -> str | None:
    if not any(k in message for k in REASONING_KEYS):
        return None
    found = {k: message[k] for k in REASONING_KEYS if k in message}
    for key, value in found.items():
        if not isinstance(value, str):
            raise RowError(
                row,
                "bad_content",
                f"{where} field {key!r} is a {type(value).__name__} ({str(value)[:40]!r}); expected a string. "
                "Convert it to text, or drop such rows with on_invalid='drop'.",
            )
    texts = list(found.values())
    if len(set(texts)) > 1:
        (k1, v1), (k2, v2) = [(k, v) for k, v in found.items() if v != texts[0]][:1] + [next(iter(found.items()))]
        raise RowError(
            row,
            "bad_content",
            f"{where} has {k2!r} {v2[:40]!r} and {k1!r} {v1[:40]!r}, which differ; "
            "expected one reasoning text (the keys are passed to the template with the same value). "
            "Keep one of the fields, or drop such rows with on_invalid='drop'.",
        )
    return texts[0] if texts else None


def _assistant(row: int | None, i: int, message: dict) -> tuple[dict, bool, str | None]:
    where = f"message {i} (assistant)"
    calls = tool_calls(row, where, message.get("tool_calls"), message.get("function_call"))
    refusal = message.get("refusal")
    if refusal is not None and not isinstance(refusal, str):
        raise RowError(
            row,
            "bad_content",
            f"{where} field 'refusal' is a {type(refusal).__name__} ({str(refusal)[:40]!r}); expected a string. "
            "Convert it to text, or drop such rows with on_invalid='drop'.",
        )
    content = message_content(row, where, message.get("content"), calls is not None or refusal is not None)
    if content is None:
        # OpenAI writes a refusal with content null; the refusal text is what the model says.
        # "" rather than None otherwise: Qwen2.5 and others concatenate content with strings.
        content, refusal = (refusal, None) if refusal is not None else ("", refusal)
    trained = _trained(row, where, message.get("weight"))
    reasoning = _reasoning(row, where, message)
    if trained and not content.strip() and calls is None and not (reasoning and reasoning.strip()):
        raise RowError(
            row,
            "empty_answer",
            f"{where} has empty content {content!r} and no tool_calls or reasoning; expected a non-empty answer. "
            "Remove the empty turn, set its weight to 0, or drop such rows with on_invalid='drop'.",
        )
    out = {"role": "assistant", "content": content}
    out.update((k, v) for k, v in message.items() if k not in _ASSISTANT_KEYS)
    if refusal is not None:
        out["refusal"] = refusal
    if calls is not None:
        out["tool_calls"] = calls
    if reasoning is not None:
        out["reasoning_content"] = out["thinking"] = reasoning
        if "reasoning" in message:
            out["reasoning"] = reasoning
    return out, trained, reasoning


def _other(row: int | None, i: int, role: str, message: dict) -> dict:
    where = f"message {i} ({role})"
    out = {"role": role, "content": message_content(row, where, message.get("content"), False)}
    if len(message) == 2:
        return out
    if "tool_calls" in message or "function_call" in message:
        raise RowError(
            row,
            "bad_tool_call",
            f"{where} has tool calls; expected them only on assistant messages. "
            "Fix the role, or drop such rows with on_invalid='drop'.",
        )
    # weight only concerns assistant messages; elsewhere nothing is trained anyway
    out.update((k, v) for k, v in message.items() if k not in ("role", "content", "weight"))
    return out


def _no_turn(row: int | None, messages: list[dict], trained: list[bool]) -> RowError | None:
    roles = [m["role"] for m in messages]
    if "assistant" not in roles:
        return RowError(
            row,
            "no_assistant",
            f"field 'messages' has roles {roles} and no assistant message; "
            "expected at least one assistant turn to train on. Drop such rows with on_invalid='drop'.",
        )
    if not any(trained):
        return RowError(
            row,
            "no_trained_turn",
            f"field 'messages' has {roles.count('assistant')} assistant message(s), all with weight 0; "
            "expected at least one with weight 1 (or no weight) to train on. "
            "Set weight 1 on a turn, or drop such rows with on_invalid='drop'.",
        )
    return None


def openai_conversation(
    row: int | None,
    record: Mapping,
    role_map: Mapping[str, str] | None = None,
    keep_developer: bool = False,
    keep_nulls: bool = False,
) -> Conversation:
    """Validate one OpenAI-format record and return its template-ready messages and tools.

    ``role_map`` renames roles first; ``developer`` becomes ``system`` unless ``keep_developer``;
    the legacy role ``function`` becomes ``tool``. Message keys with ``None`` values are dropped (as
    ``apply_chat_template`` drops them); nested ``None`` values are dropped too (Arrow may have added
    them) unless ``keep_nulls`` says the caller already removed those (:func:`.clean.prune_by_features`).

    Example:
        >>> conv = openai_conversation(0, {"messages": [
        ...     {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        ...     {"role": "assistant", "content": None, "tool_calls": [
        ...         {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city": "Paris"}'}}]},
        ...     {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ...     {"role": "assistant", "content": "Sunny.", "weight": 0}]})
        >>> conv.messages[1]["content"], conv.messages[1]["tool_calls"][0]["function"]
        ('', {'name': 'w', 'arguments': {'city': 'Paris'}})
        >>> conv.trained
        [False, True, False, False]
    """
    if "messages" not in record:
        raise RowError(row, "missing_field", "field 'messages' is missing; expected a list of {role, content}.")
    raw = record["messages"]
    if not isinstance(raw, list):
        found = "None" if raw is None else f"a {type(raw).__name__}"
        raise RowError(
            row,
            "bad_messages",
            f"field 'messages' is {found}; expected a list of {{role, content}} dicts. "
            "Fix the record or drop it with on_invalid='drop'.",
        )
    messages, trained, reasoning = [], [], []
    for i, message in enumerate(raw):
        # plain {role, content: str} (most rows) skip the cleaning walk and the role checks
        if type(message) is dict and len(message) == 2 and not role_map:
            role, content = message.get("role"), message.get("content")
            if type(role) is str and role in _PLAIN_ROLES and type(content) is str and (role != "assistant" or content.strip()):
                messages.append({"role": role, "content": content})
                trained.append(role == "assistant")
                reasoning.append(None)
                continue
        message = _clean(row, i, message, keep_nulls)
        role = _role(row, i, message, role_map, keep_developer)
        content = message.get("content")
        if len(message) == 2 and type(content) is str and (role != "assistant" or content.strip()):
            messages.append({"role": role, "content": content})
            trained.append(role == "assistant")
            reasoning.append(None)
            continue
        if role == "assistant":
            out, is_trained, text = _assistant(row, i, message)
        else:
            out, is_trained, text = _other(row, i, role, message), False, None
        messages.append(out)
        trained.append(is_trained)
        reasoning.append(text)
    error = _no_turn(row, messages, trained)
    if error is not None:
        raise error
    has_tools = record.get("tools") is not None or record.get("functions") is not None
    return Conversation(messages, record_tools(row, record, keep_nulls) if has_tools else None, trained, reasoning)


def openai_messages(row: int | None, messages: object, role_map: Mapping[str, str] | None = None) -> list[dict]:
    """The template-ready messages of one conversation (see ``openai_conversation``; tools are not read).

    Example:
        >>> openai_messages(0, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])
        [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'yo'}]
    """
    return openai_conversation(row, {"messages": messages}, role_map).messages


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
