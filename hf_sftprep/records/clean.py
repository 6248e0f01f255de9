"""Undo what Arrow does to nested records: keys it added with ``None`` values. Pure Python."""

from __future__ import annotations


def drop_none(value: object) -> object:
    """Return ``value`` with every dict key whose value is ``None`` removed, at any depth.

    Arrow stores a list of structs with one unified schema, so a row read back from a ``datasets``
    table carries ``None`` for every key that another row had: ``"tool_calls": None`` on a plain
    message, and the other tools' property names inside each tool's ``parameters.properties``.
    Templates test ``message.tool_calls is defined`` and render tools with ``tojson``, so the keys
    must go before rendering. List items are kept in place (a ``None`` item stays) so that the
    indices named in errors match the record.

    Example:
        >>> drop_none({"role": "user", "content": "hi", "tool_calls": None, "x": [{"a": 1, "b": None}]})
        {'role': 'user', 'content': 'hi', 'x': [{'a': 1}]}
    """
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value
