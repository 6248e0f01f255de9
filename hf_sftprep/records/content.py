"""Message content -> one string: plain strings, and OpenAI content parts (text and refusal). Pure Python."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import RowError

# OpenAI's chat format writes "text"; the Responses API writes "input_text" / "output_text".
TEXT_PARTS = {"text": "text", "input_text": "text", "output_text": "text", "refusal": "refusal"}


def check_content(row: int | None, where: str, content: object) -> str:
    """Return ``content`` when it is a string, else raise RowError ``bad_content``.

    Example:
        >>> check_content(0, "field 'output'", "yo")
        'yo'
    """
    if isinstance(content, str):
        return content
    found = "None" if content is None else f"a {type(content).__name__} ({str(content)[:40]!r})"
    raise RowError(
        row,
        "bad_content",
        f"{where} has content {found}; expected a string. "
        "Convert it to text, or drop such rows with on_invalid='drop'.",
    )


def _part_text(row: int | None, where: str, j: int, part: object) -> str:
    kind = part.get("type") if isinstance(part, Mapping) else None
    key = TEXT_PARTS.get(kind) if isinstance(kind, str) else None
    if key is None:
        found = f"type {kind!r}" if isinstance(part, Mapping) else f"a {type(part).__name__} ({str(part)[:40]!r})"
        raise RowError(
            row,
            "bad_content",
            f"{where} has content a list whose part {j} is {found}; expected text parts "
            f"{{'type': 'text', 'text': ...}} (or {', '.join(repr(t) for t in TEXT_PARTS if t != 'text')}). "
            "Only text is trained: remove the non-text part (or turn it into text), "
            "or drop such rows with on_invalid='drop'.",
        )
    text = part.get(key)
    if not isinstance(text, str):
        found = "missing" if text is None else f"a {type(text).__name__} ({str(text)[:40]!r})"
        raise RowError(
            row,
            "bad_content",
            f"{where} content part {j} (type {kind!r}) field {key!r} is {found}; expected a string. "
            "Fix the part or drop such rows with on_invalid='drop'.",
        )
    return text


def message_content(row: int | None, where: str, content: object, nullable: bool) -> str | None:
    """Content of one message as a string; ``None`` only when ``nullable`` and the content is ``None``.

    A list of parts is concatenated in order with no separator, as OpenAI joins them.

    Example:
        >>> parts = [{"type": "text", "text": "a"}, {"type": "output_text", "text": "b"}]
        >>> message_content(0, "message 0 (user)", parts, nullable=False)
        'ab'
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join([_part_text(row, where, j, part) for j, part in enumerate(content)])
    if content is None and nullable:
        return None
    if content is None:
        found = "None"
    else:
        found = f"a {type(content).__name__} ({str(content)[:40]!r})"
    raise RowError(
        row,
        "bad_content",
        f"{where} has content {found}; expected a string or a list of text parts (None only on an assistant "
        "message with tool_calls or a refusal). Convert it to text, or drop such rows with on_invalid='drop'.",
    )
