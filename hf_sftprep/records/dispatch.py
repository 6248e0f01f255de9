"""One entry point from a dataset row to a normalized Conversation, whatever the record layout."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import RowError
from .formats import FORMATS, REFUSED, plain_conversation
from .openai import Conversation, mapped_messages


def to_conversation(
    fmt: str,
    row: int,
    record: Mapping,
    *,
    role_map: Mapping[str, str] | None = None,
    column_map: Mapping[str, str] | None = None,
    keep_developer: bool = False,
    keep_nulls: bool = False,
) -> Conversation:
    """Normalize one row of the given format (a name in ``FORMATS``, or "mapped" for ``column_map``).
    ``keep_nulls``: the record's nested ``None`` values are the user's (see ``records/clean.py``).

    Example:
        >>> to_conversation("alpaca", 0, {"instruction": "Add", "input": "1+1", "output": "2"}).messages
        [{'role': 'user', 'content': 'Add\\n\\n1+1'}, {'role': 'assistant', 'content': '2'}]
    """
    refused = record.get(REFUSED)
    if isinstance(refused, str):
        reason, _, detail = refused.partition("\t")
        raise RowError(row, reason, detail)
    if fmt == "mapped":
        return plain_conversation(mapped_messages(row, record, column_map))
    if fmt not in FORMATS:
        expected = ", ".join(FORMATS)
        raise RowError(row, "bad_format", f"unknown record format {fmt!r}; expected {expected} or mapped.")
    return FORMATS[fmt].convert(row, record, role_map, keep_developer, keep_nulls)


def turn_flags(conv: Conversation, multi_block: bool, row: int) -> list[bool]:
    """Trained flag per rendered assistant turn: one per assistant message, or, where the template merges
    adjacent assistant messages into one turn (``multi_block``), one per run of consecutive ones."""
    flags: list[bool] = []
    previous = None
    for i, (m, trained) in enumerate(zip(conv.messages, conv.trained)):
        if m["role"] != "assistant":
            previous = None
            continue
        if multi_block and previous is not None:
            if flags[-1] != trained:
                raise RowError(
                    row,
                    "mixed_weights",
                    f"messages {previous} and {i} (assistant) render as one assistant turn in this template, "
                    "which merges consecutive assistant messages, but only one of them has weight 0; expected "
                    "the same weight on both. Give them the same weight, merge them, or drop such rows with "
                    "on_invalid='drop'.",
                )
            continue
        flags.append(trained)
        previous = i
    return flags
