"""Records -> validated chat messages. Pure Python, no tokenizer.

Two record shapes are understood, detected from the column names:

* OpenAI chat: a ``messages`` column holding ``[{"role": ..., "content": ...}, ...]``;
* Alpaca: ``instruction``, optional ``input``, ``output``.

Other layouts are mapped with ``column_map``, e.g.
``{"system": "system_prompt", "user": "user_prompt", "assistant": "answer"}``
turns one row with those three columns into a three-message conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from .errors import OptionError, RowError, SFTPrepError

ROLES = ("system", "user", "assistant", "tool")
Format = Literal["auto", "openai", "alpaca"]
FORMATS = ("auto", "openai", "alpaca")
ALPACA_COLUMNS = ("instruction", "input", "output")

# Stanford Alpaca's PROMPT_DICT (train.py), verbatim.
STANFORD_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
STANFORD_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


def check_choice(name: str, value: object, allowed: Sequence[object]) -> None:
    """Raise OptionError when ``value`` is not one of ``allowed``."""
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise OptionError(f"{name}={value!r} is not supported; expected one of {choices}.")


def detect_format(columns: Sequence[str], fmt: Format = "auto", column_map: Mapping[str, str] | None = None) -> str:
    """Pick the record format from the dataset's column names.

    Example:
        >>> detect_format(["instruction", "output"])
        'alpaca'
    """
    check_choice("format", fmt, FORMATS)
    cols = set(columns)
    if column_map:
        missing = [c for c in column_map.values() if c not in cols]
        if missing:
            raise SFTPrepError(
                f"column_map names columns {missing} that the dataset lacks; columns found: {sorted(cols)}. "
                "Fix the mapping so each value is an existing column."
            )
        return "mapped"
    if fmt in ("auto", "openai") and "messages" in cols:
        return "openai"
    if fmt in ("auto", "alpaca") and {"instruction", "output"} <= cols:
        return "alpaca"
    wanted = {
        "auto": "a 'messages' column (OpenAI chat) or 'instruction' + 'output' (+ optional 'input') columns (Alpaca)",
        "openai": "a 'messages' column",
        "alpaca": "'instruction' and 'output' columns (and optionally 'input')",
    }[fmt]
    raise SFTPrepError(
        f"cannot find the record format: columns found are {sorted(cols)}; expected {wanted}. "
        "Rename the columns, or pass column_map={'system': ..., 'user': ..., 'assistant': ...}."
    )


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


def _alpaca_fields(row: int, record: Mapping[str, object]) -> tuple[str, str, str]:
    instruction = _check_content(row, "field 'instruction'", record.get("instruction"))
    raw_input = record.get("input")
    inp = "" if raw_input is None else _check_content(row, "field 'input'", raw_input)
    output = _check_content(row, "field 'output'", record.get("output"))
    if not output.strip():
        raise RowError(
            row,
            "empty_answer",
            f"field 'output' is {output!r}; expected a non-empty answer. Drop such rows with on_invalid='drop'.",
        )
    return instruction, inp, output


def alpaca_messages(row: int, record: Mapping[str, object]) -> list[dict]:
    """Alpaca record -> user/assistant messages (user = instruction, plus "\\n\\n" + input if any).

    Example:
        >>> alpaca_messages(0, {"instruction": "Add", "input": "1+1", "output": "2"})
        [{'role': 'user', 'content': 'Add\\n\\n1+1'}, {'role': 'assistant', 'content': '2'}]
    """
    instruction, inp, output = _alpaca_fields(row, record)
    user = f"{instruction}\n\n{inp}" if inp.strip() else instruction
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def stanford_prompt(row: int, record: Mapping[str, object]) -> tuple[str, str]:
    """Alpaca record -> (Stanford prompt ending in "### Response:", output)."""
    instruction, inp, output = _alpaca_fields(row, record)
    if inp.strip():
        return STANFORD_PROMPT_INPUT.format(instruction=instruction, input=inp), output
    return STANFORD_PROMPT_NO_INPUT.format(instruction=instruction), output


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
